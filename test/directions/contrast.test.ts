// Contrast directions (refusal direction, user-persona vectors) against a hand computation from
// forward passes: mean last-prompt-token state of one prompt set minus the other, per layer.

import { describe, expect, it } from 'vitest';
import { meanDifference, personaSteeringVector, refusalDirection } from '../../src/directions/contrast.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import { fixtureModel, maxAbsErr } from '../runtime/helpers.js';

const chat = (text: string): ChatMessage[] => [{ role: 'user', content: text }];

describe('contrast directions', () => {
  it('are the difference of mean last-prompt states, per layer, for sets of any length', async () => {
    const { model } = await fixtureModel('llama');
    const pos = [chat('I am a locksmith. Hi'), chat('I repair locks. How are you today?')];
    const neg = [chat('Hello. Hi'), chat('Good morning.'), chat('Hey. How are you today, friend?')];
    const H = model.hiddenSize;
    const mean = async (set: ChatMessage[][]): Promise<Float64Array[]> => {
      const acc = [...Array(model.numLayers + 1)].map(() => new Float64Array(H));
      for (const m of set) {
        const ids = model.tokenizer.encodeChat(m, { addGenerationPrompt: true });
        const r = await model.forward({ inputIds: [ids], hiddenLayers: 'all' });
        for (let l = 0; l <= model.numLayers; l++) {
          const h = r.hidden.get(l)!;
          for (let i = 0; i < H; i++) acc[l]![i]! += h[(ids.length - 1) * H + i]! / set.length;
        }
      }
      return acc;
    };
    const [mp, mn] = [await mean(pos), await mean(neg)];
    const d = await meanDifference(model, pos, neg);
    expect(d).toHaveLength(model.numLayers + 1);
    d.forEach((v, l) => expect(maxAbsErr(v, mp[l]!.map((x, i) => x - mn[l]![i]!)), `layer ${l}`).toBeLessThan(1e-5));

    const pairs = pos.map((p, i) => ({ pos: p, neg: neg[i]! }));
    const v = await personaSteeringVector(model, pairs);
    expect(maxAbsErr(v[2]!, (await meanDifference(model, pairs.map((x) => x.pos), pairs.map((x) => x.neg)))[2]!)).toBe(0);
    const r = await refusalDirection(model, [...pos.map((messages) => ({ messages, refused: true })), ...neg.map((messages) => ({ messages, refused: false }))]);
    expect(maxAbsErr(r[1]!, d[1]!)).toBe(0);
    await expect(refusalDirection(model, neg.map((messages) => ({ messages, refused: false })))).rejects.toThrow(/refusal direction: needs prompts on both sides \(got 0 and 3\)/);
  });
});
