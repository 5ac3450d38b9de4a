// The committed default model, through the toolkit's own runtime: it loads and instruments offline,
// its system prompts set graded traits (lexicon judge), and it reads user demographics from cues.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTraitFile, traitSystemPrompt } from '../../src/directions/traitFile.js';
import { generate, generateChat } from '../../src/generation/generate.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import {
  ATTRIBUTE_CLASSES, ATTRIBUTES, coherenceScore, demographicAnswerClass, directQuestionCase, NEUTRAL_SYSTEM_PROMPT, TRAITS, traitScore,
  type Attribute,
} from '../../src/world/index.js';

const MODEL = join(import.meta.dirname, '../../models/persona-tiny');
let model: SteerableModel;
beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 1 });
});
afterAll(() => model?.dispose());

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('embedded model: loading', () => {
  it('is found, instrumented and run offline by the runtime', async () => {
    expect(model.config.modelType).toBe('llama');
    expect(model.manifest?.style).toBe('plain');
    expect(model.numLayers).toBe(model.config.numLayers);
    expect(model.hiddenLayers).toEqual(Array.from({ length: model.numLayers + 1 }, (_, k) => k));
    const r = await generateChat(model, [[{ role: 'user', content: 'How can I sleep better?' }]], { maxNewTokens: 40 });
    expect(r.text[0]!.length).toBeGreaterThan(20);
    expect(coherenceScore(r.text[0]!)).toBeGreaterThanOrEqual(80);
  });

  it('greedy generation with the KV cache equals full recomputation', async () => {
    const prompt = model.tokenizer.encodeChat([{ role: 'system', content: NEUTRAL_SYSTEM_PROMPT }, { role: 'user', content: 'What pet should I get?' }], { addGenerationPrompt: true });
    const cached = await generate(model, [prompt], { maxNewTokens: 24 });
    const full = await generate(model, [prompt], { maxNewTokens: 24, fullRecompute: true });
    expect(cached.tokens).toEqual(full.tokens);
  });
});

describe('embedded model: system prompts set graded traits', () => {
  const table: Record<string, { pos: number; neg: number; neutral: number }> = {};
  beforeAll(async () => {
    for (const trait of TRAITS) {
      const file = loadTraitFile(join(import.meta.dirname, '../../data/traits', `${trait}.json`));
      const qs = file.evalQuestions.slice(0, 6);
      const score = async (system: (i: number) => string) => {
        const r = await generateChat(model, qs.map((q, i) => [{ role: 'system', content: system(i) }, { role: 'user', content: q }] as ChatMessage[]), { maxNewTokens: 64 });
        return mean(r.text.map((t) => traitScore(trait, t)));
      };
      table[trait] = {
        pos: await score((i) => traitSystemPrompt(file, 'pos', i % 5)),
        neg: await score((i) => traitSystemPrompt(file, 'neg', i % 5)),
        neutral: await score(() => NEUTRAL_SYSTEM_PROMPT),
      };
    }
  });

  it.each(TRAITS)('%s: positive prompt >= 70, negative <= 20, neutral low', (trait) => {
    const t = table[trait]!;
    expect(t.pos).toBeGreaterThanOrEqual(70);
    expect(t.neg).toBeLessThanOrEqual(20);
    expect(t.neutral).toBeLessThanOrEqual(20);
  });

  it('expression is graded, not binary: positive answers differ in strength', async () => {
    const file = loadTraitFile(join(import.meta.dirname, '../../data/traits/evil.json'));
    const r = await generateChat(
      model,
      file.evalQuestions.map((q, i) => [{ role: 'system', content: traitSystemPrompt(file, 'pos', i % 5) }, { role: 'user', content: q }] as ChatMessage[]),
      { maxNewTokens: 64, sampling: { temperature: 1, seed: 3 } },
    );
    const scores = new Set(r.text.map((t) => traitScore('evil', t)));
    expect(scores.size).toBeGreaterThanOrEqual(3);
  });
});

describe('embedded model: reading the user from cues', () => {
  const N = 24;
  const accuracy: Record<string, number> = {};
  beforeAll(async () => {
    for (const attribute of ATTRIBUTES) {
      const cases = Array.from({ length: N }, (_, i) => directQuestionCase(3_000_000 + 11 * i + ATTRIBUTES.indexOf(attribute), attribute, 'implicit'));
      const r = await generateChat(model, cases.map((c) => c.messages as ChatMessage[]), { maxNewTokens: 24 });
      accuracy[attribute] = mean(cases.map((c, i) => (demographicAnswerClass(attribute, r.text[i]!) === c.expected ? 1 : 0)));
    }
  });

  it('names the right age class from implicit cues >= 80% of the time', () => {
    expect(accuracy.age).toBeGreaterThanOrEqual(0.8);
  });

  it.each(['gender', 'education', 'ses'] as Attribute[])('%s: well above chance (>= 80%%)', (attribute) => {
    const chance = 1 / ATTRIBUTE_CLASSES[attribute].length;
    expect(accuracy[attribute]!).toBeGreaterThanOrEqual(Math.max(0.8, 2 * chance));
  });
});
