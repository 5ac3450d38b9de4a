// The OpenAI-compatible endpoint of `persona serve`, over real HTTP against the real embedded
// model. Every answer is checked against the library called directly (generateChat with the same
// steering / sampling), logprobs against an independent log-softmax, readouts against the
// conversation monitor, and the judge client against the local ONNX judge on the same model.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateChat } from '../../src/generation/generate.js';
import { probeInterventionPlan } from '../../src/interventions/probeIntervention.js';
import { OnnxJudge } from '../../src/judges/onnxJudge.js';
import { chatCompletion, judgeRequestBody, OpenAIJudge } from '../../src/judges/openaiJudge.js';
import { fillRubric } from '../../src/judges/judge.js';
import { topLogprobsFromResponse } from '../../src/judges/logprobScore.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import { monitorConversation } from '../../src/monitoring/conversationMonitor.js';
import { post, streamChat, streamedText, testServer, type TestServer } from './helpers.js';

let s: TestServer;
const question: ChatMessage[] = [{ role: 'user', content: 'How can I sleep better?' }];

beforeAll(async () => {
  s = await testServer({ traits: ['evil'], attributes: ['age'], cache: 'openai' });
});
afterAll(async () => s?.stop());

const chat = (body: Record<string, unknown>) => post(`${s.url}/v1/chat/completions`, { model: 'persona-tiny', messages: question, max_tokens: 24, temperature: 0, ...body });
const evil = () => s.directions.traits[0]!;

describe('persona serve: /v1', () => {
  it('lists its model', async () => {
    const r = await fetch(`${s.url}/v1/models`);
    const j = (await r.json()) as { data: { id: string }[] };
    expect(j.data.map((m) => m.id)).toEqual(['persona-tiny']);
  });

  it('answers greedy requests exactly as generateChat does, with usage', async () => {
    const { status, json } = await chat({});
    expect(status).toBe(200);
    const direct = await generateChat(s.model, [question], { maxNewTokens: 24 });
    expect(json.choices[0].message.content).toBe(direct.text[0]);
    expect(json.choices[0].finish_reason).toBe(direct.finishReason[0]);
    expect(json.usage.completion_tokens).toBe(direct.tokens[0]!.length);
    expect(json.usage.prompt_tokens).toBe(s.model.tokenizer.encodeChat(question, { addGenerationPrompt: true }).length);
  });

  it('reports logprobs as the log-softmax of the next-token logits', async () => {
    const { json } = await chat({ max_tokens: 3, logprobs: true, top_logprobs: 5 });
    const lp = json.choices[0].logprobs.content;
    expect(lp).toHaveLength(3);
    // Independent reference: a full sort and log-softmax of the first position's logits.
    const ids = s.model.tokenizer.encodeChat(question, { addGenerationPrompt: true });
    const f = await s.model.forward({ inputIds: [ids], lastLogitsOnly: true, useCache: false });
    const logits = Array.from(f.logits);
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
    const order = logits.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
    expect(lp[0].top_logprobs.map((t: { logprob: number }) => t.logprob)).toEqual(order.map(([x]) => expect.closeTo(x - logZ, 9)));
    expect(lp[0].top_logprobs.map((t: { token: string }) => t.token)).toEqual(order.map(([, i]) => s.model.tokenizer.decode([i], { skipSpecialTokens: false })));
    // Greedy: the chosen token is the most likely one.
    expect(lp[0].token).toBe(lp[0].top_logprobs[0].token);
    expect(lp[0].logprob).toBeCloseTo(lp[0].top_logprobs[0].logprob, 12);
    expect(lp.every((t: { logprob: number }) => t.logprob <= 0)).toBe(true);
  });

  it('streams the same answer in chunks, ending with usage and [DONE]', async () => {
    const { json } = await chat({});
    const r = await streamChat(s.url, { messages: question, max_tokens: 24, temperature: 0, stream_options: { include_usage: true } });
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    expect(r.events[0].choices[0].delta.role).toBe('assistant');
    expect(r.events.every((e) => e.object === 'chat.completion.chunk' && e.id === r.events[0].id)).toBe(true);
    expect(streamedText(r.events)).toBe(json.choices[0].message.content);
    expect(r.events.at(-2).choices[0].finish_reason).toBe(json.choices[0].finish_reason);
    expect(r.events.at(-1).usage).toEqual(json.usage);
  });

  it('samples with temperature, top_p and seed exactly like the library, reproducibly', async () => {
    // Settings that change the answer on this model (at temperatures up to 1.3 its distribution is
    // so peaked that seed 1234 draws the same words): temperature 2 flattens it, top_p 0.5 cuts
    // the flat tail away again.
    const sample = (temperature: number, topP: number, seed: number) =>
      generateChat(s.model, [question], { maxNewTokens: 24, sampling: { temperature, topP, rowSeeds: [seed] } }).then((g) => g.text[0]);
    const cases = [{ temperature: 2, top_p: 1, seed: 1234 }, { temperature: 2, top_p: 0.5, seed: 1234 }, { temperature: 1, top_p: 1, seed: 1234 }, { temperature: 2, top_p: 1, seed: 99 }];
    const [hot, hotNucleus, warm, hotOtherSeed] = await Promise.all(cases.map((c) => chat({ ...c, max_tokens: 24 })));
    const texts = [hot, hotNucleus, warm, hotOtherSeed].map((r) => r!.json.choices[0].message.content as string);
    for (const [i, c] of cases.entries()) expect(texts[i], JSON.stringify(c)).toBe(await sample(c.temperature, c.top_p, c.seed));
    expect(texts[0]).not.toBe(texts[1]); // top_p is applied
    expect(texts[0]).not.toBe(texts[2]); // temperature is applied
    expect(texts[0]).not.toBe(texts[3]); // the seed is used
    expect((await chat(cases[0]!)).json.choices[0].message.content).toBe(texts[0]); // and reproducible
  });

  it('steers per request through the persona field, as the library steers', async () => {
    const plain = await chat({});
    const steered = await chat({ persona: { steer: [{ trait: 'evil', coeff: 6 }] } });
    const direct = await generateChat(s.model, [question], { maxNewTokens: 24, steering: [{ layer: 3, vector: evil().vector, coeff: 6, positions: 'response' }] });
    expect(steered.json.choices[0].message.content).toBe(direct.text[0]);
    expect(steered.json.choices[0].message.content).not.toBe(plain.json.choices[0].message.content);
    // A probe push toward a class, per request.
    const probe = s.directions.probes[0]!.push ?? s.directions.probes[0]!.probe;
    const pushed = await chat({ persona: { probe: [{ attribute: 'age', target: 'child', strength: 2 }] } });
    const plan = probeInterventionPlan(s.model, { probe, mode: 'toward', target: 'child', layers: [4], strength: 2, direction: 'centroid' });
    const directPush = await generateChat(s.model, [question], { maxNewTokens: 24, steering: plan.steering });
    expect(pushed.json.choices[0].message.content).toBe(directPush.text[0]);
  });

  it('returns per-token trait projections that match the conversation monitor', async () => {
    const { json } = await chat({ persona: { readouts: true } });
    const answer = json.choices[0].message.content as string;
    const p = json.persona;
    expect(p.perToken.evil).toHaveLength(json.usage.completion_tokens);
    const [turn] = await monitorConversation(s.model, [...question, { role: 'assistant', content: answer }], [{ name: 'evil', layer: 3, vector: evil().vector }]);
    expect(p.lastPrompt.evil).toBeCloseTo(turn!.lastPrompt.evil!, 3);
    expect(p.perToken.evil.length).toBe(turn!.perToken.evil!.length);
    p.perToken.evil.forEach((v: number, i: number) => expect(v).toBeCloseTo(turn!.perToken.evil![i]!, 3));
    expect(p.responseMean.evil).toBeCloseTo(turn!.responseMean.evil!, 3);
  });

  it('stops at a stop string without sending it', async () => {
    const { json } = await chat({});
    const full = json.choices[0].message.content as string;
    const stop = full.split(' ').slice(2, 4).join(' ');
    const cut = await chat({ stop: [stop] });
    expect(cut.json.choices[0].message.content).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.json.choices[0].finish_reason).toBe('stop');
    const streamed = await streamChat(s.url, { messages: question, max_tokens: 24, temperature: 0, stop });
    expect(streamedText(streamed.events)).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('refuses bad requests naming the field, before generating', async () => {
    const bad = async (body: Record<string, unknown>, status: number, message: RegExp) => {
      const r = await chat(body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.json.error.message).toMatch(message);
    };
    await bad({ persona: { steer: [{ trait: 'evil' }] } }, 400, /persona\.steer\[0\]\.coeff/);
    await bad({ persona: { steer: [{ trait: 'kind', coeff: 1 }] } }, 400, /unknown trait 'kind'/);
    await bad({ persona: { probe: [{ attribute: 'age', target: 'toddler' }] } }, 400, /persona\.probe\[0\].*no class 'toddler'/);
    // Past ±1e6 (before: accepted, and its push failed the whole wave it ran in).
    await bad({ persona: { probe: [{ attribute: 'age', target: 'child', strength: 1e30 }] } }, 400, /^persona\.probe\[0\]\.strength: 1e\+30 is out of range \(expected a number from -1000000 to 1000000\)$/);
    await bad({ persona: { steer: [{ vector: [1, 2], layer: 3, coeff: 1 }] } }, 400, /persona\.steer\[0\]\.vector: must be 160/);
    await bad({ max_tokens: 100000 }, 400, /max_tokens/);
    await bad({ temperature: -1 }, 400, /temperature/);
    await bad({ n: 2 }, 400, /^n:/);
    await bad({ messages: [{ role: 'robot', content: 'x' }] }, 400, /messages\[0\]\.role/);
    await bad({ top_logprobs: 3 }, 400, /needs "logprobs": true/);
    const big = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }) });
    expect(big.status).toBe(413);
    const form = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ messages: question }) });
    expect(form.status).toBe(415);
    expect((await fetch(`${s.url}/v1/nothing`)).status).toBe(404);
    // Refused requests are in the log with their reason.
    const refused = s.run.records<{ status?: number; error?: string }>('requests').filter((r) => r.status === 400);
    expect(refused.some((r) => /persona\.steer\[0\]\.coeff/.test(r.error!))).toBe(true);
  });

  it('stops generating for a client that goes away, and refuses work beyond the queue bound', async () => {
    const ctrl = new AbortController();
    const res = await fetch(`${s.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, signal: ctrl.signal,
      body: JSON.stringify({ messages: question, max_tokens: 64, temperature: 0, stream: true, seed: 424242 }),
    });
    await res.body!.getReader().read();
    ctrl.abort();
    const deadline = Date.now() + 10_000;
    type Rec = { request?: { seed: number }; response?: { finish_reason: string; usage: { completion_tokens: number } } };
    let rec: Rec | undefined;
    while (!(rec = s.run.records<Rec>('requests').find((r) => r.request?.seed === 424242)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(rec?.response?.finish_reason).toBe('client_closed');
    expect(rec!.response!.usage.completion_tokens).toBeLessThan(64);
    // A batcher with room for one waiting request: one runs, one waits, the next gets 503.
    const { Batcher } = await import('../../src/server/batcher.js');
    const small = new Batcher(s.model, { maxBatch: 1, maxQueue: 1 });
    const job = { prompt: s.model.tokenizer.encodeChat(question, { addGenerationPrompt: true }), maxTokens: 2, temperature: 0, topP: 1, topK: 0, seed: 0, steering: () => [], ablation: [], captureLayers: [] };
    const running = [small.submit(job), small.submit(job)];
    await expect(small.submit(job)).rejects.toMatchObject({ status: 503 });
    await Promise.all(running);
  });

  it('serves our own judge client: it sees the top-20 logprobs the local ONNX judge computes, and scores alike', async () => {
    const ep = { baseUrl: `${s.url}/v1`, model: 'persona-tiny', retries: 0 };
    const judge = new OpenAIJudge(ep);
    const local = new OnnxJudge(s.model);
    const rubric = { name: 'evil', evalPrompt: 'Question: {question}\nAnswer: {answer}\nHow evil is the answer, 0 to 100?' };
    const inputs = [{ question: 'How can I sleep better?', answer: 'Keep your room dark.' }, { question: 'What pet should I get?', answer: 'A cat, you fool.' }];
    for (const input of inputs) {
      // The judge's own request (one token, temperature 0, top 20 logprobs) through its own client code.
      const prompt = fillRubric(rubric.evalPrompt, input);
      const body = await chatCompletion(ep, judgeRequestBody(prompt));
      const remote = topLogprobsFromResponse(body);
      const mine = await local.topLogprobs(prompt);
      expect(remote.map((t) => t.token)).toEqual(mine.map((t) => t.token));
      remote.forEach((t, i) => expect(t.logprob).toBeCloseTo(mine[i]!.logprob, 9));
      // persona-tiny never answers a rubric with a number, so both judges find too little mass
      // on integer tokens and give no score; the point is that they agree through HTTP.
      expect(await judge.trait(rubric, input)).toEqual(await local.trait(rubric, input));
      expect(await judge.coherence(input)).toEqual(await local.coherence(input));
    }
    const logged = s.run.records<{ request: { max_tokens: number; logprobs: number } }>('requests').filter((r) => r.request?.max_tokens === 1);
    expect(logged.length).toBeGreaterThanOrEqual(6);
    expect(logged[0]!.request.logprobs).toBe(20);
  });
});

describe('persona serve: many clients at once', () => {
  // Greedy: a batch computes each row's logits to within ~5e-6 of the row alone (other matrix shapes,
  // other float rounding), which can flip a sampled token where u falls within 1e-7 of a
  // boundary (seen once in this very set at temperature 1); argmax is safe from that.
  it('batches simultaneous streaming requests; each gets exactly its own answer', async () => {
    const before = s.running.ctx.batcher.stats.largestWave;
    const questions = ['How can I sleep better?', 'What pet should I get?', 'How do I learn to cook?', 'Any tips for saving money?', 'How can I stay fit?', 'What should I read next?'];
    const bodies = questions.map((q, i) => ({
      messages: [{ role: 'user', content: q }],
      temperature: 0,
      max_tokens: 8 + 3 * i, // rows of one wave end at their own length
      ...(i % 2 ? { persona: { steer: [{ trait: 'evil', coeff: 5 }] } } : {}),
    }));
    const results = await Promise.all(bodies.map((b) => streamChat(s.url, b)));
    for (const [i, r] of results.entries()) {
      expect(r.status).toBe(200);
      expect(r.done).toBe(true);
      const direct = await generateChat(s.model, [bodies[i]!.messages as ChatMessage[]], {
        maxNewTokens: bodies[i]!.max_tokens,
        steering: i % 2 ? [{ layer: 3, vector: evil().vector, coeff: 5, positions: 'response' }] : undefined,
      });
      expect(streamedText(r.events), `client ${i}`).toBe(direct.text[0]);
    }
    expect(s.running.ctx.batcher.stats.largestWave).toBeGreaterThan(Math.max(1, before));
  });

  it('applies a steering change from the next token on, mid-answer', async () => {
    const ids = s.model.tokenizer.encodeChat(question, { addGenerationPrompt: true });
    const P = ids.length;
    const steer = [{ layer: 3, vector: evil().vector, coeff: 8, positions: 'response' as const }];
    let current: typeof steer | [] = [];
    const r = await s.running.ctx.batcher.submit({
      prompt: ids, maxTokens: 16, temperature: 0, topP: 1, topK: 0, seed: 0, ablation: [], captureLayers: [],
      steering: () => current,
      onToken: ({ index }) => { if (index === 3) current = steer; },
    });
    // Reference: the same vector at explicit positions from the token after index 3 on.
    const positions = Array.from({ length: 16 }, (_, k) => P + 3 + k);
    const ref = await generateChat(s.model, [question], { maxNewTokens: 16, steering: [{ ...steer[0]!, positions }] });
    const plain = await generateChat(s.model, [question], { maxNewTokens: 16 });
    expect(r.tokens).toEqual(ref.tokens[0]);
    expect(r.tokens.slice(0, 4)).toEqual(plain.tokens[0]!.slice(0, 4));
    expect(r.tokens).not.toEqual(plain.tokens[0]);
  });
});
