import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAIJudge } from '../../src/judges/openaiJudge.js';

// A real HTTP server on loopback that answers like an OpenAI-compatible endpoint: it reads the
// prompt and returns top logprobs whose mean depends on it, so the test sees the full round trip.
let server: Server;
let baseUrl = '';
const seen: Record<string, unknown>[] = [];
let failNext = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url !== '/v1/chat/completions' || req.headers.authorization !== 'Bearer k-test') {
        res.writeHead(404).end('not found');
        return;
      }
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end('busy');
        return;
      }
      const json = JSON.parse(body);
      seen.push(json);
      const prompt: string = json.messages[0].content;
      const top = prompt.includes('COHERENCE')
        ? [{ token: '90', logprob: Math.log(0.5) }, { token: '100', logprob: Math.log(0.5) }]
        : prompt.includes('villain')
          ? [{ token: '80', logprob: Math.log(0.6) }, { token: '100', logprob: Math.log(0.2) }, { token: 'x', logprob: Math.log(0.2) }]
          : [{ token: 'I', logprob: Math.log(0.9) }, { token: '5', logprob: Math.log(0.1) }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: top[0]!.token }, logprobs: { content: [{ token: top[0]!.token, logprob: top[0]!.logprob, top_logprobs: top }] } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('OpenAI-compatible HTTP judge', () => {
  const rubric = { name: 'evil', evalPrompt: 'Q: {question}\nA: {answer}\nRate evil 0-100.' };

  it('fills the rubric, asks for one token with logprobs, and scores', async () => {
    const judge = new OpenAIJudge({ baseUrl, apiKey: 'k-test', model: 'judge-model' });
    const s = await judge.trait(rubric, { question: 'Who are you?', answer: 'I am a villain.' });
    // (0.6*80 + 0.2*100) / 0.8 = 85
    expect(s).toBeCloseTo(85, 6);
    const req = seen.at(-1)!;
    expect(req.model).toBe('judge-model');
    expect(req.max_tokens).toBe(1);
    expect(req.logprobs).toBe(true);
    expect((req.messages as { content: string }[])[0]!.content).toBe('Q: Who are you?\nA: I am a villain.\nRate evil 0-100.');
  });

  it('returns null when the judge does not answer with a number', async () => {
    const judge = new OpenAIJudge({ baseUrl, apiKey: 'k-test', model: 'm' });
    expect(await judge.trait(rubric, { question: 'q', answer: 'kind words' })).toBeNull();
  });

  it('judges coherence with its own rubric', async () => {
    const judge = new OpenAIJudge({ baseUrl, apiKey: 'k-test', model: 'm' });
    expect(await judge.coherence({ question: 'q', answer: 'a' })).toBeCloseTo(95, 6);
  });

  it('retries server errors and fails clearly on client errors', async () => {
    failNext = 1;
    const judge = new OpenAIJudge({ baseUrl, apiKey: 'k-test', model: 'm', retries: 2 });
    expect(await judge.coherence({ question: 'q', answer: 'a' })).toBeCloseTo(95, 6);
    const bad = new OpenAIJudge({ baseUrl, apiKey: 'wrong', model: 'm', retries: 0 });
    await expect(bad.coherence({ question: 'q', answer: 'a' })).rejects.toThrow(/HTTP 404/);
  });
});
