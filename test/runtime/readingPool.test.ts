// Data-parallel reading (model/readingPool.ts): a batch's rows split over worker threads, each with
// a one-thread session on the reading variant, give exactly what the one session gives: every
// position, every token, with steering and ablation; errors say the same things; the pool opens
// in the background for long reads and closes with the model.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractActivations, type ExtractOptions } from '../../src/activations/extract.js';
import { loadModel } from '../../src/model/load.js';
import { readerFor, readingPoolFor } from '../../src/model/reader.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { randomVector } from './helpers.js';

const DIR = 'models/persona-tiny';
let model: SteerableModel;

/** 23 examples of ragged lengths (prompts 3-17 tokens, responses 1-9). */
const examples = Array.from({ length: 23 }, (_, b) => ({
  promptIds: [1, ...Array.from({ length: 2 + ((b * 5) % 15) }, (_, t) => 3 + ((b * 131 + t * 17) % 2000))],
  responseIds: Array.from({ length: 1 + ((b * 3) % 9) }, (_, t) => 3 + ((b * 7 + t * 29) % 2000)),
}));

beforeAll(async () => {
  model = await loadModel(DIR, { threads: 2, ablation: true });
}, 120_000);
afterAll(() => model?.dispose());

async function expectSame(opts: ExtractOptions) {
  const one = await extractActivations(model, examples, { ...opts, readers: 1 });
  const reader = await readerFor(model, Math.max(...(opts.layers === 'all' || !opts.layers ? model.hiddenLayers : opts.layers)));
  const before = (await readingPoolFor(reader, 2))?.ready?.shares ?? 0;
  const two = await extractActivations(model, examples, { ...opts, readers: 2 });
  const pool = (await readingPoolFor(reader, 2))!.ready!;
  // ceil(23 / 5) = 5 batches, two shares each.
  expect(pool.shares - before).toBe(10);
  two.forEach((ex, i) => {
    expect(ex.ids).toEqual(one[i]!.ids);
    for (const [key, v] of Object.entries(one[i]!.at)) expect(ex.at[key], `example ${i} ${key}`).toEqual(v);
    expect(ex.tokens).toEqual(one[i]!.tokens);
  });
}

describe('reading on parallel sessions', () => {
  it('gives what one session gives, bit for bit: means, single positions, every token', async () => {
    await expectSame({ positions: ['prompt-mean', 'response-mean', 'last-prompt', { index: -1 }], batchSize: 5, keepTokens: true });
  }, 120_000);

  it('steers (prompt positions, a layer past the deepest read) and ablates as one session does', async () => {
    const H = model.hiddenSize;
    await expectSame({
      positions: ['response-mean', 'last-prompt'],
      layers: [0, 2, 3],
      batchSize: 5,
      steering: [
        { layer: 2, vector: randomVector(H, 3, 4), coeff: 2, positions: 'prompt' },
        { layer: 4, vector: randomVector(H, 4, 4), coeff: 1 },
      ],
      ablation: [{ layer: 1, direction: randomVector(H, 5) }],
    });
  }, 120_000);

  it('names a bad readers count and a bad steering vector before reading', async () => {
    await expect(extractActivations(model, examples, { positions: ['response-mean'], readers: 0 })).rejects.toThrow(/readers: expected a positive integer, got 0/);
    const bad = [{ layer: 2, vector: new Float32Array(3), coeff: 1 }];
    const one = await extractActivations(model, examples, { positions: ['response-mean'], steering: bad, readers: 1 }).catch((e: Error) => e.message);
    const two = await extractActivations(model, examples, { positions: ['response-mean'], steering: bad, readers: 2 }).catch((e: Error) => e.message);
    expect(one).toMatch(/steering\[0\]/);
    expect(two).toBe(one);
  }, 120_000);

  it("passes a worker's error back with its message", async () => {
    const reader = await readerFor(model, 2);
    const handle = (await readingPoolFor(reader, 2))!;
    const pool = (await handle.opening)!;
    await expect(pool.read([{ inputIds: [[1, 5, 6]], hiddenLayers: [], pool: { weights: new Float32Array(2), positions: 1, layers: [2] } }])).rejects.toThrow(/pool\.weights: 2 values do not fit \[1, 1, 3\]/);
    // The pool still reads after a failed call.
    const [r] = await pool.read([{ inputIds: [[1, 5, 6]], hiddenLayers: [1] }]);
    expect(r!.hidden.get(1)!.length).toBe(3 * model.hiddenSize);
  }, 120_000);

  it('opens in the background for a read of 4 batches or more, then reads on it; closes with the model', async () => {
    const m = await loadModel(DIR, { threads: 2 });
    const reader = await readerFor(m, 1);
    const short = await extractActivations(m, examples.slice(0, 9), { positions: ['response-mean'], layers: [1], batchSize: 3 });
    expect(short).toHaveLength(9);
    const before = await readingPoolFor(reader);
    expect(before?.ready).toBeUndefined(); // 3 batches: nothing opened
    await extractActivations(m, examples, { positions: ['response-mean'], layers: [1], batchSize: 5 });
    const handle = (await readingPoolFor(reader))!;
    const pool = (await handle.opening)!;
    expect(pool.size).toBe(2);
    const first = pool.shares;
    const again = await extractActivations(m, examples, { positions: ['response-mean'], layers: [1], batchSize: 5 });
    expect(pool.shares - first).toBe(10);
    const single = await extractActivations(m, examples, { positions: ['response-mean'], layers: [1], batchSize: 5, readers: 1 });
    // readers: 1 read on the one session and left the open pool as it was, for the reads after it.
    expect(pool.shares - first).toBe(10);
    expect((await readingPoolFor(reader))!.ready).toBe(pool);
    await extractActivations(m, examples, { positions: ['response-mean'], layers: [1], batchSize: 5 });
    expect(pool.shares - first).toBe(20);
    again.forEach((ex, i) => expect(ex.at['response-mean']).toEqual(single[i]!.at['response-mean']));
    await m.dispose();
    await expect(pool.read([{ inputIds: [[1, 5]], hiddenLayers: [1] }])).rejects.toThrow(/reading pool closed/);
  }, 120_000);
});
