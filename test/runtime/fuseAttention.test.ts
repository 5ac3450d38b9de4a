// Reading variants with attention fused into ONNX Attention in causal chunks
// (model/instrument/fuseAttention.ts): which graphs are fused, that the fused reader gives the
// independent reference forward's hidden states on ragged (left-padded) batches and on sequences
// shorter than the chunk count, that the opset is raised with the nodes it changes rewritten
// (opsetUpgrade.ts), and that the reader's check refuses a variant computing something else and
// falls back to the plain one, remembering it.

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { graph, model as onnxModel, node, valueInfo } from '../../src/onnx/build.js';
import { readModel } from '../../src/onnx/read.js';
import { DType } from '../../src/onnx/schema.js';
import type { Msg } from '../../src/onnx/wire.js';
import { loadModel } from '../../src/model/load.js';
import { fusionHolds, readerFor } from '../../src/model/reader.js';
import { loadModel as readOnnx } from '../../src/model/instrument/prepare.js';
import { CHUNKS, fuseAttention } from '../../src/model/instrument/fuseAttention.js';
import { opsetUpgrades } from '../../src/model/instrument/opsetUpgrade.js';
import { legacyPaths, recordFusionCheck, truncatedModel, truncatedPaths } from '../../src/model/instrument/truncate.js';
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

/**
 * The fused reader of `model` runs `fused.blocks` blocks as ONNX Attention (CHUNKS nodes each, q and
 * k rotated first), `fused.ropes` rotations on their own, and gives `fx`'s reference states, row by
 * row, for `batch`.
 */
async function expectReference(fx: Fixture, model: SteerableModel, fused: { blocks: number; ropes: number }, batch = rows) {
  const kind = fx.kind;
  const reader = await readerFor(model, model.numLayers);
  expect(reader.session.path, kind).toBe(truncatedPaths(model.session.path, model.numLayers, true).onnx);
  const variant = readOnnx(reader.session.path);
  const ops = variant.graph.nodes.map((n) => n.opType);
  const count = (op: string) => ops.filter((o) => o === op).length;
  expect({ blocks: count('Attention') / CHUNKS, ropes: count('RotaryEmbedding') - 2 * fused.blocks }, kind).toEqual(fused);
  if (fused.blocks) {
    expect(count('Softmax'), kind).toBe(0);
    expect(variant.opsets.find((o) => o.domain === '')?.version, kind).toBe(23);
  }
  const r = await reader.forward({ inputIds: batch, hiddenLayers: 'all', useCache: false });
  const H = model.hiddenSize;
  batch.forEach((ids, b) => {
    const want = fx.reference([ids]).hidden;
    const at = (b * r.seq + r.seq - ids.length) * H; // left padding
    for (const l of model.hiddenLayers) expect(relErr(r.hidden.get(l)!.subarray(at, at + ids.length * H), want[l]!), `${kind} row ${b} of ${batch.length} layer ${l}`).toBeLessThan(1e-5);
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
      const onnx = readOnnx(model.session.path);
      const f = fuseAttention(onnx.graph, model.config, onnx.opsets.find((o) => o.domain === '')!.version);
      expect([f?.blocks ?? 0, f?.ropes ?? 0], kind).toEqual([blocks * model.numLayers, ropes * model.numLayers]);
      expect(f?.opset, kind).toBe(blocks ? 23 : undefined); // the default-domain opset is raised only for the Attention op
      await model.dispose();
    }
    // Below opset 13 the graph is not raised to 23 (opsetUpgrade.ts rewrites 13..22 only): its RoPE
    // alone is fused, which needs no default-domain op.
    const { model } = await fixtureModel('llama');
    const f = fuseAttention(readOnnx(model.session.path).graph, model.config, 12);
    expect([f?.blocks, f?.ropes, f?.opset]).toEqual([0, 2 * model.numLayers, undefined]);
    await model.dispose();
  });

  it('raising the opset rewrites reductions with axes attributes and Splits without sizes to the opset-18 form', async () => {
    const { model } = await fixtureModel('llama');
    const g = readOnnx(model.session.path).graph;
    const reductions = g.nodes.filter((n) => n.opType === 'ReduceMean');
    expect(reductions.length).toBeGreaterThan(0);
    expect(reductions.every((n) => n.attrs.has('axes') && n.inputs.length === 1)).toBe(true);
    const ups = opsetUpgrades(g, 17, 23);
    expect(ups.map((u) => u.index).sort()).toEqual(reductions.map((n) => n.index).sort());
    expect(opsetUpgrades(g, 18, 23)).toEqual([]); // nothing changed from 18 on
    expect(() => opsetUpgrades(g, 12, 23)).toThrow(/opset 12: only graphs of opset 13 or later are raised/);
    // A graph of the other forms (Split into equal parts, ReduceMax with axes), raised, runs in ONNX
    // Runtime and computes what it did at 17; left at 17 under an opset-23 import, ORT refuses it.
    const nodes = [
      node({ op: 'Split', inputs: ['x'], outputs: ['a', 'b'], name: 'split', attrs: { axis: 1 } }),
      node({ op: 'ReduceMax', inputs: ['a'], outputs: ['m'], name: 'max', attrs: { axes: [1], keepdims: 1 } }),
      node({ op: 'Add', inputs: ['m', 'b'], outputs: ['y'], name: 'add' }),
    ];
    const build = (ns: Msg[], version: number) => Buffer.concat(onnxModel(graph({ name: 'g', nodes: ns, inputs: [valueInfo('x', DType.FLOAT, [2, 4])], outputs: [valueInfo('y', DType.FLOAT, [2, 2])] }), [{ domain: '', version }], { irVersion: 10 }).parts);
    const old = build(nodes, 17);
    const small = readModel(new Uint8Array(old)).graph;
    const rewrites = opsetUpgrades(small, 17, 23);
    expect(rewrites.map((u) => u.index)).toEqual([0, 1]);
    const byIndex = new Map(rewrites.map((u) => [u.index, u.nodes]));
    const x = new ort.Tensor('float32', Float32Array.from([1, 5, 2, 3, -1, -4, 6, 0]), [2, 4]);
    const run = async (buf: Buffer) => Array.from((await (await ort.InferenceSession.create(buf)).run({ x })).y!.data as Float32Array);
    expect(await run(build(nodes.flatMap((n, i) => byIndex.get(i) ?? [n]), 23))).toEqual(await run(old));
    expect(await run(old)).toEqual([7, 8, 5, -1]);
    await expect(run(build(nodes, 23))).rejects.toThrow(/axes|num_outputs|Unrecognized attribute/i);
    // The fused variant: its reductions read their axes as an input, no attribute left.
    const variant = readOnnx((await readerFor(model, model.numLayers)).session.path);
    const raised = variant.graph.nodes.filter((n) => n.opType === 'ReduceMean');
    expect(raised.length).toBeGreaterThan(0);
    expect(raised.every((n) => !n.attrs.has('axes') && n.inputs.length === 2)).toBe(true);
    await model.dispose();
  });

  it('the fused reader runs ONNX Attention in chunks and gives the reference hidden states on a ragged batch', async () => {
    for (const kind of ['llama', 'qwen2', 'phi3', 'gemma'] as const) {
      const { fx, model } = await fixtureModel(kind);
      await expectReference(fx, model, { blocks: model.numLayers, ropes: 0 });
    }
    // head_dim 40 (persona-tiny's), grouped kv heads: 2 query heads share 1.
    const headDim40 = await makeFixture('llama', { config: { hiddenSize: 80, numHeads: 2, numKvHeads: 1, intermediateSize: 96 } });
    await expectReference(headDim40, await loadModel(headDim40.dir, { threads: 1 }), { blocks: headDim40.config.numLayers, ropes: 0 });
  });

  it('sequences of every length up to past the chunk count read as the reference (row 0 repeated where shorter)', async () => {
    const fx = await makeFixture('llama');
    const model = await loadModel(fx.dir, { threads: 1 });
    for (let n = 1; n <= CHUNKS + 2; n++) {
      const row = Array.from({ length: n }, (_, t) => 5 + ((t * 7) % 50));
      // Alone (no padding), and beside a longer row (n left-padded).
      for (const batch of [[row], [row, [...row, 9, 10, 11]]]) {
        const again = await loadModel(fx.dir, { threads: 1 });
        await expectReference(fx, again, { blocks: model.numLayers, ropes: 0 }, batch);
      }
    }
    await model.dispose();
  });

  it('RoPE alone runs as RotaryEmbedding where the block cannot fuse, to the reference', async () => {
    // soft-capped gemma2 (float16 is read unfused: below).
    const g2 = await fixtureModel('gemma2');
    await expectReference(g2.fx, g2.model, { blocks: 0, ropes: 2 * g2.model.numLayers });
  });

  it("building the fused variant removes an earlier version's GroupQueryAttention variant of that depth", async () => {
    const { model } = await fixtureModel('llama');
    const deepest = 1;
    const fused = truncatedPaths(model.session.path, deepest, true);
    rmSync(fused.manifest, { force: true });
    const [legacyOnnx, legacyJson] = legacyPaths(model.session.path, deepest);
    writeFileSync(legacyOnnx!, 'old variant');
    writeFileSync(legacyJson!, '{}');
    const other = legacyPaths(model.session.path, deepest + 1)[0]!;
    writeFileSync(other, 'another depth');
    expect(truncatedModel(model.session.path, deepest, { fuse: model.config })!.path).toBe(fused.onnx);
    expect([existsSync(legacyOnnx!), existsSync(legacyJson!), existsSync(other)]).toEqual([false, false, true]);
    rmSync(other);
    await model.dispose();
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
    expect(stranger.session.path).toContain('.fused.');
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
