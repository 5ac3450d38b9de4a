// Every fixture kind, instrumented with prepareModel and run in onnxruntime: zero steering is the
// original model, hidden_states.k are the reference hidden states, steering at layer k equals the
// reference with the vector added at k, ablation removes the component along u.

import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fixture } from '../fixtures/index.js';
import { fusedResidualTaps, makeFusedFixture, type FusedKind } from '../fixtures/fused/index.js';
import { prepareModel, type PreparedModel } from '../../src/model/instrument/prepare.js';
import {
  ALL_KINDS,
  cleanupScratch,
  copyFixture,
  dot,
  fixture,
  floatTensor,
  maxAbsDiff,
  randomVector,
  relErr,
  row,
  run,
  unit,
  type AnyKind,
} from './helpers.js';

afterAll(cleanupScratch);

const IDS = [
  [5, 17, 42, 99, 7, 250],
  [64, 3, 128, 11, 200, 31],
];
const B = IDS.length;
const S = IDS[0]!.length;

describe.each(ALL_KINDS)('instrumented %s', (kind: AnyKind) => {
  let fx: Fixture;
  let prep: PreparedModel;
  let s: ort.InferenceSession;
  let s0: ort.InferenceSession;
  let H: number;
  let L: number;
  const fp16 = kind === 'llama-fp16';
  // fp16 activations vs a float64 reference on the same (rounded) weights.
  const tol = fp16 ? 3e-3 : 1e-4;
  const dtype = fp16 ? ('float16' as const) : ('float32' as const);
  const go = (o: Parameters<typeof run>[5] = {}, ids = IDS) => run(s, fx, ids, dtype, H, o);

  beforeAll(async () => {
    fx = await fixture(kind);
    H = fx.config.hiddenSize;
    L = fx.config.numLayers;
    const dir = copyFixture(fx);
    prep = await prepareModel(dir, { ablation: true });
    s = await ort.InferenceSession.create(prep.onnxPath);
    s0 = await ort.InferenceSession.create(join(dir, 'onnx', 'model.onnx'));
  }, 120_000);

  it('adds steer/ablate inputs and hidden_states outputs of the residual dtype', () => {
    const m = prep.manifest;
    expect(m.numLayers).toBe(L);
    expect(m.hiddenSize).toBe(H);
    expect(m.dtype).toBe(dtype);
    for (let k = 0; k <= L; k++) {
      expect(s.outputNames).toContain(`hidden_states.${k}`);
      expect(s.inputNames).toContain(`steer.${k}`);
      expect(s.inputNames).toContain(`ablate.${k}`);
    }
    expect(m.warnings).toEqual([]);
  });

  it('with zero steering gives the original logits bit for bit', async () => {
    const a = await go();
    const b = await run(s0, fx, IDS, dtype, H);
    expect(maxAbsDiff(a.logits, b.logits)).toBe(0);
  });

  it('hidden_states.k equal the reference hidden states', async () => {
    const out = await go();
    const ref = fx.reference(IDS);
    expect(out.hidden).toHaveLength(L + 1);
    for (let k = 0; k <= L; k++) expect(relErr(out.hidden[k]!, ref.hidden[k]!), `k=${k}`).toBeLessThan(tol);
    expect(relErr(out.logits, ref.logits)).toBeLessThan(tol);
  });

  it.each(['first', 'middle', 'last'] as const)('steering [1,1,H] at the %s point equals the reference', async (which) => {
    const layer = which === 'first' ? 0 : which === 'middle' ? 1 : L;
    const v = randomVector(H, 11 + layer, 0.8);
    const out = await go({ extra: { [`steer.${layer}`]: floatTensor(dtype, v, [1, 1, H]) } });
    const ref = fx.reference(IDS, { steer: [{ layer, vector: v }] });
    for (let k = 0; k <= L; k++) expect(relErr(out.hidden[k]!, ref.hidden[k]!), `k=${k}`).toBeLessThan(tol);
    expect(relErr(out.logits, ref.logits)).toBeLessThan(tol);
    // And it did change something.
    expect(maxAbsDiff(out.logits, (await go()).logits)).toBeGreaterThan(1e-3);
  });

  it('per-position steering [1,S,H] equals the reference at those positions', async () => {
    const layer = 2;
    const v = randomVector(H, 5, 0.8);
    const positions = [1, 4];
    const t = new Float32Array(S * H);
    for (const p of positions) t.set(v, p * H);
    const w = randomVector(H, 6, 0.5);
    const out = await go({
      extra: { [`steer.${layer}`]: floatTensor(dtype, t, [1, S, H]), 'steer.1': floatTensor(dtype, w, [1, 1, H]) },
    });
    const ref = fx.reference(IDS, { steer: [{ layer, vector: v, positions }, { layer: 1, vector: w }] });
    for (let k = 0; k <= L; k++) expect(relErr(out.hidden[k]!, ref.hidden[k]!), `k=${k}`).toBeLessThan(tol);
    expect(relErr(out.logits, ref.logits)).toBeLessThan(tol);
  });

  it('per-row steering [B,1,H] steers each batch row with its own vector', async () => {
    const layer = 1;
    const v0 = randomVector(H, 21, 0.8);
    const v1 = randomVector(H, 22, 0.8);
    const t = new Float32Array(2 * H);
    t.set(v0, 0);
    t.set(v1, H);
    const out = await go({ extra: { [`steer.${layer}`]: floatTensor(dtype, t, [2, 1, H]) } });
    for (const [b, v] of [[0, v0], [1, v1]] as const) {
      const ref = fx.reference([IDS[b]!], { steer: [{ layer, vector: v }] });
      const got = out.hidden[L]!.subarray(b * S * H, (b + 1) * S * H);
      expect(relErr(got, ref.hidden[L]!), `row ${b}`).toBeLessThan(tol);
    }
  });

  it('ablation removes the component along u, then steering adds on top', async () => {
    const layer = 2;
    const u = unit(randomVector(H, 99));
    const base = await go();
    const abl = await go({ extra: { [`ablate.${layer}`]: floatTensor(dtype, u, [1, 1, H]) } });
    // Upstream untouched, the ablated point is h - (h.u)u.
    for (let k = 0; k < layer; k++) expect(maxAbsDiff(abl.hidden[k]!, base.hidden[k]!)).toBe(0);
    const h = base.hidden[layer]!;
    const want = new Float32Array(h.length);
    for (let b = 0; b < B; b++)
      for (let p = 0; p < S; p++) {
        const hr = row(h, S, H, b, p);
        const c = dot(hr, u);
        row(want, S, H, b, p).set(hr.map((x, i) => x - c * u[i]!));
        const got = row(abl.hidden[layer]!, S, H, b, p);
        expect(Math.abs(dot(got, u))).toBeLessThan((fp16 ? 5e-3 : 1e-5) * Math.hypot(...hr));
      }
    expect(relErr(abl.hidden[layer]!, want)).toBeLessThan(fp16 ? 5e-3 : 1e-5);
    expect(maxAbsDiff(abl.logits, base.logits)).toBeGreaterThan(1e-4);

    // ablate then steer: h - (h.u)u + v
    const v = randomVector(H, 3, 0.5);
    const both = await go({
      extra: { [`ablate.${layer}`]: floatTensor(dtype, u, [1, 1, H]), [`steer.${layer}`]: floatTensor(dtype, v, [1, 1, H]) },
    });
    const want2 = want.map((x, i) => x + v[i % H]!);
    expect(relErr(both.hidden[layer]!, want2)).toBeLessThan(fp16 ? 5e-3 : 1e-5);
  });

  if ((['llama-fused', 'gpt2-fused', 'llama-int4'] as string[]).includes(kind))
    it('picks the residual taps the fused fixture documents', () => {
      const taps = fusedResidualTaps(kind as FusedKind, fx.config);
      for (const t of taps) {
        const p = prep.manifest.points[t.layer]!;
        expect(p.producer.name, `k=${t.layer}`).toBe(t.node);
        expect(p.producer.index).toBe(t.outputIndex);
        if (t.written) expect(p.tensor).toBe(t.tensor);
        else expect(p.addOutput).toBe(true);
      }
    });
});

describe.each([
  ['llama-fused', 'gemma'],
  ['llama-fused', 'qwen2'],
  ['llama-int4', 'gemma'],
] as const)('%s built for %s', (kind, arch) => {
  it('steering the embedding and the last layer matches the reference', async () => {
    const fx = await makeFusedFixture(kind, { config: { arch } });
    const H = fx.config.hiddenSize;
    const L = fx.config.numLayers;
    const prep = await prepareModel(copyFixture(fx));
    const s = await ort.InferenceSession.create(prep.onnxPath);
    const v = randomVector(H, 3, 0.8);
    const w = randomVector(H, 4, 0.8);
    const out = await run(s, fx, IDS, 'float32', H, {
      extra: { 'steer.0': floatTensor('float32', v, [1, 1, H]), [`steer.${L}`]: floatTensor('float32', w, [1, 1, H]) },
    });
    const ref = fx.reference(IDS, { steer: [{ layer: 0, vector: v }, { layer: L, vector: w }] });
    for (let k = 0; k <= L; k++) expect(relErr(out.hidden[k]!, ref.hidden[k]!), `k=${k}`).toBeLessThan(1e-4);
    expect(relErr(out.logits, ref.logits)).toBeLessThan(1e-4);
    expect(prep.manifest.warnings).toEqual([]);
  });
});

describe.each(['llama', 'llama-merged', 'llama-fused', 'gpt2'] as const)('steering with a KV cache (%s)', (kind) => {
  it('prefill + one cached step equal the reference on the whole sequence', async () => {
    const fx = await fixture(kind);
    const H = fx.config.hiddenSize;
    const L = fx.config.numLayers;
    const prep = await prepareModel(copyFixture(fx));
    const s = await ort.InferenceSession.create(prep.onnxPath);
    const v = randomVector(H, 8, 0.8);
    const extra = { 'steer.2': floatTensor('float32', v, [1, 1, H]) };
    const first = await run(s, fx, IDS, 'float32', H, { extra });
    const next = [[77], [88]];
    const full = IDS.map((r, b) => [...r, next[b]![0]!]);
    const mask = full.map((r) => r.map(() => 1));
    const step = await run(s, fx, next, 'float32', H, {
      extra,
      past: first.present,
      mask,
      positions: [[S], [S]],
    });
    const ref = fx.reference(full, { steer: [{ layer: 2, vector: v }] });
    for (let k = 0; k <= L; k++)
      for (let b = 0; b < B; b++)
        expect(relErr(row(step.hidden[k]!, 1, H, b, 0), row(ref.hidden[k]!, S + 1, H, b, S)), `k=${k} b=${b}`).toBeLessThan(1e-4);
  });
});
