// `persona serve` as a server under pressure, over real HTTP on the real embedded model: the
// legacy /v1/completions against generateText, many streaming clients at once (each compared with
// the library's own answer), bounded batches and a full queue, size limits, the Host check against
// DNS rebinding, one log line for every request, and answers cut when the shutdown grace ends.
// The steering direction is the model's own embedding of a word (no built-ins to compute).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, generateChat, generateText } from '../../src/generation/generate.js';
import { generateRemote, parseGeneratorSpec } from '../../src/generation/remote.js';
import { readManifest, RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { Steering } from '../../src/model/steering.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import { Directions } from '../../src/server/controls.js';
import { runClients } from '../../src/server/loadClients.js';
import { DEFAULT_LIMITS, startServer, type RunningServer, type ServeOptions } from '../../src/server/server.js';
import { embeddingOf, MODEL, post, rawRequest, streamChat, streamedText } from './helpers.js';

let model: SteerableModel;
let directions: Directions;
let vector: Float32Array;
let main: { running: RunningServer; run: RunDir };
const LIMITS = { maxBody: 4096, maxTokens: 64, maxMessages: 4, maxPromptTokens: 48 };
const question: ChatMessage[] = [{ role: 'user', content: 'How can I sleep better?' }];
const QUESTIONS = ['How can I sleep better?', 'What pet should I get?', 'How do I learn to cook?', 'Any tips for saving money?', 'How can I stay fit?', 'What should I read next?', 'How do I make friends?', 'How can I focus?'];

async function serve(o: Partial<ServeOptions> = {}): Promise<{ running: RunningServer; run: RunDir }> {
  const run = RunDir.open(join(mkdtempSync(join(tmpdir(), 'serving-')), 'run'), 'serve', {});
  const running = await startServer(model, directions, run, {
    host: '127.0.0.1', port: 0, modelId: 'persona-tiny', limits: LIMITS, batch: { maxBatch: 4, maxQueue: 64 }, startup: { steer: [], probe: [] }, ...o,
  });
  return { running, run };
}

beforeAll(async () => {
  model = await loadModel(MODEL);
  vector = await embeddingOf(model, ' kind');
  directions = new Directions(model, [{ name: 'kind', layer: 3, vector }], [], { layers: [3, 4], strength: 1, direction: 'centroid' });
  main = await serve();
});
afterAll(async () => {
  await main?.running.close();
  if (!released) await model?.dispose();
});
let released = false;

const url = () => main.running.url;
const steerKind = (coeff: number) => (coeff ? [{ layer: 3, vector, coeff, positions: 'response' as const }] : undefined);
type LogLine = { method: string; path: string; status: number; ms: number; error?: string; request?: any; response?: any };
const lines = (run: RunDir = main.run) => run.records<LogLine>('requests');

describe('/v1/completions (legacy)', () => {
  const prompt = 'Once upon a time, the little dog';
  const complete = (body: Record<string, unknown>) => post(`${url()}/v1/completions`, { model: 'persona-tiny', prompt, max_tokens: 16, temperature: 0, ...body });

  it('continues the raw prompt as generateText does: greedy, seeded, steered, streamed', async () => {
    const greedy = await complete({});
    expect(greedy.status).toBe(200);
    expect(greedy.json.object).toBe('text_completion');
    const direct = await generateText(model, [prompt], { maxNewTokens: 16 });
    expect(greedy.json.choices[0].text).toBe(direct.text[0]);
    expect(greedy.json.choices[0].finish_reason).toBe(direct.finishReason[0]);
    expect(greedy.json.usage).toEqual({ prompt_tokens: model.tokenizer.encodeRaw(prompt).length, completion_tokens: direct.tokens[0]!.length, total_tokens: model.tokenizer.encodeRaw(prompt).length + direct.tokens[0]!.length });
    // No chat template: the reply differs from the chat endpoint's for the same words.
    const chat = await post(`${url()}/v1/chat/completions`, { messages: [{ role: 'user', content: prompt }], max_tokens: 16, temperature: 0 });
    expect(chat.json.choices[0].message.content).not.toBe(greedy.json.choices[0].text);

    const sampled = await complete({ temperature: 1.5, top_p: 0.8, seed: 7 });
    const directSampled = await generateText(model, [prompt], { maxNewTokens: 16, sampling: { temperature: 1.5, topP: 0.8, rowSeeds: [7] } });
    expect(sampled.json.choices[0].text).toBe(directSampled.text[0]);
    expect(sampled.json.choices[0].text).not.toBe(greedy.json.choices[0].text);

    const steered = await complete({ persona: { steer: [{ trait: 'kind', coeff: 12 }] } });
    const directSteered = await generateText(model, [prompt], { maxNewTokens: 16, steering: steerKind(12) });
    expect(steered.json.choices[0].text).toBe(directSteered.text[0]);
    expect(steered.json.choices[0].text).not.toBe(greedy.json.choices[0].text);

    const r = await fetch(`${url()}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true } }) });
    const payloads = (await r.text()).split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
    expect(payloads.at(-1)).toBe('[DONE]');
    const events = payloads.slice(0, -1).map((p) => JSON.parse(p));
    expect(events.every((e) => e.object === 'text_completion')).toBe(true);
    expect(events.map((e) => e.choices[0]?.text ?? '').join('')).toBe(direct.text[0]);
    expect(events.at(-2).choices[0].finish_reason).toBe(direct.finishReason[0]);
    expect(events.at(-1).usage).toEqual(greedy.json.usage);
  });

  it('reports legacy logprobs: the log-softmax of the next-token logits, with text offsets', async () => {
    const { json } = await complete({ max_tokens: 3, logprobs: 5 });
    const lp = json.choices[0].logprobs;
    expect(lp.tokens).toHaveLength(3);
    expect(lp.tokens.join('')).toBe(json.choices[0].text);
    expect(lp.text_offset[0]).toBe(0);
    expect(lp.text_offset[1]).toBe(lp.tokens[0].length);
    // Independent reference: a full sort and log-softmax of the first position's logits.
    const f = await model.forward({ inputIds: [model.tokenizer.encodeRaw(prompt)], lastLogitsOnly: true, useCache: false });
    const logits = Array.from(f.logits);
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
    const top = logits.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
    const expected = Object.fromEntries(top.map(([x, i]) => [model.tokenizer.decode([i], { skipSpecialTokens: false }), x - logZ]));
    expect(Object.keys(lp.top_logprobs[0]).sort()).toEqual(Object.keys(expected).sort());
    for (const [t, v] of Object.entries(expected)) expect(lp.top_logprobs[0][t]).toBeCloseTo(v, 9);
    expect(lp.token_logprobs[0]).toBeCloseTo(top[0]![0] - logZ, 9);
  });

  it('serves the remote-generator path: templated prompts sent to /completions get the local answers', async () => {
    const gen = parseGeneratorSpec(`openai:${url()}/v1`)!;
    const convs = [question, [{ role: 'user' as const, content: 'What pet should I get?' }]];
    const texts = convs.map((c) => model.tokenizer.applyChatTemplate(c, { addGenerationPrompt: true }));
    const remote = await generateRemote(gen, texts.map((text) => ({ prompt: { text }, maxNewTokens: 16, temperature: 0, topP: 1, seed: 0 })));
    const local = await generateChat(model, convs, { maxNewTokens: 16 });
    expect(remote.text).toEqual(local.text);
    expect(gen.model).toBe('persona-tiny');
  });

  it('refuses what it does not serve, naming the field', async () => {
    expect((await complete({ prompt: '' })).json.error.message).toMatch(/^prompt:/);
    expect((await complete({ echo: true })).json.error.message).toMatch(/^echo:/);
    expect((await complete({ logprobs: 21 })).json.error.message).toMatch(/^logprobs: 21/);
    expect((await complete({ messages: question })).json.error.message).toMatch(/^messages: unsupported field/);
  });
});

describe('many clients at once', () => {
  it('serves 32 concurrent streaming clients in waves of 4, each exactly the library\'s own answer to its request', async () => {
    const before = { ...main.running.ctx.batcher.stats };
    const COEFFS = [0, 3, -3, 6];
    const requests = Array.from({ length: 32 }, (_, i) => ({ q: QUESTIONS[i % 8]!, coeff: COEFFS[Math.floor(i / 8)]!, maxTokens: 8 + 2 * (i % 5) }));
    const bodies = requests.map((r) => ({ messages: [{ role: 'user', content: r.q }], temperature: 0, max_tokens: r.maxTokens, ...(r.coeff ? { persona: { steer: [{ trait: 'kind', coeff: r.coeff }] } } : {}) }));
    const expected: string[] = [];
    for (const r of requests) expected.push((await generateChat(model, [[{ role: 'user', content: r.q }]], { maxNewTokens: r.maxTokens, steering: steerKind(r.coeff) })).text[0]!);
    // Requests differ: an answer handed to the wrong client would not match.
    expect(new Set(expected).size).toBeGreaterThan(24);
    const load = await runClients(url(), bodies, expected);
    expect(load.results.filter((r) => !r.ok).map((r) => `${r.client}: ${r.error}`)).toEqual([]);
    const stats = main.running.ctx.batcher.stats;
    expect(stats.rows - before.rows).toBe(32);
    expect(stats.largestWave).toBe(4);
    expect(stats.waves - before.waves).toBeGreaterThanOrEqual(8);
  });

  it('never runs more rows than --max-batch, and answers 503 once the queue is full', async () => {
    const two = await serve({ batch: { maxBatch: 2, maxQueue: 64 } });
    const bodies = QUESTIONS.slice(0, 6).map((q) => ({ messages: [{ role: 'user', content: q }], temperature: 0, max_tokens: 12 }));
    const expected: string[] = [];
    for (const b of bodies) expected.push((await generateChat(model, [b.messages as ChatMessage[]], { maxNewTokens: 12 })).text[0]!);
    const load = await runClients(two.running.url, bodies, expected);
    expect(load.failed).toBe(0);
    expect(two.running.ctx.batcher.stats).toMatchObject({ largestWave: 2, rows: 6 });
    expect(two.running.ctx.batcher.stats.waves).toBeGreaterThanOrEqual(3);
    await two.running.close();

    // One row running, one waiting, the rest refused.
    const one = await serve({ batch: { maxBatch: 1, maxQueue: 1 } });
    const replies = await Promise.all(QUESTIONS.slice(0, 5).map((q) => post(`${one.running.url}/v1/chat/completions`, { messages: [{ role: 'user', content: q }], temperature: 0, max_tokens: 24 })));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    const busy = replies.find((r) => r.status === 503)!;
    expect(busy.json.error).toMatchObject({ type: 'server_error', code: 503 });
    expect(busy.json.error.message).toMatch(/--max-queue/);
    await one.running.close();
    expect(lines(one.run).filter((l) => l.status === 503).length).toBe(statuses.filter((s) => s === 503).length);
  });
});

describe('limits', () => {
  const chat = (body: Record<string, unknown>) => post(`${url()}/v1/chat/completions`, { messages: question, temperature: 0, max_tokens: 8, ...body });

  it('refuses prompts, message lists and lengths over the limits, naming the flag', async () => {
    const long = await chat({ messages: [{ role: 'user', content: 'sleep '.repeat(60) }] });
    expect(long.status).toBe(400);
    expect(long.json.error.message).toMatch(/^messages: the prompt is \d+ tokens, at most 48 \(--max-prompt-tokens\)/);
    const many = await chat({ messages: Array.from({ length: 5 }, () => ({ role: 'user', content: 'hi' })) });
    expect(many.status).toBe(400);
    expect(many.json.error.message).toBe('messages: 5 messages, at most 4 (--max-messages)');
    expect((await chat({ messages: Array.from({ length: 4 }, () => ({ role: 'user', content: 'hi' })) })).status).toBe(200);
    const over = await chat({ max_completion_tokens: 65 });
    expect(over.status).toBe(400);
    expect(over.json.error.message).toMatch(/^max_completion_tokens: 65 is not an integer in 1\.\.64 \(--max-tokens\)/);
    const longPrompt = await post(`${url()}/v1/completions`, { prompt: 'dog '.repeat(100), max_tokens: 8 });
    expect(longPrompt.json.error.message).toMatch(/^prompt: the prompt is \d+ tokens, at most 48 \(--max-prompt-tokens\)/);
  });

  it("refuses a prompt whose answer would run past the model's context", async () => {
    const wide = await serve({ limits: { ...DEFAULT_LIMITS, maxTokens: 512 } });
    const context = model.config.maxPositions!;
    const content = 'sleep '.repeat(context - 60);
    const n = model.tokenizer.encodeChat([{ role: 'user', content }], { addGenerationPrompt: true }).length;
    const r = await post(`${wide.running.url}/v1/chat/completions`, { messages: [{ role: 'user', content }], max_tokens: context - n + 1 });
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe(`messages: the prompt (${n} tokens) and max_tokens (${context - n + 1}) exceed the model's context of ${context} positions`);
    await wide.running.close();
  });

  it('takes max_completion_tokens over max_tokens', async () => {
    const r = await chat({ max_tokens: 2, max_completion_tokens: 5 });
    const direct = await generateChat(model, [question], { maxNewTokens: 5 });
    expect(r.json.usage.completion_tokens).toBe(5);
    expect(r.json.choices[0].message.content).toBe(direct.text[0]);
  });

  it('refuses a body over --max-body with 413, also one sent in chunks without a length', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(6000) }] });
    const declared = await fetch(`${url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(declared.status).toBe(413);
    const pieces = body.match(/.{1,1000}/g)!;
    const chunked = await rawRequest(url(), { path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, chunks: pieces });
    expect(chunked.status).toBe(413);
    expect(chunked.json.error.message).toBe('request body is over the limit of 4096 bytes (--max-body)');
    // A body in chunks under the limit is read whole.
    const small = JSON.stringify({ messages: question, max_tokens: 4, temperature: 0 });
    const ok = await rawRequest(url(), { path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, chunks: small.match(/.{1,20}/g)! });
    expect(ok.status).toBe(200);
    expect(lines().filter((l) => l.status === 413).length).toBeGreaterThanOrEqual(2);
  });
});

describe('the Host check and the request log', () => {
  it('refuses a Host that is not loopback (DNS rebinding) with 403, on every route', async () => {
    const port = new URL(url()).port;
    for (const path of ['/v1/models', '/', '/api/info']) {
      const r = await rawRequest(url(), { path, headers: { host: `evil.example:${port}` } });
      expect(r.status, path).toBe(403);
      expect(r.json.error.message).toMatch(/Host 'evil\.example:\d+' refused/);
    }
    const post = await rawRequest(url(), { path: '/v1/chat/completions', headers: { host: 'evil.example', 'content-type': 'application/json' }, chunks: [JSON.stringify({ messages: question, max_tokens: 4 })] });
    expect(post.status).toBe(403);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'LOCALHOST']) expect((await rawRequest(url(), { path: '/v1/models', headers: { host } })).status, host).toBe(200);
    expect(lines().filter((l) => l.status === 403).length).toBe(4);
  });

  it('logs every request with method, path, status and milliseconds: models, dashboard pages, refusals', async () => {
    const before = lines().length;
    for (const path of ['/v1/models', '/', '/api/info', '/assets/plotly.min.js', '/nothing']) await (await fetch(`${url()}${path}`)).arrayBuffer();
    const got = lines().slice(before);
    expect(got.map((l) => [l.method, l.path, l.status])).toEqual([
      ['GET', '/v1/models', 200], ['GET', '/', 200], ['GET', '/api/info', 200], ['GET', '/assets/plotly.min.js', 200], ['GET', '/nothing', 404],
    ]);
    for (const l of got) expect(l.ms).toBeGreaterThanOrEqual(0);
    expect(got.at(-1)!.error).toBe('GET /nothing: not found');
  });
});

describe('shutdown', () => {
  it('cuts answers still running when the grace ends, and logs them as cut', async () => {
    const s = await serve({ graceMs: 1 });
    const full = await generateChat(model, [question], { maxNewTokens: 64 });
    const res = await fetch(`${s.running.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: question, max_tokens: 64, temperature: 0, stream: true }) });
    const whole = post(`${s.running.url}/v1/chat/completions`, { messages: question, max_tokens: 64, temperature: 0 });
    const reader = res.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    // Both answers are under way (one running, or both, the other waiting) when the server stops.
    const stats = s.running.ctx.batcher.stats;
    while (stats.running + stats.waiting < 2) await new Promise((r) => setTimeout(r, 2));
    const closed = s.running.close();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await closed;
    const payloads = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => JSON.parse(b.slice(6)));
    expect(payloads.at(-1).error.message).toMatch(/stopped before this answer finished/);
    // Not streamed: 503, saying why.
    const refused = await whole;
    expect(refused.status).toBe(503);
    expect(refused.json.error.message).toMatch(/stopped before this answer finished/);
    const logged = lines(s.run);
    expect(logged).toHaveLength(2);
    for (const line of logged) {
      expect(line.response.finish_reason).toBe('shutdown');
      expect(line.response.usage.completion_tokens).toBeLessThan(full.tokens[0]!.length);
      expect(full.text[0]!.startsWith(line.response.text)).toBe(true);
    }
    expect(logged.map((l) => l.status).sort()).toEqual([200, 503]);
    expect(readManifest(s.run.dir)).toMatchObject({ status: 'done', summary: { cutAtShutdown: true, requests: { requests: 2 } } });
  });
});

describe("one request's steering never fails another's", () => {
  const chat = (body: Record<string, unknown>) => post(`${url()}/v1/chat/completions`, { messages: question, temperature: 0, max_tokens: 16, ...body });
  /** One-hot, so that 160 numbers stay a short body. */
  const spike = (x: number) => Array.from({ length: model.hiddenSize }, (_, i) => (i === 0 ? x : 0));

  it('refuses steering out of range when it arrives, naming the field', async () => {
    const bad = async (steer: unknown[], message: RegExp) => {
      const r = await chat({ persona: { steer } });
      expect(r.status, JSON.stringify(steer)).toBe(400);
      expect(r.json.error.message).toMatch(message);
    };
    await bad([{ trait: 'kind', coeff: 2e6 }], /^persona\.steer\[0\]\.coeff: 2000000 is out of range \(expected a number from -1000000 to 1000000\)$/);
    // Finite as JSON, but past float32 (3.4e38): Infinity once read.
    await bad([{ trait: 'kind', coeff: 1 }, { vector: spike(1e39), layer: 3, coeff: 1 }], /^persona\.steer\[1\] \(layer 3\): vector holds a non-finite value$/);
    await bad([{ vector: spike(1e30), layer: 3, coeff: 1 }], /^persona\.steer\[0\] \(layer 3\): \|coeff \* vector\| is 1e\+30; float32 activations overflow above 1\.84e\+19$/);
    await bad([{ vector: spike(1e19), layer: 4, coeff: 2 }], /^persona\.steer\[0\] \(layer 4\): \|coeff \* vector\| is 2e\+19; float32 activations overflow above 1\.84e\+19$/);
    await bad(Array.from({ length: 31 }, () => ({ trait: 'kind', coeff: 1 })), /^persona: steering: 31 vectors at layer 3; at most 30 per layer$/);
    // The dashboard's sliders, by the same rule.
    const { json: session } = await post(`${url()}/api/sessions`, {});
    const slider = await post(`${url()}/api/sessions/${session.id}/controls`, { steer: { kind: -2e6 } });
    expect(slider.status).toBe(400);
    expect(slider.json.error.message).toBe('controls.steer.kind: -2000000 is out of range (expected a number from -1000000 to 1000000)');
    const pin = await post(`${url()}/api/sessions/${session.id}/controls`, { pinStrength: 1e7 });
    expect(pin.json.error.message).toBe('controls.pinStrength: 10000000 is out of range (expected a number from -1000000 to 1000000)');
  });

  it('an overflow inside a wave fails only the row that caused it: the other answer is the library\'s own', async () => {
    const batcher = main.running.ctx.batcher;
    const before = { ...batcher.stats };
    // Each vector is within bounds; at layers 3 and 4 together they overflow the residual.
    const steer = [3, 4].map((layer) => ({ vector: spike(0.75 * 2 ** 64), layer, coeff: 1 }));
    // Hold the model until both requests wait, so they share one wave.
    let release!: () => void;
    const held = batcher.withModel(() => new Promise<void>((r) => (release = r)));
    const plain = streamChat(url(), { messages: question, temperature: 0, max_tokens: 16 });
    const extreme = chat({ persona: { steer } });
    while (batcher.stats.waiting < 2) await new Promise((r) => setTimeout(r, 5));
    release();
    await held;
    const [a, b] = await Promise.all([plain, extreme]);
    expect(batcher.stats.waves - before.waves).toBe(1);
    expect(batcher.stats.rows - before.rows).toBe(2);
    expect(b.status).toBe(400);
    expect(b.json.error.message).toMatch(/^persona: steering at layers 3 \(coeff 1, \|v\| 1\.38e\+19\), 4 \(coeff 1, \|v\| 1\.38e\+19\) made the logits degenerate at step 0 \(/);
    const direct = await generateChat(model, [question], { maxNewTokens: 16 });
    expect(a.done).toBe(true);
    expect(streamedText(a.events)).toBe(direct.text[0]);
    expect(a.events.at(-1).choices[0].finish_reason).toBe(direct.finishReason[0]);
  });
});

describe('a row whose steering cannot be planned mid-answer', () => {
  it('fails alone: the batcher checks each new steering of a row and ends only that row', async () => {
    const batcher = main.running.ctx.batcher;
    const prompt = model.tokenizer.encodeChat(question, { addGenerationPrompt: true });
    const job = (steering: (n: number) => Steering) => ({ prompt, maxTokens: 12, temperature: 0, topP: 1, topK: 0, seed: 0, steering, ablation: [], captureLayers: [] });
    const bad: Steering = [{ layer: 3, vector, coeff: Number.NaN, positions: 'response' }];
    let release!: () => void;
    const held = batcher.withModel(() => new Promise<void>((r) => (release = r)));
    const plain = batcher.submit(job(() => []));
    const broken = batcher.submit(job((n) => (n < 3 ? [] : bad)));
    release();
    await held;
    await expect(broken).rejects.toThrow(/^persona: steering\[0\] \(layer 3\): coeff must be a finite number, got NaN$/);
    const direct = await generate(model, [prompt], { maxNewTokens: 12 });
    expect((await plain).tokens).toEqual(direct.tokens[0]);
  });
});

describe('unexpected errors', () => {
  // Last: it releases the model's session, which every later request would need.
  it('answers 500 in the OpenAI error shape and logs the request and the error', async () => {
    await model.dispose();
    released = true;
    const r = await post(`${url()}/v1/chat/completions`, { messages: question, max_tokens: 4, temperature: 0 });
    expect(r.status).toBe(500);
    expect(r.json.error.type).toBe('server_error');
    const line = lines().at(-1)!;
    expect(line).toMatchObject({ method: 'POST', path: '/v1/chat/completions', status: 500 });
    expect(main.run.records<{ path: string; error: string }>('errors').at(-1)!.path).toBe('/v1/chat/completions');
  });
});
