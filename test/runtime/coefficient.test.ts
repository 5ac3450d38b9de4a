// The steering coefficient scales the added vector: at the steered layer the residual moves by
// exactly coeff * v, and generation with (v, coeff c) is generation with (c * v, coeff 1). A plan
// that ignored or mangled the coefficient (dropped it, squared it, applied it once per layer sum)
// fails here.

import { describe, expect, it } from 'vitest';
import { generateChat } from '../../src/generation/generate.js';
import { steeringPlan } from '../../src/model/steering.js';
import { fixtureModel, maxAbsErr, randomVector } from './helpers.js';

const IDS = [[1, 40, 57, 99, 120, 7, 260, 13]];

describe('steering coefficient', () => {
  it('moves the residual at the steered layer by exactly coeff * v, for positive, negative and fractional coefficients', async () => {
    const { model } = await fixtureModel('llama');
    const H = model.hiddenSize;
    const v = randomVector(H, 11, 0.5);
    const layer = 2;
    const plain = (await model.forward({ inputIds: IDS, hiddenLayers: [layer] })).hidden.get(layer)!;
    for (const coeff of [0.5, 2, -3]) {
      const plan = steeringPlan(model, [{ layer, vector: v, coeff, positions: 'all' }]);
      const steered = (await model.forward({ inputIds: IDS, hiddenLayers: [layer], steer: plan })).hidden.get(layer)!;
      const shift = steered.map((x, i) => x - plain[i]!);
      const expected = new Float32Array(shift.length).map((_, i) => coeff * v[i % H]!);
      expect(maxAbsErr(shift, expected), `coeff ${coeff}`).toBeLessThan(1e-5);
    }
  });

  it('generation with (v, c) equals generation with (c v, 1) and differs from (v, 1)', async () => {
    const { model } = await fixtureModel('llama');
    const H = model.hiddenSize;
    const v = randomVector(H, 5, 1);
    const chat = [[{ role: 'user' as const, content: 'Tell me about the sea.' }]];
    const run = (vector: Float32Array, coeff: number) => generateChat(model, chat, { maxNewTokens: 12, steering: [{ layer: 1, vector, coeff, positions: 'response' }] });
    const c = 6;
    const scaledCoeff = await run(v, c);
    const scaledVector = await run(v.map((x) => c * x), 1);
    const unit = await run(v, 1);
    expect(scaledCoeff.tokens).toEqual(scaledVector.tokens);
    expect(scaledCoeff.tokens).not.toEqual(unit.tokens);
  });
});
