// forward(): hidden states and logits against the independent TypeScript reference, for every
// fixture architecture and export style; steering, ablation, left padding, bad inputs.

import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE_KINDS } from '../fixtures/index.js';
import { loadModel } from '../../src/model/load.js';
import type { LayerTensor } from '../../src/model/steerableModel.js';
import { ablationTensors, steeringPlan } from '../../src/model/steering.js';
import { fixtureModel, maxAbsErr, measured, randomVector, record, relErr, rows } from './helpers.js';

afterAll(() => console.log('forward.test measured maxima', JSON.stringify(measured)));

const IDS = [[1, 40, 57, 99, 120, 7, 260, 13, 2, 1, 33]];

describe.each(FIXTURE_KINDS)('%s', (kind) => {
  const fp16 = kind.endsWith('fp16');
  const tol = fp16 ? 3e-3 : 1e-4;

  it('hidden states of every layer and logits match the reference', async () => {
    const { fx, model } = await fixtureModel(kind);
    const r = await model.forward({ inputIds: IDS, hiddenLayers: 'all' });
    const ref = fx.reference(IDS);
    expect(model.hiddenLayers).toEqual([...Array(fx.config.numLayers + 1).keys()]);
    for (const l of model.hiddenLayers) {
      const e = relErr(r.hidden.get(l)!, ref.hidden[l]!);
      record(`hidden rel ${fp16 ? 'fp16' : 'fp32'}`, e);
      expect(e, `layer ${l}`).toBeLessThan(tol);
    }
    const e = relErr(r.logits, ref.logits);
    record(`logits rel ${fp16 ? 'fp16' : 'fp32'}`, e);
    expect(e).toBeLessThan(tol);
  });

  it('steering v at every layer k equals the reference with v at layer k', async () => {
    const { fx, model } = await fixtureModel(kind);
    const H = model.hiddenSize;
    const v = randomVector(H, 7, 0.5);
    expect(model.steerableLayers).toEqual([...Array(fx.config.numLayers + 1).keys()]);
    for (const layer of model.steerableLayers) {
      const r = await model.forward({
        inputIds: IDS,
        hiddenLayers: 'all',
        steer: new Map([[layer, { data: v, dims: [1, 1, H] as [number, number, number] }]]),
      });
      const ref = fx.reference(IDS, { steer: [{ layer, vector: v }] });
      for (const l of model.hiddenLayers) expect(relErr(r.hidden.get(l)!, ref.hidden[l]!), `steer ${layer}, layer ${l}`).toBeLessThan(tol);
      const e = relErr(r.logits, ref.logits);
      record(`steered logits rel ${fp16 ? 'fp16' : 'fp32'}`, e);
      expect(e).toBeLessThan(tol);
    }
  });
});

describe('instrumented model', () => {
  it('zero steering reproduces the un-instrumented logits bit for bit', async () => {
    for (const kind of ['llama', 'gpt2', 'llama-merged'] as const) {
      const { fx, model } = await fixtureModel(kind);
      const plain = await loadModel(fx.dir, { prepare: false, threads: 1 });
      expect(plain.steerableLayers).toEqual([]);
      const a = await model.forward({ inputIds: IDS, steer: new Map() });
      const b = await plain.forward({ inputIds: IDS });
      const e = maxAbsErr(a.logits, b.logits);
      record('zero-steer vs plain abs', e);
      expect(e).toBe(0);
    }
  });

  it('steering at chosen positions (a plan) equals the reference', async () => {
    const { fx, model } = await fixtureModel('llama');
    const H = model.hiddenSize;
    const v = randomVector(H, 3);
    const w = randomVector(H, 4);
    const P = 6; // prompt length for 'prompt' / 'response'
    const plan = steeringPlan(
      model,
      [
        { layer: 1, vector: v, coeff: 2, positions: 'response' },
        { layer: 1, vector: w, coeff: -1, positions: [0, 3] },
        { layer: 2, vector: w, coeff: 0.5, positions: 'prompt' },
      ],
      [P],
    );
    const r = await model.forward({ inputIds: IDS, hiddenLayers: 'all', steer: plan });
    const S = IDS[0]!.length;
    const v2 = v.map((x) => 2 * x);
    const wNeg = w.map((x) => -x);
    const wHalf = w.map((x) => 0.5 * x);
    const ref = fx.reference(IDS, {
      steer: [
        { layer: 1, vector: v2, positions: [...Array(S).keys()].filter((p) => p >= P - 1) },
        { layer: 1, vector: wNeg, positions: [0, 3] },
        { layer: 2, vector: wHalf, positions: [...Array(P).keys()] },
      ],
    });
    for (const l of model.hiddenLayers) expect(relErr(r.hidden.get(l)!, ref.hidden[l]!)).toBeLessThan(1e-4);
    expect(relErr(r.logits, ref.logits)).toBeLessThan(1e-4);
  });

  it('directional ablation removes the direction from the residual', async () => {
    const { model } = await fixtureModel('llama', { ablation: true });
    expect(model.ablatableLayers.length).toBeGreaterThan(0);
    const d = randomVector(model.hiddenSize, 11);
    const ablate = ablationTensors(model, [{ layer: 2, direction: d }]);
    const r = await model.forward({ inputIds: IDS, hiddenLayers: [1, 2], ablate });
    const n = Math.hypot(...d);
    const H = model.hiddenSize;
    const S = IDS[0]!.length;
    for (let s = 0; s < S; s++) {
      const h2 = rows(r.hidden.get(2)!, 0, S, H, s, s + 1);
      const h1 = rows(r.hidden.get(1)!, 0, S, H, s, s + 1);
      expect(Math.abs(h2.reduce((a, x, i) => a + x * d[i]!, 0) / n)).toBeLessThan(1e-4);
      // Layer 1 is untouched, so it still has a component along d.
      expect(Math.abs(h1.reduce((a, x, i) => a + x * d[i]!, 0) / n)).toBeGreaterThan(1e-3);
    }
  });

  it('ablating several directions at a layer removes their span, as the reference does', async () => {
    const { fx, model } = await fixtureModel('llama', { ablation: true });
    const H = model.hiddenSize;
    const [a, b, c] = [randomVector(H, 21), randomVector(H, 22), randomVector(H, 23)];
    // Two entries at layer 1 merge into one rank-3 subspace; c is also given twice (no extra rank).
    const ablate = ablationTensors(model, [{ layer: 1, span: [a, b] }, { layer: 1, span: [c, c.map((x) => -2 * x)] }, { layer: 2, direction: c }]);
    expect(ablate.get(1)!.dims).toEqual([1, 3, H]);
    const r = await model.forward({ inputIds: IDS, hiddenLayers: 'all', ablate });
    const ref = fx.reference(IDS, { erase: [{ layer: 1, directions: [a, b, c] }, { layer: 2, directions: [c] }] });
    for (const l of model.hiddenLayers) expect(relErr(r.hidden.get(l)!, ref.hidden[l]!), `layer ${l}`).toBeLessThan(1e-4);
    expect(relErr(r.logits, ref.logits)).toBeLessThan(1e-4);
    expect(() => ablationTensors(model, [{ layer: 1, span: [] }])).toThrow('span has no directions');
  });

  it('a left-padded batch equals each row on its own', async () => {
    for (const kind of ['llama', 'gpt2'] as const) {
      const { model } = await fixtureModel(kind);
      const batch = [[1, 5, 6, 7, 8, 9, 10, 11], [1, 20, 21], [1, 30, 31, 32, 33]];
      const r = await model.forward({ inputIds: batch, hiddenLayers: 'all' });
      const S = r.seq;
      const V = r.vocab;
      const H = model.hiddenSize;
      for (const [b, row] of batch.entries()) {
        const one = await model.forward({ inputIds: [row], hiddenLayers: 'all' });
        const pad = S - row.length;
        const e = maxAbsErr(rows(r.logits, b, S, V, pad, S), one.logits);
        record('batched vs single logits abs', e);
        expect(e).toBeLessThan(1e-4);
        for (const l of model.hiddenLayers)
          expect(relErr(rows(r.hidden.get(l)!, b, S, H, pad, S), one.hidden.get(l)!)).toBeLessThan(1e-4);
        expect(Array.from(r.positionIds.subarray(b * S + pad, (b + 1) * S))).toEqual([...row.keys()]);
      }
    }
  });

  it('fetches only the requested hidden states', async () => {
    const { model } = await fixtureModel('llama');
    const r = await model.forward({ inputIds: IDS, hiddenLayers: [2] });
    expect([...r.hidden.keys()]).toEqual([2]);
    const none = await model.forward({ inputIds: IDS, useCache: false, lastLogitsOnly: true });
    expect(none.hidden.size).toBe(0);
    expect(none.cache).toBeUndefined();
    expect(none.logits.length).toBe(none.vocab);
  });
});

describe('bad inputs fail clearly', () => {
  it('steering vector of the wrong length names the layer and both sizes', async () => {
    const { model } = await fixtureModel('llama');
    const H = model.hiddenSize;
    expect(() => steeringPlan(model, [{ layer: 2, vector: new Float32Array(H - 1), coeff: 1, positions: 'all' }])).toThrow(
      new RegExp(`layer 2.*${H - 1} values.*hidden size is ${H}`),
    );
  });

  it('layers out of range', async () => {
    const { model } = await fixtureModel('llama');
    const H = model.hiddenSize;
    const L = model.numLayers;
    expect(() => steeringPlan(model, [{ layer: L + 1, vector: new Float32Array(H), coeff: 1 }])).toThrow(
      new RegExp(`layer ${L + 1}.*out of range.*0 \\(embeddings\\) \\.\\. ${L}`),
    );
    await expect(model.forward({ inputIds: IDS, hiddenLayers: [L + 1] })).rejects.toThrow(/hidden layer 4 out of range/);
    const t: LayerTensor = { data: new Float32Array(H), dims: [1, 1, H] };
    await expect(model.forward({ inputIds: IDS, steer: new Map([[-1, t]]) })).rejects.toThrow(/no steer input for layer -1/);
    const bad: LayerTensor = { data: new Float32Array(H), dims: [2, 1, H] };
    await expect(model.forward({ inputIds: IDS, steer: new Map([[1, bad]]) })).rejects.toThrow(/steer\.1.*\[2,1,64\]/);
  });

  it('missing instrumentation and bad token ids', async () => {
    const { fx } = await fixtureModel('llama');
    const plain = await loadModel(fx.dir, { prepare: false, threads: 1 });
    await expect(plain.forward({ inputIds: IDS, hiddenLayers: 'all' })).rejects.toThrow(/no hidden_states outputs.*prepare: true/);
    expect(() => steeringPlan(plain, [{ layer: 1, vector: new Float32Array(64), coeff: 1 }])).toThrow(/no steer inputs/);
    expect(() => ablationTensors(plain, [{ layer: 1, direction: new Float32Array(64).fill(1) }])).toThrow(/ablation: true/);
    await expect(plain.forward({ inputIds: [[1, -3]] })).rejects.toThrow(/invalid token id -3/);
    await expect(plain.forward({ inputIds: [] })).rejects.toThrow(/no rows/);
    const { model } = await fixtureModel('llama');
    expect(() => steeringPlan(model, [{ layer: 1, vector: new Float32Array(64), coeff: 1, positions: 'response' }])).toThrow(
      /prompt lengths/,
    );
  });
});
