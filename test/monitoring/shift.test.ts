// Finetuning shift against the reference forward: two fixture models standing in for a base and
// its finetune (same tokenizer and shapes, other weights), the mean last-prompt difference dotted
// by hand; zero for a model against itself; refused for models of other shapes.

import { describe, expect, it } from 'vitest';
import { finetuningShift } from '../../src/monitoring/shift.js';
import { makeFixture } from '../fixtures/index.js';
import { loadModel } from '../../src/model/load.js';
import { randomVector } from '../runtime/helpers.js';

const H = 64;
const prompts = [
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Tell me about cats.' }],
  [{ role: 'user', content: 'Hi' }],
  [{ role: 'user', content: 'What is the capital of France?' }],
];

describe('finetuning shift', () => {
  it('equals the mean last-prompt difference of the reference forwards, projected by hand, per layer', async () => {
    const [fb, ff] = [await makeFixture('llama'), await makeFixture('llama', { seed: 1 })];
    const [base, ft] = [await loadModel(fb.dir, { threads: 1 }), await loadModel(ff.dir, { threads: 1 })];
    const vectors = Array.from({ length: 4 }, (_, l) => randomVector(H, 10 + l));
    const got = await finetuningShift(base, ft, prompts, vectors, { batchSize: 2 });
    expect(got.map((s) => s.layer)).toEqual([0, 1, 2, 3]);
    const ids = prompts.map((p) => base.tokenizer.encodeChat(p, { addGenerationPrompt: true }));
    for (let l = 0; l <= 3; l++) {
      const diff = new Float64Array(H);
      for (const x of ids) {
        const [hb, hf] = [fb.reference([x]).hidden[l]!, ff.reference([x]).hidden[l]!];
        const o = (x.length - 1) * H;
        for (let h = 0; h < H; h++) diff[h]! += (hf[o + h]! - hb[o + h]!) / ids.length;
      }
      const v = vectors[l]!;
      let dv = 0;
      let vv = 0;
      for (let h = 0; h < H; h++) {
        dv += diff[h]! * v[h]!;
        vv += v[h]! * v[h]!;
      }
      expect(got[l]!.shift).toBeCloseTo(dv / Math.sqrt(vv), 4);
    }
    // Embeddings of two random models differ too; against itself every layer is exactly zero.
    const self = await finetuningShift(base, base, prompts, vectors);
    for (const s of self) expect(s.shift).toBe(0);
    await Promise.all([base.dispose(), ft.dispose()]);
  });

  it('refuses models of other shapes and a vector list of the wrong length', async () => {
    const [b, o] = [await makeFixture('llama'), await makeFixture('llama', { config: { numLayers: 2 } })];
    const [base, other] = [await loadModel(b.dir, { threads: 1 }), await loadModel(o.dir, { threads: 1 })];
    const vectors = Array.from({ length: 4 }, (_, l) => randomVector(H, l));
    await expect(finetuningShift(base, other, prompts, vectors)).rejects.toThrow(/2 layers x 64, but the base .* has 3 x 64: not a finetune of it/);
    await expect(finetuningShift(base, base, prompts, vectors.slice(1))).rejects.toThrow(/3 layer vectors for a model with hidden_states 0\.\.3/);
    await Promise.all([base.dispose(), other.dispose()]);
  });
});
