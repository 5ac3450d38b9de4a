// Reading variants with attention fused into GroupQueryAttention (model/instrument/fuseAttention.ts):
// which graphs are fused, that the fused reader gives the independent reference forward's hidden
// states on ragged (left-padded) batches, and that the reader's check refuses a variant computing
// something else and falls back to the plain one, remembering it.

import { existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { fusionHolds, readerFor } from '../../src/model/reader.js';
import { loadModel as readOnnx } from '../../src/model/instrument/prepare.js';
import { fuseAttention } from '../../src/model/instrument/fuseAttention.js';
import { recordFusionCheck, truncatedModel, truncatedPaths } from '../../src/model/instrument/truncate.js';
import { openSession } from '../../src/model/session.js';
import { SteerableModel } from '../../src/model/steerableModel.js';
import { makeFixture, type Fixture, type FixtureKind } from '../fixtures/index.js';
import { fixtureModel, relErr } from './helpers.js';

// Row 0 padded, row 1 not, rows 2-3 padded (row 3 a single token): the kernel once rotated every
// row by row 0's positions.
const rows = [
  [5, 9, 14, 3],
  [7, 8, 21, 30, 4, 12, 40, 6],
  [11, 13, 17, 19, 23],
  [42],
];

/** The fused reader of `model` has `fused` nodes and gives `fx`'s reference states, row by row. */
async function expectReference(fx: Fixture, model: SteerableModel, fused: { blocks: number; ropes: number }) {
  const kind = fx.kind;
  const reader = await readerFor(model, model.numLayers);
  expect(reader.session.path, kind).toBe(truncatedPaths(model.session.path, model.numLayers, true).onnx);
  const ops = readOnnx(reader.session.path).graph.nodes.map((n) => n.opType);
  const count = (op: string) => ops.filter((o) => o === op).length;
  expect({ blocks: count('GroupQueryAttention'), ropes: count('RotaryEmbedding') }, kind).toEqual(fused);
  if (fused.blocks) expect(count('Softmax'), kind).toBe(0);
  const r = await reader.forward({ inputIds: rows, hiddenLayers: 'all', useCache: false });
  const H = model.hiddenSize;
  rows.forEach((ids, b) => {
    const want = fx.reference([ids]).hidden;
    const at = (b * r.seq + r.seq - ids.length) * H; // left padding
    for (const l of model.hiddenLayers) expect(relErr(r.hidden.get(l)!.subarray(at, at + ids.length * H), want[l]!), `${kind} row ${b} layer ${l}`).toBeLessThan(1e-5);
  });
  await model.dispose();
}

describe('attention fused for reading', () => {
  it('fuses the blocks of RoPE + softmax attention graphs, else their RoPE, and leaves others alone', async () => {
    // [blocks, rotations] per layer. gemma2: soft-capped scores, so only RoPE; llama-fp16: casts
    // around the softmax, so only RoPE; gpt2: no RoPE, nothing.
    const want: [FixtureKind, number, number][] = [['llama', 1, 0], ['qwen2', 1, 0], ['phi3', 1, 0], ['gemma', 1, 0], ['gemma2', 0, 2], ['llama-fp16', 0, 2], ['gpt2', 0, 0]];
    for (const [kind, blocks, ropes] of want) {
      const { model } = await fixtureModel(kind);
      const f = fuseAttention(readOnnx(model.session.path).graph, model.config);
      expect([f?.blocks ?? 0, f?.ropes ?? 0], kind).toEqual([blocks * model.numLayers, ropes * model.numLayers]);
      await model.dispose();
    }
    // ORT's CPU GroupQueryAttention rotates head sizes in multiples of 16 only (persona-tiny's is 40):
    // there the block still fuses, rotated before the kernel (its RotaryEmbedding nodes are the block's).
    const { model } = await fixtureModel('llama');
    const f = fuseAttention(readOnnx(model.session.path).graph, { ...model.config, headDim: 40 });
    expect([f?.blocks, f?.ropes]).toEqual([model.numLayers, 0]);
    await model.dispose();
  });

  it('the fused reader runs GroupQueryAttention and gives the reference hidden states on a ragged batch', async () => {
    for (const kind of ['llama', 'qwen2', 'phi3', 'gemma'] as const) {
      const { fx, model } = await fixtureModel(kind);
      await expectReference(fx, model, { blocks: model.numLayers, ropes: 0 });
    }
    // head_dim 40, which the kernel does not rotate: q and k rotated by RotaryEmbedding, then the
    // kernel without rotary (GQA kv heads: 2 query heads share 1).
    const headDim40 = await makeFixture('llama', { config: { hiddenSize: 80, numHeads: 2, numKvHeads: 1, intermediateSize: 96 } });
    const L = headDim40.config.numLayers;
    await expectReference(headDim40, await loadModel(headDim40.dir, { threads: 1 }), { blocks: L, ropes: 2 * L });
  });

  it('RoPE alone runs as RotaryEmbedding where the block cannot fuse, to the reference', async () => {
    // soft-capped gemma2 (float16 is read unfused: below).
    const g2 = await fixtureModel('gemma2');
    await expectReference(g2.fx, g2.model, { blocks: 0, ropes: 2 * g2.model.numLayers });
  });

  it('a float16 graph is read unfused, without trying a fused variant', async () => {
    const { model } = await fixtureModel('llama-fp16');
    const fusedPaths = truncatedPaths(model.session.path, model.numLayers, true);
    rmSync(fusedPaths.manifest, { force: true });
    expect((await readerFor(model, model.numLayers)).session.path).toBe(truncatedPaths(model.session.path, model.numLayers).onnx);
    expect(existsSync(fusedPaths.manifest)).toBe(false); // not built and rejected: never attempted
    await model.dispose();
  });

  it('a variant computing something else fails the check; a rejected variant is not used again', async () => {
    // Fixtures of their own (seeds 11 and 3): the rejection recorded below stays out of other tests.
    const model = await loadModel((await makeFixture('llama', { seed: 11 })).dir, { threads: 1 });
    const deepest = 2;
    const open = async (path: string) => new SteerableModel({ dir: model.dir, config: model.config, tokenizer: model.tokenizer, manifest: model.manifest, session: await openSession(path, model.session.options, { logits: false }) });
    const good = await open(truncatedModel(model.session.path, deepest, { fuse: model.config })!.path);
    expect(await fusionHolds(model, good)).toBe(true);
    // Same shapes, other weights: every state differs.
    const other = await loadModel((await makeFixture('llama', { seed: 3 })).dir, { threads: 1 });
    const stranger = await readerFor(other, deepest);
    expect(stranger.session.path).toContain('.gqa.');
    expect(await fusionHolds(model, stranger)).toBe(false);
    await other.dispose();
    await good.session.session.release();
    // Rejected: the plain variant serves from then on, for a fresh load too.
    recordFusionCheck(model.session.path, deepest, false);
    expect(truncatedModel(model.session.path, deepest, { fuse: model.config })!.path).toBe(truncatedPaths(model.session.path, deepest).onnx);
    const again = await loadModel(model.dir, { threads: 1 });
    expect((await readerFor(again, deepest)).session.path).toBe(truncatedPaths(model.session.path, deepest).onnx);
    await again.dispose();
    await model.dispose();
  });
});
