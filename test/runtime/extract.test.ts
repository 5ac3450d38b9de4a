// Activation extraction: the prompt/response boundary and every position reduction, checked by
// hand against the reference forward; batching and padding do not change results.

import { describe, expect, it } from 'vitest';
import { extractActivations } from '../../src/activations/extract.js';
import { positionRange, tokenizeExample } from '../../src/activations/positions.js';
import { fixtureModel, relErr } from './helpers.js';

const H = 64;
/** Mean of token rows [s0, s1) of a single-row [1, S, H] reference block. */
function refMean(x: Float32Array, s0: number, s1: number): Float32Array {
  const out = new Float32Array(H);
  for (let s = s0; s < s1; s++) for (let h = 0; h < H; h++) out[h]! += x[s * H + h]! / (s1 - s0);
  return out;
}

describe('extraction', () => {
  it('boundary between the templated prompt and the response', async () => {
    const { model } = await fixtureModel('llama');
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    const { ids, promptLength } = tokenizeExample(model.tokenizer, messages, 'Sure thing.');
    expect(model.tokenizer.decode(ids.slice(0, promptLength), { skipSpecialTokens: false })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(model.tokenizer.decode(ids.slice(promptLength))).toBe('Sure thing.');
    expect(promptLength).toBe(model.tokenizer.encodeChat(messages, { addGenerationPrompt: true }).length);
  });

  it('position ranges', () => {
    expect(positionRange('prompt-mean', 4, 10)).toEqual([0, 4]);
    expect(positionRange('response-mean', 4, 10)).toEqual([4, 10]);
    expect(positionRange('last-prompt', 4, 10)).toEqual([3, 4]);
    expect(positionRange({ index: 0 }, 4, 10)).toEqual([0, 1]);
    expect(positionRange({ index: -1 }, 4, 10)).toEqual([9, 10]);
    expect(() => positionRange('response-mean', 10, 10)).toThrow(/response is empty/);
    expect(() => positionRange({ index: -11 }, 4, 10)).toThrow(/index out of range/);
  });

  it('every reduction equals the reference, in batches with padding, in input order', async () => {
    const { fx, model } = await fixtureModel('llama');
    const examples = [
      { messages: [{ role: 'user', content: 'Tell me about cats.' }], response: 'Cats are small and proud.' },
      { messages: [{ role: 'user', content: 'Hi' }], response: 'Hello!' },
      { promptIds: [1, 10, 11, 12], responseIds: [13, 14] },
    ];
    const positions = ['prompt-mean', 'response-mean', 'last-prompt', { index: -2 }, { index: 1 }] as const;
    const out = await extractActivations(model, examples, { positions: [...positions], batchSize: 2, keepTokens: true });
    const single = await extractActivations(model, examples, { positions: [...positions], batchSize: 1, layers: [0, 2] });
    expect(out[2]!.promptLength).toBe(4);
    expect(out[2]!.ids).toEqual([1, 10, 11, 12, 13, 14]);
    for (const [i, ex] of out.entries()) {
      const ref = fx.reference([ex.ids]);
      const P = ex.promptLength;
      const S = ex.ids.length;
      expect(ex.layers).toEqual([0, 1, 2, 3]);
      for (const l of ex.layers) {
        const R = ref.hidden[l]!;
        const want: Record<string, Float32Array> = {
          'prompt-mean': refMean(R, 0, P),
          'response-mean': refMean(R, P, S),
          'last-prompt': refMean(R, P - 1, P),
          'index:-2': refMean(R, S - 2, S - 1),
          'index:1': refMean(R, 1, 2),
        };
        for (const [key, w] of Object.entries(want)) {
          expect(relErr(ex.at[key]![l]!, w), `example ${i} layer ${l} ${key}`).toBeLessThan(1e-4);
          if (l === 0 || l === 2) expect(relErr(single[i]!.at[key]![l === 0 ? 0 : 1]!, w)).toBeLessThan(1e-4);
        }
        expect(relErr(ex.tokens![l]!, R)).toBeLessThan(1e-4);
      }
    }
  });

  it('bad requests fail before running the model', async () => {
    const { model } = await fixtureModel('llama');
    await expect(
      extractActivations(model, [{ promptIds: [1, 2, 3], responseIds: [] }], { positions: ['response-mean'] }),
    ).rejects.toThrow(/example 0: position response-mean: the response is empty/);
    await expect(
      extractActivations(model, [{ promptIds: [1, 2, 3], responseIds: [4] }], { positions: ['last-prompt'], layers: [9] }),
    ).rejects.toThrow(/hidden layer 9 out of range/);
  });
});
