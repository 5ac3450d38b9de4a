// Steering that overflows the residual stream stops generation and extraction with what caused it,
// instead of answering "" with exit 0. In float32 a residual of norm >= 2^64 cannot be normalised
// (its sum of squares is Infinity): the blocks and the final norm output zeros and every logit is
// equal. In float16 the values themselves become Infinity and the logits NaN.

import { describe, expect, it } from 'vitest';
import { extractActivations } from '../../src/activations/extract.js';
import { generate, generateChat } from '../../src/generation/generate.js';
import { checkLogits, interventionCause, MAX_RESIDUAL_NORM } from '../../src/model/overflow.js';
import { rowwiseSteering } from '../../src/model/rowSteering.js';
import { steeringPlan, type Steering } from '../../src/model/steering.js';
import { fixtureModel, randomVector } from './helpers.js';

const chat = [[{ role: 'user' as const, content: 'Tell me about the sea.' }]];

/** Unit-norm v scaled to |v| = n. */
function withNorm(v: Float32Array, n: number): Float32Array {
  const s = Math.hypot(...v);
  return v.map((x) => (x / s) * n);
}

describe('overflowing steering', () => {
  it('two steering vectors each within bounds, together past 2^64, stop generation at step 0 naming both layers and coefficients', async () => {
    const { model } = await fixtureModel('llama');
    const v = withNorm(randomVector(model.hiddenSize, 3), 0.75 * MAX_RESIDUAL_NORM);
    const steering: Steering = [
      { layer: 1, vector: v, coeff: 1, positions: 'all' },
      { layer: 2, vector: v, coeff: 1, positions: 'all' },
    ];
    await expect(generateChat(model, chat, { maxNewTokens: 4, steering })).rejects.toThrow(
      /^steering at layers 1 \(coeff 1, \|v\| 1\.38e\+19\), 2 \(coeff 1, \|v\| 1\.38e\+19\) made the logits degenerate at step 0 \(every token scores .*: the residual stream overflowed float32 before the final norm\); use a smaller coefficient/,
    );
    // One of them alone is fine: the check does not fire on large but representable residuals.
    const one = await generateChat(model, chat, { maxNewTokens: 4, steering: steering.slice(0, 1) });
    expect(one.tokens[0]!.length).toBeGreaterThan(0);
  });

  it('with rowFailed, an overflowing row of a batch ends alone and the other rows answer exactly as alone', async () => {
    const { model } = await fixtureModel('llama');
    const v = withNorm(randomVector(model.hiddenSize, 3), 0.75 * MAX_RESIDUAL_NORM);
    const overflow: Steering = [1, 2].map((layer) => ({ layer, vector: v, coeff: 1, positions: 'all' as const }));
    const prompts = [[1, 5, 6], [1, 7, 8, 9]];
    const failed: [number, string][] = [];
    const plan = rowwiseSteering(model, (b) => (b === 1 ? overflow : []), prompts.map((p) => p.length));
    const r = await generate(model, prompts, { maxNewTokens: 6, steerPlan: plan, rowFailed: (b, e) => failed.push([b, e.what]) });
    expect(failed).toEqual([[1, expect.stringMatching(/^made the logits degenerate at step 0 \(/)]]);
    expect(r.tokens[1]).toEqual([]);
    const alone = await generate(model, prompts.slice(0, 1), { maxNewTokens: 6 });
    expect(r.tokens[0]).toEqual(alone.tokens[0]);
    expect(r.tokens[0]!.length).toBeGreaterThan(0);
    // Without it the whole call fails, naming the row.
    await expect(generate(model, prompts, { maxNewTokens: 6, steerPlan: plan })).rejects.toThrow(/^the steering plan made the logits degenerate at step 0, row 1 /);
  });

  it('the same overflow stops extraction, naming the hidden state, the example and the steering', async () => {
    const { model } = await fixtureModel('llama');
    const v = withNorm(randomVector(model.hiddenSize, 3), 0.75 * MAX_RESIDUAL_NORM);
    const examples = [{ promptIds: [1, 5, 6], responseIds: [7, 8] }];
    await expect(
      extractActivations(model, examples, { positions: ['response-mean'], steering: [1, 2].map((layer) => ({ layer, vector: v, coeff: 1, positions: 'all' as const })) }),
    ).rejects.toThrow(/^steering at layers 1 \(coeff 1, .*\), 2 \(.*\) made hidden_states\.2 overflow at response-mean of example 0 \(\|h\| 2\.\d+e\+19; a float32 norm layer overflows above 1\.84e\+19\)/);
  });

  it('a float16 graph whose steered residual turns Infinity fails on NaN logits', async () => {
    const { model } = await fixtureModel('llama-fp16');
    const v = withNorm(randomVector(model.hiddenSize, 3), 1e6); // elements far above float16's 65504
    await expect(generate(model, [[1, 5, 6]], { maxNewTokens: 2, steering: [{ layer: 1, vector: v, coeff: 1 }] })).rejects.toThrow(
      /^steering at layer 1 \(coeff 1, \|v\| 1e\+6\) made the logits non-finite at step 0 \(value NaN\)/,
    );
  });

  it('a rowwise plan and a model that overflows by itself are named as such', () => {
    const nan = new Float32Array([0.1, Number.NaN, 0.3]);
    expect(() => checkLogits(nan, 0, 3, () => interventionCause(undefined, undefined, true), 'at step 3, row 1')).toThrow(
      /^the steering plan made the logits non-finite at step 3, row 1 \(value NaN\)/,
    );
    expect(() => checkLogits(nan, 0, 3, () => interventionCause(), 'at step 0')).toThrow(/^the model itself \(no steering\) made the logits non-finite at step 0 \(value NaN\); the model overflows/);
    expect(() => checkLogits(nan, 0, 1, () => interventionCause(), 'at step 0')).not.toThrow(); // only the row asked about
  });

  it('the API refuses a single steering vector past the bound by its API name, before any forward call', () => {
    const model = { hiddenSize: 4, numLayers: 2, steerableLayers: [1, 2] };
    const vector = new Float32Array([1e20, 0, 0, 0]);
    expect(() => steeringPlan(model, [{ layer: 2, vector, coeff: 2 }])).toThrow(/^steering\[0\] \(layer 2\): \|coeff \* vector\| is 2e\+20; float32 activations overflow above 1\.84e\+19$/);
    expect(() => steeringPlan(model, [{ layer: 2, vector: new Float32Array([1, Number.POSITIVE_INFINITY, 0, 0]), coeff: 1 }])).toThrow(/^steering\[0\] \(layer 2\): vector holds a non-finite value$/);
  });
});
