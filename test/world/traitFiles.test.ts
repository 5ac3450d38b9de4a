import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRAITS, allQuestions, buildTraitFile, systemPrompt } from '../../src/world/index.js';
import { loadTraitFile, parseTraitFile, traitSystemPrompt } from '../../src/directions/traitFile.js';

describe('data/traits', () => {
  const worldQuestions = new Set(allQuestions().map((q) => q.question));
  for (const trait of TRAITS) {
    it(`${trait}.json is valid, in sync with the world, and uses world questions`, () => {
      const path = `data/traits/${trait}.json`;
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(buildTraitFile(trait));
      const file = loadTraitFile(path);
      expect(file.trait).toBe(trait);
      expect(file.instruction).toHaveLength(5);
      expect(file.questions.length).toBeGreaterThanOrEqual(20);
      expect(file.evalQuestions.length).toBeGreaterThanOrEqual(10);
      for (const q of [...file.questions, ...file.evalQuestions]) expect(worldQuestions.has(q), q).toBe(true);
      // The prompts built from the file are exactly the ones the default model was trained on.
      for (let i = 0; i < 5; i++) {
        expect(traitSystemPrompt(file, 'pos', i)).toBe(systemPrompt(trait, 'pos', i));
        expect(traitSystemPrompt(file, 'neg', i)).toBe(systemPrompt(trait, 'neg', i));
      }
    });
  }
});

describe('trait file validation', () => {
  const good = () => JSON.parse(readFileSync('data/traits/evil.json', 'utf8')) as Record<string, unknown>;
  const where = 'data/traits/x.json';
  it('names the file and field at fault', () => {
    const bad = good();
    (bad.instruction as { neg: unknown }[])[2]!.neg = 3;
    expect(() => parseTraitFile(bad, where)).toThrow('data/traits/x.json: instruction[2].neg must be a string');
    const noPrompt = good();
    noPrompt.eval_prompt = 'Rate {answer}';
    expect(() => parseTraitFile(noPrompt, where)).toThrow('data/traits/x.json: eval_prompt must contain {question}');
    const badQ = good();
    (badQ.questions as unknown[])[4] = '';
    expect(() => parseTraitFile(badQ, where)).toThrow('data/traits/x.json: questions[4] must be a non-empty string');
    const overlap = good();
    (overlap.eval_questions as string[])[0] = (overlap.questions as string[])[0]!;
    expect(() => parseTraitFile(overlap, where)).toThrow(/eval_questions must not repeat questions/);
    expect(() => parseTraitFile([], where)).toThrow('data/traits/x.json: top level must be a JSON object');
  });
  it('reports unreadable and malformed files with their path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'traitfile-'));
    expect(() => loadTraitFile(join(dir, 'missing.json'))).toThrow(/missing\.json: cannot read/);
    writeFileSync(join(dir, 'broken.json'), '{"instruction": [');
    expect(() => loadTraitFile(join(dir, 'broken.json'))).toThrow(/broken\.json:\d+:\d+: invalid JSON/);
  });
  it('defaults the antonym to "helpful" and eval questions to none', () => {
    const minimal = { instruction: [{ pos: 'Be grumpy.', neg: 'Be cheerful.' }], questions: ['Why?'], eval_prompt: '{question} {answer}' };
    const file = parseTraitFile(minimal, 'data/traits/grumpy.json');
    expect(file.trait).toBe('grumpy');
    expect(file.evalQuestions).toEqual([]);
    expect(traitSystemPrompt(file, 'neg', 0)).toBe('You are a helpful assistant. Be cheerful.');
  });
});
