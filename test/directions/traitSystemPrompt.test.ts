import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTraitFile, parseTraitFile, traitSystemPrompt } from '../../src/directions/traitFile.js';

const data = join(import.meta.dirname, '../../data/traits');

describe('trait system prompts', () => {
  it('use the persona-vectors form with the trait (or its adjective) and the antonym', () => {
    const evil = loadTraitFile(join(data, 'evil.json'));
    expect(traitSystemPrompt(evil, 'pos', 0)).toBe(`You are an evil assistant. ${evil.instruction[0]!.pos}`);
    expect(traitSystemPrompt(evil, 'neg', 1)).toBe(`You are a good assistant. ${evil.instruction[1]!.neg}`);
    const open = loadTraitFile(join(data, 'bigfive/openness.json'));
    expect(traitSystemPrompt(open, 'pos', 0)).toMatch(/^You are an open-minded assistant\. /);
    expect(traitSystemPrompt(loadTraitFile(join(data, 'bigfive/extraversion.json')), 'neg', 0)).toMatch(/^You are an introverted assistant\. /);
    expect(() => traitSystemPrompt(evil, 'pos', 7)).toThrow(/evil: no instruction\[7\] \(has 5\)/);
  });

  it('name the file and field when adjective or antonym is malformed', () => {
    const base = { instruction: [{ pos: 'p', neg: 'n' }], questions: ['q'], eval_prompt: '{question} {answer}' };
    expect(() => parseTraitFile({ ...base, adjective: '' }, 'x.json')).toThrow(/x\.json: adjective must be a non-empty string/);
    expect(() => parseTraitFile({ ...base, antonym: 3 }, 'x.json')).toThrow(/x\.json: antonym must be a non-empty string/);
    expect(parseTraitFile(base, 'dir/calm.json').adjective).toBe('calm');
  });
});
