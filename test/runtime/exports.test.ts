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
import { referenceForward, type Fixture } from '../fixtures/index.js';
import { fixtureModel, maxAbsErr, measured, randomVector, record, relErr, rows } from './helpers.js';

afterAll(() => console.log('exports.test measured maxima', JSON.stringify(measured)));

// A ragged batch: row 1 is shorter, so padding, masks and position ids are exercised.
const IDS = [
  [1, 40, 57, 99, 120, 7, 260, 13],
  [1, 33, 200, 64, 9],
];
const padded = (ids: number[][]) => {
  const S = Math.max(...ids.map((r) => r.length));
  return { ids: ids.map((r) => [...Array(S - r.length).fill(2), ...r]), mask: ids.map((r) => [...Array(S - r.length).fill(0), ...r.map(() => 1)]) };
};

type Kind = ExportKind | 'phi3' | 'gemma2' | 'llama-fused' | 'gpt2-fused' | 'llama-int4' | 'llama-fp16' | 'qwen2' | 'gemma' | 'llama-external' | 'llama' | 'gpt2' | 'llama-merged';
const KINDS: Kind[] = [...EXPORT_KINDS, 'phi3', 'gemma2', 'llama-fused', 'gpt2-fused', 'llama-int4', 'llama-fp16', 'qwen2', 'gemma', 'llama-external', 'llama', 'gpt2', 'llama-merged'];
const EVERY = (L: number) => [...Array(L + 1).keys()];
interface Expect {
  layout: string;
  steerable: (L: number) => number[];
  tol: number;
  /** Declared inputs and their types; null = the graph has no such input. */
  inputs: Record<string, string | null>;
  nodes?: RegExp[];
  /** How ragged rows are fed (instrument/attention.ts). */
  padding: 'left' | 'right';
  /** Shared past/present buffers (genai_config.json past_present_share_buffer on a GQA graph). */
  shared?: number;
}
const HF = 'transformers.js';
const plain = (extra: Partial<Expect> = {}): Expect => ({ layout: HF, steerable: EVERY, tol: 1e-4, inputs: { input_ids: 'int64' }, padding: 'left', ...extra });
const EXPECT: Record<Kind, Expect> = {
  'gpt2-past': { layout: HF, steerable: EVERY, tol: 1e-4, inputs: { input_ids: 'int32', attention_mask: 'int32', position_ids: 'int32', past_0: 'float32' }, padding: 'left' },
  // The builder's GQA graphs: no position_ids, lengths from the mask, right-padded rows.
  'genai-gqa': {
    layout: 'onnxruntime-genai', steerable: EVERY, tol: 1e-4, padding: 'right', shared: 128,
    inputs: { tokens: 'int64', token_mask: 'int64', 'cache_in.0.k': 'float32', 'cache_in.2.v': 'float32', input_ids: null, position_ids: null, positions: null },
    nodes: [/qkv_proj\/MatMul$/, /attn_mask_subgraph\/ReduceSum/, /GroupQueryAttention/],
  },
  'genai-int4': {
    layout: 'onnxruntime-genai', steerable: EVERY, tol: 1e-4, padding: 'right', shared: 128,
    inputs: { input_ids: 'int64', attention_mask: 'int64', 'past_key_values.0.key': 'float32', position_ids: null },
    nodes: [/qkv_proj\/MatMulNBits$/, /GroupQueryAttention/],
  },
  'genai-fp16': {
    layout: 'onnxruntime-genai', steerable: EVERY, tol: 3e-3, padding: 'left',
    inputs: { input_ids: 'int64', position_ids: 'int64', 'past_key_values.0.key': 'float16' },
    nodes: [/MultiHeadAttention/, /RotaryEmbedding/],
  },
  // Optimum-style graphs of two architectures with their own block shapes.
  phi3: plain({ nodes: [/qkv_proj\/MatMul/, /gate_up_proj\/MatMul/] }),
  gemma2: plain({ nodes: [/post_attention_layernorm/, /pre_feedforward_layernorm/, /post_feedforward_layernorm/, /final_softcap\/Tanh/, /self_attn\/Tanh/, /sliding\/Less/] }),
  // ORT-fused, 4-bit, float16, tied-embedding and external-data forms of the other fixtures.
  'llama-fused': plain({ nodes: [/GroupQueryAttention/, /RotaryEmbedding/] }),
  'gpt2-fused': plain({ nodes: [/MultiHeadAttention/, /FastGelu/] }),
  'llama-int4': plain({ nodes: [/MatMulNBits/] }),
  'llama-fp16': plain({ tol: 3e-3, inputs: { input_ids: 'int64', 'past_key_values.0.key': 'float16' } }),
  qwen2: plain(),
  gemma: plain(),
  'llama-external': plain(),
  llama: plain(),
  gpt2: plain(),
  'llama-merged': plain({ inputs: { input_ids: 'int64', use_cache_branch: 'bool' }, nodes: [/./] }),
};
const fp16 = (kind: Kind) => EXPECT[kind].tol > 1e-4;

describe('Gemma-2 soft-capping and sliding window', () => {
  it('change what the reference computes on the test batch, so matching it checks them', async () => {
    const { fx } = await fixtureModel('gemma2');
    expect(fx.config).toMatchObject({ attnSoftcap: 50, finalSoftcap: 30, slidingWindow: 4 });
    const cfg = JSON.parse(readFileSync(join(fx.dir, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 4 });
    const ref = fx.reference([IDS[0]!]).logits;
    const without = (drop: 'attnSoftcap' | 'finalSoftcap' | 'slidingWindow') =>
      referenceForward({ ...fx.config, [drop]: undefined }, fx.weights, [IDS[0]!]).logits;
    for (const drop of ['attnSoftcap', 'finalSoftcap', 'slidingWindow'] as const) expect(maxAbsErr(without(drop), ref), drop).toBeGreaterThan(1e-4);
    expect(Math.max(...ref.map(Math.abs))).toBeLessThan(30);
  });
});

describe('EmbedLayerNormalization (gpt2-past)', () => {
  it('layer 0 is steered through the node\'s segment-embedding inputs; ablation covers layers 1..L', async () => {
    const { fx, model } = await fixtureModel('gpt2-past', { ablation: true });
    const L = fx.config.numLayers;
    expect(model.manifest!.points[0]).toMatchObject({ layer: 0, producer: { opType: 'EmbedLayerNormalization', index: 2 }, steerVia: 'embed-segment' });
    expect(model.steerableLayers).toEqual(EVERY(L));
    expect(model.ablatableLayers).toEqual(EVERY(L).slice(1));
    await model.dispose();
  });
});

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
    for (const [name, type] of Object.entries(want.inputs)) expect(d.inputs.find((i) => i.name === name)?.type ?? null, name).toBe(type);
    expect(model.steerableLayers).toEqual(want.steerable(fx.config.numLayers));
    expect(model.session.padding).toBe(want.padding);
    expect(model.session.sharedCache?.capacity).toBe(want.shared);
    // Graphs with a mask and a cache but no position_ids (the builder's GQA ones) are fed all they declare.
    if (want.inputs['position_ids'] === null) {
      expect(model.session.positionIds).toBeUndefined();
      expect(model.session.attentionMask).toBeDefined();
      expect(model.session.cache.length).toBe(2 * fx.config.numLayers);
    }
    const names = readModel(readFileSync(join(fx.dir, d.file))).graph.nodes.map((n) => n.name);
    for (const re of want.nodes ?? []) expect(names.some((n) => re.test(n)), String(re)).toBe(true);
    expect(model.hiddenLayers).toEqual([...Array(fx.config.numLayers + 1).keys()]);
  });

  it('hidden states (extraction) and logits equal the reference on a ragged batch', async () => {
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
      const e = relErr(rows(r.logits, b, S, r.vocab, pad, S), rows(ref.logits, b, S, r.vocab, pad, S));
      record(`${kind} logits rel`, e);
      expect(e, `row ${b} logits`).toBeLessThan(want.tol);
    }
    // Extraction reads the same numbers from a batch of two examples of different lengths
    // (response mean over each row's answer tokens).
    const examples = IDS.map((r) => ({ promptIds: r.slice(0, 3), responseIds: r.slice(3) }));
    const acts = await extractActivations(model, examples, { positions: ['response-mean'] });
    IDS.forEach((row, b) => {
      const solo = fx.reference([row]);
      const S = row.length;
      for (const l of model.hiddenLayers) {
        const m = new Float32Array(H);
        for (let s = 3; s < S; s++) for (let h = 0; h < H; h++) m[h]! += solo.hidden[l]![s * H + h]! / (S - 3);
        const e = relErr(acts[b]!.at['response-mean']![l]!, m);
        record(`${kind} extraction rel`, e);
        expect(e, `extract row ${b} layer ${l}`).toBeLessThan(want.tol);
      }
    });
  });

  it('steering at every steerable layer equals the reference with the vector added there (ragged batch)', async () => {
    const { fx, model } = await get();
    const H = model.hiddenSize;
    const v = randomVector(H, 7, 0.5);
    const refs = (layer: number) => IDS.map((row) => fx.reference([row], { steer: [{ layer, vector: v }] }));
    for (const layer of model.steerableLayers) {
      const r = await model.forward({ inputIds: IDS, hiddenLayers: [layer], steer: new Map([[layer, { data: v, dims: [1, 1, H] as [number, number, number] }]]) });
      const S = r.seq;
      refs(layer).forEach((ref, b) => {
        const n = IDS[b]!.length;
        const e = relErr(rows(r.logits, b, S, r.vocab, S - n, S), ref.logits);
        record(`${kind} steered logits rel`, e);
        expect(e, `steer at ${layer}, row ${b}`).toBeLessThan(want.tol);
        expect(relErr(rows(r.hidden.get(layer)!, b, S, H, S - n, S), ref.hidden[layer]!)).toBeLessThan(want.tol);
      });
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

  it('cached generation equals full recomputation and the reference, steered at every layer (ragged batch)', async () => {
    const { fx, model } = await get();
    const v = randomVector(model.hiddenSize, 5, 1);
    const steering = model.steerableLayers.map((layer) => ({ layer, vector: v, coeff: 0.5, positions: 'response' as const }));
    const opts = { maxNewTokens: 6, keepLogits: true, stopIds: [], steering };
    const a = await generate(model, IDS, opts);
    const b = await generate(model, IDS, { ...opts, fullRecompute: true });
    expect(a.tokens).toEqual(b.tokens);
    const V = model.config.vocabSize;
    for (let t = 0; t < 6; t++) {
      const e = maxAbsErr(a.logits[t]!, b.logits[t]!);
      record(`${kind} cache vs recompute logits abs`, e);
      expect(e).toBeLessThan(fp16(kind) ? 2e-2 : 1e-4);
      // Each row on its own in the reference: prompt + the tokens so far, steered from the last prompt token on.
      IDS.forEach((prompt, row) => {
        const seq = [...prompt, ...a.tokens[row]!.slice(0, t)];
        const positions = [...Array(seq.length - prompt.length + 1).keys()].map((i) => prompt.length - 1 + i);
        const ref = fx.reference([seq], { steer: model.steerableLayers.map((layer) => ({ layer, vector: v.map((x) => x * 0.5), positions })) });
        const r = relErr(a.logits[t]!.subarray(row * V, (row + 1) * V), ref.logits.subarray((seq.length - 1) * V));
        record(`${kind} generation vs reference rel`, r);
        expect(r, `step ${t} row ${row}`).toBeLessThan(want.tol);
      });
    }
  });

  it.runIf(EXPECT[kind].shared)('shared past/present buffers give the growing cache\'s logits bit for bit', async () => {
    const { fx, model } = await get();
    const growing = await loadModel(fx.dir, { threads: 1, sharedCache: false });
    expect(growing.session.sharedCache).toBeUndefined();
    const opts = { maxNewTokens: 6, keepLogits: true, stopIds: [] };
    const a = await generate(model, IDS, opts);
    const b = await generate(growing, IDS, opts);
    expect(a.tokens).toEqual(b.tokens);
    for (let t = 0; t < 6; t++) expect(maxAbsErr(a.logits[t]!, b.logits[t]!), `step ${t}`).toBe(0);
    // The buffers are the fixed-size ones, written in place: [batch, kv heads, capacity, head dim].
    const pre = await model.forward({ inputIds: IDS, cacheCapacity: 20 });
    expect(pre.cache!.capacity).toBe(20);
    expect(pre.cache!.past[0]!.dims).toEqual([2, fx.config.numKvHeads, 20, fx.config.hiddenSize / fx.config.numHeads]);
    const step = await model.forward({ inputIds: [[5], [6]], cache: pre.cache });
    expect(step.cache!.past[0]).toBe(pre.cache!.past[0]);
    await expect(model.forward({ inputIds: IDS, cacheCapacity: 4 })).rejects.toThrow(/8 tokens do not fit the shared past\/present buffers of 4 columns/);
    await growing.dispose();
  });
});
