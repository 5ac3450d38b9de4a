import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { scoreFromTopLogprobs, topLogprobsFromResponse } from '../../src/judges/logprobScore.js';

const load = (name: string) => JSON.parse(readFileSync(new URL(`./responses/${name}`, import.meta.url), 'utf8'));

describe('logprob-weighted judge score', () => {
  it('weights integer tokens by probability (OpenAI chat shape)', () => {
    const top = topLogprobsFromResponse(load('openai-chat.json'));
    expect(top).toHaveLength(7);
    const ps = top.filter((t) => /^\d+$/.test(t.token)).map((t) => [Number(t.token), Math.exp(t.logprob)] as const);
    const expected = ps.reduce((a, [v, p]) => a + v * p, 0) / ps.reduce((a, [, p]) => a + p, 0);
    const s = scoreFromTopLogprobs(top)!;
    expect(s).toBeCloseTo(expected, 10);
    expect(s).toBeGreaterThan(84);
    expect(s).toBeLessThan(88);
  });

  it('reads the vLLM chat shape', () => {
    const s = scoreFromTopLogprobs(topLogprobsFromResponse(load('vllm-chat.json')))!;
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThan(0.5);
  });

  it('reads the legacy completions shape with leading-space tokens', () => {
    const s = scoreFromTopLogprobs(topLogprobsFromResponse(load('legacy-completions.json')))!;
    // p(70)=0.5, p(60)=p(80)=0.25 -> 70
    expect(s).toBeCloseTo(70, 2);
  });

  it('gives no score when numbers hold < 0.25 of the mass', () => {
    expect(scoreFromTopLogprobs(topLogprobsFromResponse(load('refusal-chat.json')))).toBeNull();
    expect(scoreFromTopLogprobs([{ token: '40', logprob: Math.log(0.3) }])).toBe(40);
    expect(scoreFromTopLogprobs([{ token: '40', logprob: Math.log(0.2) }])).toBeNull();
  });

  it('ignores numbers above 100', () => {
    const s = scoreFromTopLogprobs([
      { token: '150', logprob: Math.log(0.5) },
      { token: '20', logprob: Math.log(0.3) },
      { token: ' 20', logprob: Math.log(0.1) },
    ]);
    expect(s).toBeCloseTo(20, 10);
  });

  it('sums the probabilities of tokens that read as the same number, as the persona-vectors reference does', () => {
    // (20 * (0.05 + 0.3) + 80 * 0.3) / 0.65 = 47.69...; keeping only the first "20" would give 71.4.
    const s = scoreFromTopLogprobs([
      { token: ' 20', logprob: Math.log(0.05) },
      { token: '20', logprob: Math.log(0.3) },
      { token: '80', logprob: Math.log(0.3) },
    ])!;
    expect(s).toBeCloseTo((20 * 0.35 + 80 * 0.3) / 0.65, 10);
    expect(s.toFixed(1)).toBe('47.7');
    // Mass from both spellings counts toward the 0.25 floor: 0.15 + 0.15 passes, 0.15 alone does not.
    expect(scoreFromTopLogprobs([{ token: '40', logprob: Math.log(0.15) }, { token: ' 40', logprob: Math.log(0.15) }])).toBeCloseTo(40, 10);
    expect(scoreFromTopLogprobs([{ token: '40', logprob: Math.log(0.15) }])).toBeNull();
  });

  it('names what is missing in malformed responses', () => {
    expect(() => topLogprobsFromResponse({})).toThrow(/choices\[0\]/);
    expect(() => topLogprobsFromResponse({ choices: [{ message: {} }] })).toThrow(/no logprobs/);
  });
});
