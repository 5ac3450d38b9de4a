// The residual stream is found from graph structure: hand-built sequential and parallel blocks,
// fixtures with node names stripped (same tensors) or shuffled (same tensors, warnings).

import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModel } from '../../src/onnx/read.js';
import { findResidualStream } from '../../src/model/instrument/residual.js';
import { applyPlan } from '../../src/model/instrument/edit.js';
import { cleanupScratch, fixture, maxAbsDiff, randomVector, relErr, run, unit, type AnyKind } from './helpers.js';
import { mapNodes, tinyDecoder, tinyFusedEmbedDecoder } from './graphs.js';

afterAll(cleanupScratch);

function plan(bytes: Uint8Array, numLayers: number) {
  return findResidualStream(readModel(bytes, 'test.onnx'), { numLayers, source: 'test.onnx' });
}

async function runTiny(bytes: Uint8Array, ids: number[][], feeds: Record<string, ort.Tensor> = {}) {
  const s = await ort.InferenceSession.create(bytes);
  const all: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [ids.length, ids[0]!.length]),
  };
  for (const n of s.inputNames) if (n !== 'input_ids') all[n] = feeds[n] ?? new ort.Tensor('float32', new Float32Array(8), [1, 1, 8]);
  return s.run(all);
}

describe('hand-built residual decoders', () => {
  it.each([
    ['sequential', false, 2],
    ['parallel', true, 1],
  ] as const)('%s blocks: finds the block outputs and steers them', async (_name, parallel, per) => {
    const L = 3;
    const bytes = tinyDecoder({ layers: L, parallel });
    const p = plan(bytes, L);
    expect(p.addsPerLayer).toBe(per);
    expect(p.hiddenSize).toBe(8);
    expect(p.points.map((x) => x.tensor)).toEqual([
      '/model/embed_tokens/Gather_output_0',
      ...[0, 1, 2].map((l) => `/model/layers.${l}/Add_1_output_0`),
    ]);
    expect(p.points.every((x) => x.nameCheck === 'match')).toBe(true);
    const inst = applyPlan(readModel(bytes), p, {}).msg.finish();
    const ids = [[1, 2, 3, 4]];
    const base = await runTiny(bytes, ids);
    const zero = await runTiny(inst, ids);
    expect(maxAbsDiff(zero.logits!.data as Float32Array, base.logits!.data as Float32Array)).toBe(0);
    const v = randomVector(8, 4);
    const steered = await runTiny(inst, ids, { 'steer.2': new ort.Tensor('float32', v, [1, 1, 8]) });
    const h0 = zero['hidden_states.2']!.data as Float32Array;
    const h1 = steered['hidden_states.2']!.data as Float32Array;
    expect(maxAbsDiff(h1, h0.map((x, i) => x + v[i % 8]!))).toBeLessThan(1e-6);
    expect(maxAbsDiff(steered['hidden_states.1']!.data as Float32Array, zero['hidden_states.1']!.data as Float32Array)).toBe(0);
    expect(maxAbsDiff(steered['hidden_states.3']!.data as Float32Array, h0)).toBeGreaterThan(1e-3);
  });
});

describe('hand-built ORT-fused decoder (EmbedLayerNormalization + SkipLayerNormalization)', () => {
  it.each(['omitted', 'empty'] as const)('steers embedding_sum through the segment inputs and the blocks through skip inputs, adds the final sum output (%s)', async (finalSum) => {
    const L = 2;
    const bytes = tinyFusedEmbedDecoder(L, finalSum);
    const p = plan(bytes, L);
    expect(p.style).toBe('fused');
    expect(p.points.map((x) => [x.tensor, x.producer.opType, x.producer.index, x.steerVia, x.addOutput])).toEqual([
      ['embed_sum', 'EmbedLayerNormalization', 2, 'embed-segment', false],
      ['sum_1', 'SkipLayerNormalization', 3, 'fused-input', false],
      ['persona/residual.2', 'SkipLayerNormalization', 3, 'fused-input', true],
    ]);
    // Bias input (index 4) is part of the sum that ablation recomputes.
    expect(p.points[1]!.fused).toEqual({ steerInput: 0, sumInputs: [0, 1, 4] });
    const { msg, inputsAdded } = applyPlan(readModel(bytes), p, { ablation: true });
    // Layer 0 is steerable, not ablatable (its sum exists only inside the node).
    expect(inputsAdded.map((i) => i.name)).toEqual(['steer.0', 'steer.1', 'steer.2', 'ablate.1', 'ablate.2']);
    const inst = msg.finish();
    const lastSkip = readModel(inst).graph.nodes.find((n) => n.name === 'skip_3')!;
    expect(lastSkip.outputs).toEqual(['sln_3', '', '', 'persona/residual.2']);
    const ids = [[1, 2, 3, 4], [5, 6, 7, 8]];
    const base = await runTiny(bytes, ids);
    const zero = await runTiny(inst, ids, { 'ablate.1': new ort.Tensor('float32', new Float32Array(8), [1, 1, 8]), 'ablate.2': new ort.Tensor('float32', new Float32Array(8), [1, 1, 8]) });
    expect(maxAbsDiff(zero.logits!.data as Float32Array, base.logits!.data as Float32Array)).toBe(0);
    const v = randomVector(8, 9);
    for (const k of [0, 1, 2]) {
      const st = await runTiny(inst, ids, { [`steer.${k}`]: new ort.Tensor('float32', v, [1, 1, 8]) });
      const h0 = zero[`hidden_states.${k}`]!.data as Float32Array;
      expect(maxAbsDiff(st[`hidden_states.${k}`]!.data as Float32Array, h0.map((x, i) => x + v[i % 8]!))).toBeLessThan(1e-5);
      expect(maxAbsDiff(st.logits!.data as Float32Array, zero.logits!.data as Float32Array)).toBeGreaterThan(1e-4);
    }
    // Ablation on a fused point: component along u gone from the node's sum.
    const u = unit(randomVector(8, 10));
    const ab = await runTiny(inst, ids, { 'ablate.1': new ort.Tensor('float32', u, [1, 1, 8]) });
    const h = ab['hidden_states.1']!.data as Float32Array;
    for (let r = 0; r < 8; r++) expect(Math.abs(h.subarray(r * 8, r * 8 + 8).reduce((s, x, i) => s + x * u[i]!, 0))).toBeLessThan(1e-5);
  });

  it('an EmbedLayerNormalization that already uses its segment inputs is observed, not steered', () => {
    const bytes = tinyFusedEmbedDecoder(2, 'omitted', 8, 16, true);
    const p = plan(bytes, 2);
    expect(p.points[0]).toMatchObject({ tensor: 'embed_sum', steerVia: 'none' });
    expect(applyPlan(readModel(bytes), p).inputsAdded.map((i) => i.name)).toEqual(['steer.1', 'steer.2']);
  });
});

const KINDS: AnyKind[] = ['llama', 'gemma', 'gpt2', 'llama-merged', 'llama-fused', 'gpt2-fused', 'llama-int4'];

describe.each(KINDS)('%s without node names', (kind) => {
  it('finds the same residual tensors', async () => {
    const fx = await fixture(kind);
    const bytes = readFileSync(join(fx.dir, 'onnx', 'model.onnx'));
    const L = fx.config.numLayers;
    const named = plan(bytes, L);
    const stripped = mapNodes(bytes, () => null);
    expect(readModel(stripped).graph.nodes.every((n) => n.name === '')).toBe(true);
    const bare = plan(stripped, L);
    const key = (x: (typeof named.points)[number]) => [x.layer, x.tensor, x.producer.opType, x.producer.index, x.producer.node];
    expect(bare.points.map(key)).toEqual(named.points.map(key));
    expect(bare.branches?.map((b) => b.points.map(key))).toEqual(named.branches?.map((b) => b.points.map(key)));
    expect(bare.points.every((x) => x.nameCheck === 'no-names')).toBe(true);
    expect(bare.warnings).toEqual([]);
  });
});

describe('name cross-check', () => {
  it('warns (and still uses the structure) when names point at other layers', async () => {
    const fx = await fixture('llama');
    const bytes = readFileSync(join(fx.dir, 'onnx', 'model.onnx'));
    // Swap the layer scopes 0 and 2 in every node name.
    const swapped = mapNodes(bytes, (n) => n.replace(/layers\.(0|2)\//, (_m, d: string) => `layers.${d === '0' ? 2 : 0}/`));
    const named = plan(bytes, 3);
    const p = plan(swapped, 3);
    expect(p.points.map((x) => x.tensor)).toEqual(named.points.map((x) => x.tensor));
    expect(p.points.map((x) => x.nameCheck)).toEqual(['match', 'mismatch', 'match', 'mismatch']);
    expect(p.warnings).toHaveLength(2);
    expect(p.warnings[0]).toMatch(/residual point 1 is made by '\/model\/layers\.2\/Add_1'/);
  });

  it('an instrumented name-stripped merged model still matches the reference', async () => {
    const fx = await fixture('llama-merged');
    const bytes = mapNodes(readFileSync(join(fx.dir, 'onnx', 'model.onnx')), () => null);
    const p = plan(bytes, fx.config.numLayers);
    const inst = applyPlan(readModel(bytes), p).msg.finish();
    const s = await ort.InferenceSession.create(inst);
    const H = fx.config.hiddenSize;
    const v = randomVector(H, 2, 0.8);
    const ids = [[4, 8, 15, 16, 23]];
    const out = await run(s, fx, ids, 'float32', H, { extra: { 'steer.1': new ort.Tensor('float32', v, [1, 1, H]) } });
    const ref = fx.reference(ids, { steer: [{ layer: 1, vector: v }] });
    for (let k = 0; k <= fx.config.numLayers; k++) expect(relErr(out.hidden[k]!, ref.hidden[k]!)).toBeLessThan(1e-4);
  });
});
