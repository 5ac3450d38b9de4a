// Reading activations from the graph pruned after the deepest requested layer (no LM head, no
// later blocks, no KV outputs) gives what the whole instrumented graph gives: every token's state
// bit for bit, single-token positions bit for bit, and means (pooled in the variant by a float32
// MatMul, in JavaScript in float64 for the whole graph) to float32 rounding. With attention fused
// (the default where it applies, test/runtime/fuseAttention.test.ts), all of it to 1e-5.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { extractActivations } from '../../src/activations/extract.js';
import { loadModel } from '../../src/model/load.js';
import { readerFor } from '../../src/model/reader.js';
import { loadModel as readOnnx } from '../../src/model/instrument/prepare.js';
import { pruneToOutputs, truncatedModel, truncatedPaths } from '../../src/model/instrument/truncate.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { fixtureModel, randomVector, relErr } from './helpers.js';

const examples = [
  { promptIds: [1, 10, 11, 12], responseIds: [13, 14, 15] },
  { promptIds: [1, 20], responseIds: [21, 22, 23, 24, 25] },
  { promptIds: [1, 30, 31], responseIds: [32] },
];
const positions = ['prompt-mean', 'response-mean', 'last-prompt'] as const;

/** Truncated and full-graph extraction of `layers`, compared value for value. */
async function expectSameAsFull(model: SteerableModel, layers: number[], steerLayer?: number, tol = 0) {
  const steering = steerLayer === undefined ? undefined : [{ layer: steerLayer, vector: randomVector(model.hiddenSize, 5, 2), coeff: 3, positions: 'all' as const }];
  const opts = { positions: [...positions], layers, keepTokens: true, batchSize: 2, steering };
  const cut = await extractActivations(model, examples, opts);
  const full = await extractActivations(model, examples, { ...opts, fullGraph: true });
  for (const [i, ex] of cut.entries()) {
    for (const p of positions)
      ex.at[p]!.forEach((v, j) => {
        const want = full[i]!.at[p]![j]!;
        if (p === 'last-prompt' && !tol) expect(v, `example ${i} ${p} layer ${layers[j]}`).toEqual(want);
        else expect(relErr(v, want), `example ${i} ${p} layer ${layers[j]}`).toBeLessThan(Math.max(tol, 1e-6));
      });
    ex.tokens!.forEach((t, j) => (tol ? expect(relErr(t, full[i]!.tokens![j]!)).toBeLessThan(tol) : expect(t).toEqual(full[i]!.tokens![j]!)));
  }
}

describe('truncated reading graph', () => {
  it('computes only what hidden_states.0..k need', async () => {
    const { model } = await fixtureModel('llama');
    const full = readOnnx(model.session.path).graph;
    const cut = readerFor(model, 1);
    const reader = await cut;
    expect(reader).not.toBe(model);
    expect(reader.session.hasLogits).toBe(false);
    expect(reader.hiddenLayers).toEqual([0, 1]);
    expect(reader.session.session.outputNames).toEqual(['hidden_states.0', 'hidden_states.1', 'pooled.0', 'pooled.1']);
    expect(reader.session.poolInput).toBe('pool.weights');
    expect(reader.session.hasCacheOutputs).toBe(false);
    // The plain variant (the fused one's attention takes more nodes, fewer passes): under half the
    // nodes, and no LM head in either.
    const g = readOnnx(truncatedModel(model.session.path, 1)!.path).graph;
    expect(g.nodes.length).toBeLessThan(full.nodes.length / 2);
    expect(readOnnx(reader.session.path).graph.nodes.some((n) => n.opType === 'MatMul' && /lm_head/.test(n.name + n.inputs.join()))).toBe(false);
    expect(g.nodes.some((n) => n.opType === 'MatMul' && /lm_head/.test(n.name + n.inputs.join()))).toBe(false);
    expect(truncatedPaths(model.session.path, 1, true).onnx).toBe(reader.session.path);
    // Same deepest layer: the same open session; two depths stay open, a third closes the oldest.
    expect(await readerFor(model, 1)).toBe(reader);
    const deep = await readerFor(model, 3);
    expect(deep.hiddenLayers).toEqual([0, 1, 2, 3]);
    expect(await readerFor(model, 1)).toBe(reader);
    await readerFor(model, 2);
    expect(await readerFor(model, 1)).toBe(reader);
    expect(await readerFor(model, 3)).not.toBe(deep);
    await model.dispose();
  });

  it('equals full extraction on every fixture layer depth, with steering (attention unfused: bit for bit)', async () => {
    const { model } = await fixtureModel('llama', { fuseAttention: false });
    for (const layers of [[0], [1], [2], [0, 3], [1, 2, 3]]) await expectSameAsFull(model, layers);
    await expectSameAsFull(model, [2], 1); // steered below the cut
    await expectSameAsFull(model, [1], 3); // steered above it: no effect on what is read
    expect((await readerFor(model, 3)).session.path).toBe(truncatedPaths(model.session.path, 3).onnx);
    await model.dispose();
  });

  it('equals full extraction with attention fused, with steering, to 1e-5', async () => {
    const { model } = await fixtureModel('llama');
    expect((await readerFor(model, 3)).session.path).toBe(truncatedPaths(model.session.path, 3, true).onnx);
    for (const layers of [[1], [0, 3]]) await expectSameAsFull(model, layers, undefined, 1e-5);
    await expectSameAsFull(model, [2], 1, 1e-5);
    await model.dispose();
  });

  it('equals full extraction on an fp16 graph', async () => {
    const { model } = await fixtureModel('llama-fp16');
    await expectSameAsFull(model, [0, 1, 2]);
    await model.dispose();
  });

  it('pools in the graph: without keepTokens only pooled rows come back, no token states', async () => {
    const { model } = await fixtureModel('llama');
    const reader = await readerFor(model, 3);
    const run = reader.session.session.run.bind(reader.session.session);
    const fetched: string[] = [];
    (reader.session.session as { run: unknown }).run = (feeds: never, names: Record<string, unknown>) => (fetched.push(...Object.keys(names)), run(feeds, names as never));
    try {
      const r = await extractActivations(model, examples, { positions: [...positions], layers: [1, 3], batchSize: 8 });
      expect(fetched.sort()).toEqual(['pooled.1', 'pooled.3']);
      expect(r[1]!.at['response-mean']!.map((v) => v.length)).toEqual([model.hiddenSize, model.hiddenSize]);
    } finally {
      (reader.session.session as { run: unknown }).run = run;
    }
    await model.dispose();
  });

  it('merged decoders (If nodes) are not pruned: the full graph reads', async () => {
    const { model } = await fixtureModel('llama-merged');
    expect(pruneToOutputs(readOnnx(model.session.path), ['hidden_states.1'])).toBeNull();
    expect(await readerFor(model, 1)).toBe(model);
    await expectSameAsFull(model, [1, 2]);
    await model.dispose();
  });

  it.runIf(existsSync('models/persona-tiny'))('equals full extraction on persona-tiny (RoPE fused: to 1e-5; unfused: bit for bit)', async () => {
    const fused = await loadModel('models/persona-tiny', { threads: 1 });
    expect((await readerFor(fused, 4)).session.path).toBe(truncatedPaths(fused.session.path, 4, true).onnx);
    await expectSameAsFull(fused, [2], undefined, 1e-5);
    await expectSameAsFull(fused, fused.hiddenLayers, undefined, 1e-5);
    await fused.dispose();
    const plain = await loadModel('models/persona-tiny', { threads: 1, fuseAttention: false });
    await expectSameAsFull(plain, [2]);
    await expectSameAsFull(plain, plain.hiddenLayers);
    await plain.dispose();
  });
});
