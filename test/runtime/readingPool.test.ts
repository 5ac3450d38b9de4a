// Data-parallel reading (model/readingPool.ts): a batch's rows split over worker threads, each with
// a one-thread session on the reading variant, give exactly what the one session gives: every
// position, every token, with steering and ablation; errors say the same things; the pool opens
// in the background for long reads and closes with the model.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractActivations, POOL_POLICY, readingMs, type ExtractOptions } from '../../src/activations/extract.js';
import { loadModel } from '../../src/model/load.js';
import { heldPool, readerFor, readingPoolFor } from '../../src/model/reader.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { randomVector } from './helpers.js';

const DIR = 'models/persona-tiny';
let model: SteerableModel;

/** 23 examples of ragged lengths (prompts 3-17 tokens, responses 1-9; 18 different lengths). */
const examples = Array.from({ length: 23 }, (_, b) => ({
  promptIds: [1, ...Array.from({ length: 2 + ((b * 7) % 15) }, (_, t) => 3 + ((b * 131 + t * 17) % 2000))],
  responseIds: Array.from({ length: 1 + ((b * 4) % 9) }, (_, t) => 3 + ((b * 7 + t * 29) % 2000)),
}));
const lengths = examples.map((e) => e.promptIds.length + e.responseIds.length);

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
  it('has rows that a share padded to its own longest would pad less than the batch (so the test can see it)', () => {
    const sorted = [...lengths].sort((a, b) => a - b);
    const batches = Array.from({ length: Math.ceil(sorted.length / 5) }, (_, i) => sorted.slice(5 * i, 5 * i + 5));
    // Two shares a batch (rows dealt in turn): the share without the longest row is shorter.
    expect(batches.filter((b) => Math.max(...b.filter((_, i) => i % 2 === 0)) !== Math.max(...b.filter((_, i) => i % 2 === 1))).length).toBeGreaterThanOrEqual(4);
  });

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
    // Also where no pool would be asked for: the whole graph, a read of one batch.
    await expect(extractActivations(model, examples, { positions: ['response-mean'], readers: 1.5, fullGraph: true })).rejects.toThrow(/readers: expected a positive integer, got 1.5/);
    await expect(extractActivations(model, examples.slice(0, 2), { positions: ['response-mean'], readers: -1 })).rejects.toThrow(/readers: expected a positive integer, got -1/);
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

  it("opens in the background once the reader's reading time reaches POOL_POLICY.afterMs, then reads on it; closes with the model", async () => {
    const m = await loadModel(DIR, { threads: 2 });
    const reader = await readerFor(m, 1);
    const opts: ExtractOptions = { positions: ['response-mean'], layers: [1], batchSize: 5 };
    await extractActivations(m, examples, opts);
    expect(heldPool(reader)).toBeUndefined(); // a read of a few ms, far under the default 3 s
    const saved = POOL_POLICY.afterMs;
    try {
      // Reading time adds up over reads: a threshold just past the reads so far opens a pool on the next.
      const fresh = await loadModel(DIR, { threads: 2 });
      const freshReader = await readerFor(fresh, 1);
      POOL_POLICY.afterMs = Infinity;
      await extractActivations(fresh, examples, opts);
      const first = readingMs(freshReader);
      await extractActivations(fresh, examples, opts);
      const past = readingMs(freshReader);
      expect(past).toBeGreaterThan(first);
      // Just past the two reads so far: the next read reaches it with them (one read alone would
      // have to take as long as both).
      POOL_POLICY.afterMs = past + 1e-3;
      expect(heldPool(freshReader)).toBeUndefined();
      await extractActivations(fresh, examples, opts);
      expect(heldPool(freshReader)?.sessions).toBe(2);
      await fresh.dispose();
      // At afterMs 0 a read opens one after its first batch.
      POOL_POLICY.afterMs = 0;
      await extractActivations(m, examples, opts);
    } finally {
      POOL_POLICY.afterMs = saved;
    }
    const handle = heldPool(reader)!; // opened by the read itself
    expect(handle.sessions).toBe(2);
    const pool = (await handle.opening)!;
    expect(pool.size).toBe(2);
    const first = pool.shares;
    const again = await extractActivations(m, examples, opts);
    expect(pool.shares - first).toBe(10);
    const single = await extractActivations(m, examples, { ...opts, readers: 1 });
    // readers: 1 read on the one session and left the open pool as it was, for the reads after it.
    expect(pool.shares - first).toBe(10);
    expect((await readingPoolFor(reader))!.ready).toBe(pool);
    await extractActivations(m, examples, opts);
    expect(pool.shares - first).toBe(20);
    again.forEach((ex, i) => expect(ex.at['response-mean']).toEqual(single[i]!.at['response-mean']));
    await m.dispose();
    await expect(pool.read([{ inputIds: [[1, 5]], hiddenLayers: [1] }])).rejects.toThrow(/reading pool closed/);
  }, 120_000);

  it('survives its model being disposed mid-read: the read rejects saying so, the process goes on', async () => {
    const m = await loadModel(DIR, { threads: 2 });
    let disposing: Promise<void> | undefined;
    const read = extractActivations(m, examples, {
      positions: ['response-mean'],
      batchSize: 3,
      readers: 2,
      onProgress: (done) => void (done === 3 && (disposing = m.dispose())),
    });
    await expect(read).rejects.toThrow(/reading pool closed: the model was disposed/);
    await disposing;
    // Workers stopped only after their runs: the process is still here, and reads again.
    const again = await loadModel(DIR, { threads: 2 });
    expect(await extractActivations(again, examples.slice(0, 4), { positions: ['response-mean'], readers: 2 })).toHaveLength(4);
    await again.dispose();
  }, 120_000);

  it('opens one pool for calls made together; a read in flight finishes when another size replaces its pool', async () => {
    const m = await loadModel(DIR, { threads: 2 });
    const reader = await readerFor(m, 4);
    const [a, b] = await Promise.all([readingPoolFor(reader, 2), readingPoolFor(reader, 2)]);
    expect(a).toBe(b);
    const two = (await a!.opening)!;
    const inFlight = extractActivations(m, examples, { positions: ['response-mean'], batchSize: 3, readers: 2 });
    const three = extractActivations(m, examples, { positions: ['response-mean'], batchSize: 3, readers: 3 });
    const [r2, r3] = await Promise.all([inFlight, three]);
    r2.forEach((ex, i) => expect(ex.at['response-mean']).toEqual(r3[i]!.at['response-mean']));
    expect(two.usable).toBe(false); // retired once its reads were done
    expect(heldPool(reader)!.sessions).toBe(3);
    await m.dispose();
  }, 120_000);

  it('tries an asked-for pool again after it failed to open; dispose still releases everything', async () => {
    const m = await loadModel(DIR, { threads: 2 });
    const reader = await readerFor(m, 4);
    const session = reader.session as { path: string };
    const path = session.path;
    session.path = '/nonexistent/model.onnx';
    await expect(extractActivations(m, examples, { positions: ['response-mean'], readers: 2 })).rejects.toThrow(/reading worker: .*nonexistent/);
    session.path = path;
    const ok = await extractActivations(m, examples, { positions: ['response-mean'], readers: 2 });
    expect(ok).toHaveLength(examples.length);
    expect(heldPool(reader)!.ready!.shares).toBeGreaterThan(0);
    await expect(m.dispose()).resolves.toBeUndefined();
  }, 120_000);

  it('leaves a pool whose worker died: the next reads run on one session, then on a new pool', async () => {
    const m = await loadModel(DIR, { threads: 2 });
    const opts: ExtractOptions = { positions: ['response-mean'], layers: [2], batchSize: 5 };
    const single = await extractActivations(m, examples, { ...opts, readers: 1 });
    await extractActivations(m, examples, { ...opts, readers: 2 });
    const reader = await readerFor(m, 2);
    const dead = heldPool(reader)!.ready!;
    await (dead as unknown as { workers: { terminate(): Promise<number> }[] }).workers[0]!.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(dead.usable).toBe(false);
    const after = await extractActivations(m, examples, opts);
    after.forEach((ex, i) => expect(ex.at['response-mean']).toEqual(single[i]!.at['response-mean']));
    const fresh = heldPool(reader)!;
    expect(fresh.ready).not.toBe(dead);
    await fresh.opening;
    expect(fresh.ready!.usable).toBe(true);
    await m.dispose();
  }, 120_000);

  it('lets a process that disposes its model mid-read, or with its pool idle, go on and end on its own (no abort)', () => {
    // Inside vitest the fork's IPC keeps the process alive; a script of its own shows what a CLI sees.
    const src = (f: string) => JSON.stringify(resolve('src', f));
    const script = join(mkdtempSync(join(tmpdir(), 'pool-exit-')), 'dispose.mts');
    writeFileSync(
      script,
      `import { loadModel } from ${src('model/load.ts')};
import { extractActivations, POOL_POLICY } from ${src('activations/extract.ts')};
const m = await loadModel(${JSON.stringify(resolve(DIR))}, { threads: 2 });
// Long rows: the batch sent ahead is still running in the workers when the model goes.
const examples = Array.from({ length: 16 }, (_, b) => ({ promptIds: Array.from({ length: 300 }, (_, t) => 3 + ((b * 31 + t * 7) % 2000)), responseIds: [5, 6] }));
let first: () => void;
const started = new Promise<void>((r) => (first = r));
const read = extractActivations(m, examples, { positions: ['response-mean'], batchSize: 8, readers: 2, onProgress: () => first() });
read.catch(() => {});
await started;
await m.dispose();
await read.then(() => console.log('resolved'), (e) => console.log('rejected: ' + e.message));
// An idle pool's workers do not hold the process, but closing them does, until they are gone.
const again = await loadModel(${JSON.stringify(resolve(DIR))}, { threads: 2 });
await extractActivations(again, examples, { positions: ['response-mean'], batchSize: 8, readers: 2 });
await again.dispose();
console.log('end');
// Nor does a pool left open: the process ends once its reads are done.
POOL_POLICY.afterMs = 0;
const third = await loadModel(${JSON.stringify(resolve(DIR))}, { threads: 2 });
await extractActivations(third, examples, { positions: ['response-mean'], batchSize: 2 });
await extractActivations(third, examples, { positions: ['response-mean'], batchSize: 2 });
if (!(await import(${src('model/reader.ts')})).heldPool(await (await import(${src('model/reader.ts')})).readerFor(third, 4))) throw new Error('no pool opened');
console.log('done at ' + Date.now());
`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('rejected: reading pool closed: the model was disposed\nend');
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(Date.now() - Number(/done at (\d+)/.exec(r.stdout)![1])).toBeLessThan(5000);
  }, 120_000);
});
