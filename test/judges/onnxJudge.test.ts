import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxJudge } from '../../src/judges/onnxJudge.js';
import { COHERENCE_PROMPT, fillRubric } from '../../src/judges/judge.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import type { Fixture } from '../fixtures/index.js';
import { fixtureModel } from '../runtime/helpers.js';

let fx: Fixture;
let model: SteerableModel;
beforeAll(async () => ({ fx, model } = await fixtureModel('llama')));
afterAll(() => model.dispose());

describe('local ONNX judge', () => {
  it('reads the top-20 next-token logprobs of the chat-templated rubric, as the reference forward gives them', async () => {
    const judge = new OnnxJudge(model);
    const prompt = fillRubric(COHERENCE_PROMPT, { question: 'Hi?', answer: 'Hello there.' });
    const top = await judge.topLogprobs(prompt);
    expect(top).toHaveLength(20);

    // Independent: reference logits at the last position, log-softmax, top 20.
    const ids = model.tokenizer.encodeChat([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    const V = fx.config.vocabSize;
    const ref = fx.reference([ids]).logits.subarray((ids.length - 1) * V, ids.length * V);
    const max = Math.max(...ref);
    const logZ = max + Math.log(ref.reduce((a, x) => a + Math.exp(x - max), 0));
    const order = Array.from(ref.keys()).sort((a, b) => ref[b]! - ref[a]!).slice(0, 20);
    order.forEach((id, i) => {
      expect(top[i]!.token).toBe(model.tokenizer.decode([id], { skipSpecialTokens: false }));
      expect(top[i]!.logprob).toBeCloseTo(ref[id]! - logZ, 4);
    });
    // Logprobs are normalised over the whole vocabulary: the top 20 hold at most all the mass.
    const mass = top.reduce((a, t) => a + Math.exp(t.logprob), 0);
    expect(mass).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('scores from the number tokens among the top 20, as computed independently from the reference logits', async () => {
    // The fixture is not a judge: for this prompt one number token ("5") makes its top 20, with about 1% of the mass.
    const rubric = { name: 'x', evalPrompt: '{answer}' };
    const input = { question: '', answer: 'Rate 42 42 42' };
    const ids = model.tokenizer.encodeChat([{ role: 'user', content: input.answer }], { addGenerationPrompt: true });
    const V = fx.config.vocabSize;
    const ref = fx.reference([ids]).logits.subarray((ids.length - 1) * V, ids.length * V);
    const max = Math.max(...ref);
    const logZ = max + Math.log(ref.reduce((a, x) => a + Math.exp(x - max), 0));
    const numbers = Array.from(ref.keys()).sort((a, b) => ref[b]! - ref[a]!).slice(0, 20)
      .map((id) => ({ text: model.tokenizer.decode([id], { skipSpecialTokens: false }).trim(), p: Math.exp(ref[id]! - logZ) }))
      .filter((t) => /^\d+$/.test(t.text) && Number(t.text) <= 100);
    expect(numbers.length).toBeGreaterThan(0);
    const numberMass = numbers.reduce((a, t) => a + t.p, 0);
    const expected = numbers.reduce((a, t) => a + Number(t.text) * t.p, 0) / numberMass;
    expect(numberMass).toBeLessThan(0.25);
    // With the paper's floor the judge declines (numbers hold < 0.25); with no floor it gives the weighted mean.
    expect(await new OnnxJudge(model).trait(rubric, input)).toBeNull();
    expect(await new OnnxJudge(model, 0).trait(rubric, input)).toBeCloseTo(expected, 4);
    expect(await new OnnxJudge(model, numberMass * 0.99).trait(rubric, input)).toBeCloseTo(expected, 4);
    expect(await new OnnxJudge(model, numberMass * 1.01).trait(rubric, input)).toBeNull();
  });
});
