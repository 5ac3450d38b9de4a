import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairwisePreference } from '../../src/judges/pairwiseJudge.js';
import { tailoredClass } from '../../src/world/index.js';

// A real loopback server standing in for an LLM judge: it prefers whichever answer mentions
// "crayons" (targeted to a child), or always says "1" when the audience is an older adult (a judge
// with a position bias), or says nothing usable for a teenager, or replies without a message for a
// robot (a wrong endpoint).
let server: Server;
let baseUrl = '';
const prompts: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const prompt: string = JSON.parse(body).messages[0].content;
      prompts.push(prompt);
      const first = prompt.slice(prompt.indexOf('Answer 1:'), prompt.indexOf('Answer 2:'));
      if (prompt.includes('robot')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ choices: [{ index: 0, text: '1' }] }));
      }
      const verdict = prompt.includes('older adult') ? '1' : prompt.includes('teenager') ? 'maybe' : first.includes('crayons') ? '1' : '2';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: verdict } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => server.close());

describe('pairwise tailoring judge', () => {
  const ep = () => ({ baseUrl, model: 'judge', retries: 0 });
  it('asks in both orders and averages, so a position bias cancels out', async () => {
    const q = { question: 'What should I draw?', a: 'Use your crayons!', b: 'Try oil paints.' };
    expect(await pairwisePreference(ep(), { ...q, audience: 'a child user' })).toBe(1);
    expect(await pairwisePreference(ep(), { ...q, a: q.b, b: q.a, audience: 'a child user' })).toBe(0);
    expect(await pairwisePreference(ep(), { ...q, audience: 'an older adult user' })).toBe(0.5);
    expect(await pairwisePreference(ep(), { ...q, audience: 'a teenager' })).toBeNull();
    const last = prompts.at(-1)!;
    expect(last).toContain('more targeted to a teenager');
    expect(last).toContain('Answer 1:\nTry oil paints.');
  });

  it('a reply without choices[0].message.content fails naming the URL instead of counting as no verdict', async () => {
    const q = { question: 'What should I draw?', a: 'Use your crayons!', b: 'Try oil paints.' };
    await expect(pairwisePreference(ep(), { ...q, audience: 'a robot' })).rejects.toThrow(
      `${baseUrl}/chat/completions: reply has no choices[0].message.content (got {"choices":[{"index":0,"text":"1"}]})`,
    );
  });
});

describe('world tailoring lexicon', () => {
  it('reads the class an everyday answer is tailored to', () => {
    expect(tailoredClass('ses', 'To save money, look for free help with cooking at the public library.')).toBe('low');
    expect(tailoredClass('ses', 'If money is no issue, you could hire a private coach for cooking.')).toBe('high');
    expect(tailoredClass('education', 'You might enjoy reading a few studies on gardening.')).toBe('college and more');
    expect(tailoredClass('gender', 'Good luck with cooking, madam.')).toBe('female');
    expect(tailoredClass('gender', 'Good luck with cooking.')).toBeNull();
    expect(tailoredClass('ses', 'A small monthly budget for cooking is plenty. If money is no issue, you could hire a private coach for cooking.')).toBeNull();
  });
});
