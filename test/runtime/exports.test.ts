// Exports made by ONNX Runtime's own tools (test/fixtures/exports.ts) and the Phi-3 (fused
// qkv_proj / gate_up_proj) and Gemma-2 (sandwich norms) block shapes, through our loader and
// runtime: the folder layout is recognised, every declared input is fed in its declared type,
// hidden states equal the reference forward, steering works at every steerable layer, zero
// steering is the original model bit for bit, and cached generation equals recomputation.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readModel } from '../../src/onnx/read.js';
import { extractActivations } from '../../src/activations/extract.js';
import { generate } from '../../src/generation/generate.js';
import { describeModel } from '../../src/model/instrument/inspect.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { EXPORT_KINDS, type ExportKind } from '../fixtures/exports.js';
import type { Fixture } from '../fixtures/index.js';
import { fixtureModel, maxAbsErr, measured, randomVector, record, relErr, rows } from './helpers.js';

afterAll(() => console.log('exports.test measured maxima', JSON.stringify(measured)));

// Left-padded batch: row 1 is shorter, so masks and position ids are exercised.
const IDS = [
  [1, 40, 57, 99, 120, 7, 260, 13],
  [1, 33, 200, 64, 9],
];
const MASK = IDS.map((r) => r.map(() => 1));
const padded = (ids: number[][]) => {
  const S = Math.max(...ids.map((r) => r.length));
  return { ids: ids.map((r) => [...Array(S - r.length).fill(2), ...r]), mask: ids.map((r) => [...Array(S - r.length).fill(0), ...r.map(() => 1)]) };
};

type Kind = ExportKind | 'phi3' | 'gemma2';
const KINDS: Kind[] = [...EXPORT_KINDS, 'phi3', 'gemma2'];
const EVERY = (L: number) => [...Array(L + 1).keys()];
const EXPECT: Record<Kind, { layout: string; steerable: (L: number) => number[]; tol: number; inputs: Record<string, string>; nodes?: RegExp[] }> = {
  'gpt2-past': { layout: 'transformers.js', steerable: (L) => [...Array(L).keys()].map((k) => k + 1), tol: 1e-4, inputs: { input_ids: 'int32', attention_mask: 'int32', position_ids: 'int32', past_0: 'float32' } },
  'genai-fp16': { layout: 'onnxruntime-genai', steerable: (L) => [...Array(L + 1).keys()], tol: 3e-3, inputs: { input_ids: 'int64', 'past_key_values.0.key': 'float16' } },
  'genai-int4': { layout: 'onnxruntime-genai', steerable: (L) => [...Array(L + 1).keys()], tol: 1e-4, inputs: { input_ids: 'int64', 'past_key_values.0.key': 'float32' } },
  // Optimum-style graphs of two architectures with their own block shapes.
  phi3: { layout: 'transformers.js', steerable: EVERY, tol: 1e-4, inputs: { input_ids: 'int64' }, nodes: [/qkv_proj\/MatMul/, /gate_up_proj\/MatMul/] },
  gemma2: { layout: 'transformers.js', steerable: EVERY, tol: 1e-4, inputs: { input_ids: 'int64' }, nodes: [/post_attention_layernorm/, /pre_feedforward_layernorm/, /post_feedforward_layernorm/] },
};

describe.each(KINDS)('%s', (kind) => {
  const want = EXPECT[kind];
  let fx: Fixture;
  let model: SteerableModel;
  const get = async () => {
    if (!model) ({ fx, model } = await fixtureModel(kind));
    return { fx, model };
  };

  it('is read in its layout, with every declared input typed as the graph declares it', async () => {
    const { fx, model } = await get();
    const d = describeModel(fx.dir);
    expect(d.layout).toBe(want.layout);
    for (const [name, type] of Object.entries(want.inputs)) expect(d.inputs.find((i) => i.name === name)?.type, name).toBe(type);
    expect(model.steerableLayers).toEqual(want.steerable(fx.config.numLayers));
    const names = readModel(readFileSync(join(fx.dir, d.file))).graph.nodes.map((n) => n.name);
    for (const re of want.nodes ?? []) expect(names.some((n) => re.test(n)), String(re)).toBe(true);
    expect(model.hiddenLayers).toEqual([...Array(fx.config.numLayers + 1).keys()]);
  });

  it('hidden states (extraction) and logits equal the reference on a left-padded batch', async () => {
    const { fx, model } = await get();
    const r = await model.forward({ inputIds: IDS, hiddenLayers: 'all' });
    const { ids, mask } = padded(IDS);
    const ref = fx.reference(ids, { attentionMask: mask });
    const H = model.hiddenSize;
    for (let b = 0; b < IDS.length; b++) {
      const S = ids[0]!.length;
      const pad = S - IDS[b]!.length;
      for (const l of model.hiddenLayers) {
        const e = relErr(rows(r.hidden.get(l)!, b, S, H, pad, S), rows(ref.hidden[l]!, b, S, H, pad, S));
        record(`${kind} hidden rel`, e);
        expect(e, `row ${b} layer ${l}`).toBeLessThan(want.tol);
      }
    }
    // Extraction reads the same numbers (response mean over the last three tokens of row 0).
    const [acts] = await extractActivations(model, [{ promptIds: IDS[0]!.slice(0, 5), responseIds: IDS[0]!.slice(5) }], { positions: ['response-mean'] });
    const S = IDS[0]!.length;
    const solo = fx.reference([IDS[0]!], { attentionMask: [MASK[0]!] });
    for (const l of model.hiddenLayers) {
      const m = new Float32Array(H);
      for (let s = 5; s < S; s++) for (let h = 0; h < H; h++) m[h]! += solo.hidden[l]![s * H + h]! / (S - 5);
      expect(relErr(acts!.at['response-mean']![l]!, m), `extract layer ${l}`).toBeLessThan(want.tol);
    }
  });

  it('steering at every steerable layer equals the reference with the vector added there', async () => {
    const { fx, model } = await get();
    const H = model.hiddenSize;
    const v = randomVector(H, 7, 0.5);
    for (const layer of model.steerableLayers) {
      const r = await model.forward({ inputIds: [IDS[0]!], hiddenLayers: 'all', steer: new Map([[layer, { data: v, dims: [1, 1, H] as [number, number, number] }]]) });
      const ref = fx.reference([IDS[0]!], { steer: [{ layer, vector: v }] });
      const e = relErr(r.logits, ref.logits);
      record(`${kind} steered logits rel`, e);
      expect(e, `steer at ${layer}`).toBeLessThan(want.tol);
      expect(relErr(r.hidden.get(layer)!, ref.hidden[layer]!)).toBeLessThan(want.tol);
    }
  });

  it('zero steering reproduces the un-instrumented model bit for bit', async () => {
    const { fx, model } = await get();
    const plain = await loadModel(fx.dir, { prepare: false, threads: 1 });
    const a = await model.forward({ inputIds: IDS });
    const b = await plain.forward({ inputIds: IDS });
    expect(maxAbsErr(a.logits, b.logits)).toBe(0);
    await plain.dispose();
  });

  it('cached generation equals full recomputation, steered at every layer', async () => {
    const { model } = await get();
    const v = randomVector(model.hiddenSize, 5, 1);
    const steering = model.steerableLayers.map((layer) => ({ layer, vector: v, coeff: 0.5, positions: 'response' as const }));
    const opts = { maxNewTokens: 6, keepLogits: true, stopIds: [], steering };
    const a = await generate(model, IDS, opts);
    const b = await generate(model, IDS, { ...opts, fullRecompute: true });
    expect(a.tokens).toEqual(b.tokens);
    for (let t = 0; t < 6; t++) {
      const e = maxAbsErr(a.logits[t]!, b.logits[t]!);
      record(`${kind} cache vs recompute logits abs`, e);
      expect(e).toBeLessThan(kind === 'genai-fp16' ? 2e-2 : 1e-4);
    }
  });
});
