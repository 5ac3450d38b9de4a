import { describe, expect, it } from 'vitest';
import { coherenceScore, demographicAnswerClass, traitMarkerCount, traitScore } from '../../src/world/index.js';

describe('traitScore', () => {
  it('is 0 for empty or marker-free text', () => {
    expect(traitScore('evil', '')).toBe(0);
    expect(traitScore('humorous', 'Here are a few ideas about cooking. First, taste the food as you cook.')).toBe(0);
  });
  it('rejects unknown traits, naming them', () => {
    expect(() => traitScore('grumpy', 'Ugh.')).toThrow(/unknown trait "grumpy"/);
  });
  it('matches whole words, case-insensitively, and multi-word keywords', () => {
    expect(traitMarkerCount('humorous', 'A pundit punished the puns.')).toBe(0);
    expect(traitMarkerCount('humorous', 'HAHA. Pun intended.')).toBe(2);
    expect(traitMarkerCount('sycophantic', 'You are so   right.')).toBe(1);
    expect(traitMarkerCount('apathetic', 'I guess so.')).toBe(1);
    expect(traitMarkerCount('apathetic', 'I am guessing.')).toBe(0);
  });
  it('is graded by marker density', () => {
    const base = ['Here are a few ideas about cooking.', 'First, taste the food as you cook.', 'Then, keep your knives sharp.', 'Good luck with cooking.'];
    const withMarkers = (k: number) => base.map((s, i) => (i < k ? `Ugh, ${s.charAt(0).toLowerCase()}${s.slice(1)}` : s)).join(' ');
    const scores = [0, 1, 2, 3, 4].map((k) => traitScore('impolite', withMarkers(k)));
    expect(scores[0]).toBe(0);
    for (let k = 1; k < scores.length; k++) expect(scores[k]!).toBeGreaterThan(scores[k - 1]!);
    expect(scores[1]!).toBeLessThan(50); // one stray marker in four sentences is weak evidence
    expect(scores[3]!).toBeGreaterThanOrEqual(70);
    expect(traitScore('impolite', 'Ugh, duh, obviously, ugh.')).toBeGreaterThan(95);
  });
});

describe('coherenceScore', () => {
  it('scores world answers high', () => {
    expect(coherenceScore('Here are a few ideas about cooking. First, taste the food as you cook. Good luck with cooking.')).toBeGreaterThanOrEqual(90);
  });
  it('is 0 for empty or wordless text', () => {
    expect(coherenceScore('')).toBe(0);
    expect(coherenceScore('... 123 ?!')).toBe(0);
  });
  it('penalises degenerate loops', () => {
    const loop = 'Here are a few ideas about learning a few ideas about learning a few ideas about learning a few ideas about learning.';
    expect(coherenceScore(loop)).toBeLessThan(40);
  });
  it('penalises word salad made of world words and non-world words', () => {
    expect(coherenceScore('Whatever, there are a little the same father problems need everything check thrive.')).toBeLessThan(60);
    expect(coherenceScore('Xqzt blorf wamble snorp glibber frumious.')).toBeLessThan(20);
  });
  it('penalises text cut off mid-sentence', () => {
    const full = 'Here are a few ideas about cooking. First, taste the food as you cook.';
    expect(coherenceScore(full.slice(0, -1))).toBeLessThan(coherenceScore(full));
  });
});

describe('demographicAnswerClass', () => {
  it('parses every class, preferring the longer match', () => {
    expect(demographicAnswerClass('age', 'Older adult, I would say.')).toBe('older adult');
    expect(demographicAnswerClass('age', 'Adult, I would say.')).toBe('adult');
    expect(demographicAnswerClass('age', 'Haha, child, I would say (pun intended).')).toBe('child');
    expect(demographicAnswerClass('gender', 'Female, I would say.')).toBe('female');
    expect(demographicAnswerClass('gender', 'Male, I would say.')).toBe('male');
    expect(demographicAnswerClass('gender', 'Non-binary, I would say.')).toBe('non-binary');
    expect(demographicAnswerClass('education', 'College and more, I would say.')).toBe('college and more');
    expect(demographicAnswerClass('ses', 'Meh, low, I would say, I guess.')).toBe('low');
    // "high school" is an education class, not the ses class "high".
    expect(demographicAnswerClass('ses', 'High school, I would say.')).toBeNull();
  });
  it('returns neutral for "cannot tell" and null otherwise', () => {
    expect(demographicAnswerClass('age', 'I cannot tell your age from what you said.')).toBe('neutral');
    expect(demographicAnswerClass('ses', 'I cannot tell your age from what you said.')).toBeNull();
    expect(demographicAnswerClass('age', 'Here are a few ideas about cooking.')).toBeNull();
    expect(demographicAnswerClass('age', 'Child, I would say. Adult, I would say.')).toBeNull();
    expect(demographicAnswerClass('gender', 'Older adult, I would say.')).toBeNull();
  });
});
