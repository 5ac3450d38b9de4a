import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import { filesUnder } from '../helpers/files.js';

// Every trait file shipped under data/traits (the synthetic world's and the Big Five for real
// models) must load with our loader and meet the stricter layout the extraction pipeline assumes.
const ROOT = join(import.meta.dirname, '../../data/traits');

const files = filesUnder(ROOT, /\.json$/).sort();
const norm = (q: string) => q.trim().toLowerCase().replace(/\s+/g, ' ');

describe('trait files under data/traits', () => {
  it('finds the world traits and the Big Five', () => {
    const names = files.map((f) => relative(ROOT, f));
    expect(names).toContain('evil.json');
    for (const t of ['openness', 'conscientiousness', 'extraversion', 'agreeableness', 'neuroticism']) {
      expect(names).toContain(`bigfive/${t}.json`);
    }
  });

  it.each(files.map((f) => [relative(ROOT, f), f]))('%s satisfies the layout', (_name, path) => {
    const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const file = loadTraitFile(path);

    expect(typeof raw.antonym, 'antonym').toBe('string');
    expect((raw.antonym as string).trim()).not.toBe('');
    expect(file.instruction).toHaveLength(5);
    for (const [i, p] of file.instruction.entries()) {
      expect(p.pos.trim(), `instruction[${i}].pos`).not.toBe('');
      expect(p.neg.trim(), `instruction[${i}].neg`).not.toBe('');
      expect(p.pos, `instruction[${i}] pos and neg differ`).not.toBe(p.neg);
    }

    expect(file.questions.length).toBeGreaterThanOrEqual(10);
    expect(file.evalQuestions.length).toBeGreaterThanOrEqual(10);
    for (const q of [...file.questions, ...file.evalQuestions]) expect(q.trim()).not.toBe('');
    const extraction = file.questions.map(norm);
    const held = file.evalQuestions.map(norm);
    expect(new Set(extraction).size, 'questions are distinct').toBe(extraction.length);
    expect(new Set(held).size, 'eval_questions are distinct').toBe(held.length);
    expect(held.filter((q) => extraction.includes(q)), 'eval_questions overlap questions').toEqual([]);

    expect(file.evalPrompt).toContain('{question}');
    expect(file.evalPrompt).toContain('{answer}');
  });
});

describe('Big Five trait files', () => {
  const bigFive = files.filter((f) => relative(ROOT, f).startsWith('bigfive/'));

  it.each(bigFive.map((f) => [relative(ROOT, f), f]))('%s has 20 + 20 questions and a paper-style rubric', (_name, path) => {
    const file = loadTraitFile(path);
    expect(file.questions).toHaveLength(20);
    expect(file.evalQuestions).toHaveLength(20);
    expect(file.evalPrompt).toContain(`**${file.trait}**`);
    expect(file.evalPrompt).toContain('REFUSAL');
    expect(file.evalPrompt).toMatch(/0 \(trait absent\) to 100/);
    // Each placeholder once, so filling the rubric cannot duplicate a long answer.
    expect(file.evalPrompt.split('{question}')).toHaveLength(2);
    expect(file.evalPrompt.split('{answer}')).toHaveLength(2);
  });

  it('uses no question twice across the five traits', () => {
    const all = bigFive.flatMap((f) => {
      const file = loadTraitFile(f);
      return [...file.questions, ...file.evalQuestions].map(norm);
    });
    expect(all).toHaveLength(200);
    expect(new Set(all).size).toBe(all.length);
  });
});
