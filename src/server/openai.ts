// The OpenAI-compatible API: GET /v1/models and POST /v1/chat/completions (JSON or, with
// "stream": true, server-sent chunks ending in `data: [DONE]`), with logprobs / top_logprobs,
// temperature, top_p, seed, max_tokens (or max_completion_tokens), stop, and the `persona`
// extension field (see controls.ts). Any `model` name is accepted: the server has one model.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatMessage } from '../model/tokenizer.js';
import { generateAnswer, type Answer } from './answer.js';
import { object, optional, RequestError, type Settings } from './controls.js';
import { openEventStream, readJson, sendJson } from './http.js';
import type { ServerContext } from './context.js';

export interface ChatRequest {
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  logprobs: number | null;
  stop: string[];
  settings: Settings;
  readouts: boolean;
}

const KNOWN = new Set([
  'model', 'messages', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed', 'logprobs',
  'top_logprobs', 'stop', 'n', 'persona', 'user', 'frequency_penalty', 'presence_penalty', 'response_format', 'metadata', 'store',
]);

/** Validate a request body; every problem names its field. */
export function parseChatRequest(ctx: ServerContext, body: unknown): ChatRequest {
  const o = object(body, 'request body');
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new RequestError(`${k}: unsupported field`);
  const n = optional(o, 'n', 'request', 'number');
  if (n !== undefined && n !== 1) throw new RequestError('n: only n = 1 is served');
  for (const k of ['frequency_penalty', 'presence_penalty'])
    if (optional(o, k, 'request', 'number')) throw new RequestError(`${k}: not supported (send 0 or leave it out)`);
  const rf = o['response_format'];
  if (rf !== undefined && rf !== null && (object(rf, 'response_format')['type'] ?? 'text') !== 'text') throw new RequestError('response_format: only {"type": "text"}');
  if (!Array.isArray(o['messages']) || !o['messages'].length) throw new RequestError('messages: a non-empty list is required');
  if (o['messages'].length > ctx.limits.maxMessages) throw new RequestError(`messages: ${o['messages'].length} messages, at most ${ctx.limits.maxMessages}`);
  const messages = o['messages'].map((m, i): ChatMessage => {
    const at = `messages[${i}]`;
    const mo = object(m, at);
    const role = optional(mo, 'role', at, 'string');
    if (!role || !['system', 'developer', 'user', 'assistant'].includes(role)) throw new RequestError(`${at}.role: system, developer, user or assistant`);
    return { role: role === 'developer' ? 'system' : role, content: messageText(mo['content'], `${at}.content`) };
  });
  const maxTokens = optional(o, 'max_completion_tokens', 'request', 'number') ?? optional(o, 'max_tokens', 'request', 'number') ?? Math.min(256, ctx.limits.maxTokens);
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > ctx.limits.maxTokens)
    throw new RequestError(`max_tokens: ${maxTokens} is not an integer in 1..${ctx.limits.maxTokens} (--max-tokens)`);
  const temperature = optional(o, 'temperature', 'request', 'number') ?? 1;
  if (temperature < 0 || temperature > 2) throw new RequestError(`temperature: ${temperature} is outside 0..2`);
  const topP = optional(o, 'top_p', 'request', 'number') ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RequestError(`top_p: ${topP} is outside (0, 1]`);
  const seed = optional(o, 'seed', 'request', 'number') ?? Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new RequestError(`seed: ${seed} is not an integer`);
  const wantLogprobs = optional(o, 'logprobs', 'request', 'boolean') ?? false;
  const top = optional(o, 'top_logprobs', 'request', 'number');
  if (top !== undefined && (!Number.isInteger(top) || top < 0 || top > 20)) throw new RequestError(`top_logprobs: ${top} is not an integer in 0..20`);
  if (top !== undefined && !wantLogprobs) throw new RequestError('top_logprobs: needs "logprobs": true');
  const stopField = o['stop'];
  const stop = stopField === undefined || stopField === null ? [] : typeof stopField === 'string' ? [stopField] : stopField;
  if (!Array.isArray(stop) || stop.length > 4 || !stop.every((s) => typeof s === 'string' && s.length)) throw new RequestError('stop: a string or up to 4 non-empty strings');
  const so = o['stream_options'];
  const includeUsage = so !== undefined && so !== null && optional(object(so, 'stream_options'), 'include_usage', 'stream_options', 'boolean') === true;
  const { settings, readouts } = ctx.directions.parseExtension(o['persona'], ctx.startup);
  return {
    messages,
    stream: optional(o, 'stream', 'request', 'boolean') ?? false,
    includeUsage,
    maxTokens,
    temperature,
    topP,
    seed,
    logprobs: wantLogprobs ? (top ?? 0) : null,
    stop: stop as string[],
    settings,
    readouts,
  };
}

/** A message's text: a string, or OpenAI content parts of type "text" (joined). */
function messageText(c: unknown, at: string): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c))
    return c
      .map((p, j) => {
        const po = object(p, `${at}[${j}]`);
        if (po['type'] !== 'text' || typeof po['text'] !== 'string') throw new RequestError(`${at}[${j}]: only {"type": "text", "text": ...} parts`);
        return po['text'];
      })
      .join('');
  throw new RequestError(`${at}: a string or a list of text parts`);
}

export function listModels(ctx: ServerContext, res: ServerResponse): void {
  sendJson(res, 200, { object: 'list', data: [{ id: ctx.modelId, object: 'model', created: ctx.startedAt, owned_by: 'persona-steer' }] });
}

export async function chatCompletions(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const t0 = performance.now();
  const body = await readJson(req, ctx.limits.maxBody);
  const r = parseChatRequest(ctx, body);
  const prompt = ctx.model.tokenizer.encodeChat(r.messages, { addGenerationPrompt: true });
  if (prompt.length > ctx.limits.maxPromptTokens)
    throw new RequestError(`messages: the prompt is ${prompt.length} tokens, at most ${ctx.limits.maxPromptTokens} (--max-prompt-tokens)`);
  const { steering, ablation } = ctx.directions.plan(r.settings);
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const base = { id, created, model: ctx.modelId };
  let gone = false;
  res.on('close', () => (gone = !res.writableFinished));
  const traits = r.readouts ? ctx.directions.traits : [];
  const common = {
    prompt,
    maxTokens: r.maxTokens,
    temperature: r.temperature,
    topP: r.topP,
    seed: r.seed,
    steering: () => steering,
    ablation,
    logprobs: r.logprobs,
    stop: r.stop,
    traits,
    cancelled: () => gone,
  };
  let answer: Answer;
  if (r.stream) {
    const events = openEventStream(res);
    const chunk = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      events.send({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: null, ...extra }] });
    chunk({ role: 'assistant', content: '' });
    answer = await generateAnswer(ctx.batcher, ctx.model.tokenizer, {
      ...common,
      onDelta: (d) =>
        chunk(
          { content: d.text },
          {
            ...(d.logprobs ? { logprobs: { content: [d.logprobs] } } : {}),
            ...(d.proj ? { persona: { token: d.token, proj: d.proj } } : {}),
          },
        ),
    });
    const last: Record<string, unknown> = { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: answer.finishReason }] };
    if (r.readouts) last['persona'] = readoutsOf(answer);
    events.send(last);
    if (r.includeUsage) events.send({ ...base, object: 'chat.completion.chunk', choices: [], usage: usage(prompt.length, answer) });
    events.send('[DONE]');
    events.end();
  } else {
    answer = await generateAnswer(ctx.batcher, ctx.model.tokenizer, common);
    sendJson(res, 200, {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: answer.text }, logprobs: r.logprobs !== null ? { content: answer.logprobs } : null, finish_reason: answer.finishReason }],
      usage: usage(prompt.length, answer),
      ...(r.readouts ? { persona: readoutsOf(answer) } : {}),
    });
  }
  ctx.log('requests', {
    id,
    endpoint: '/v1/chat/completions',
    at: new Date(created * 1000).toISOString(),
    request: { messages: r.messages, stream: r.stream, max_tokens: r.maxTokens, temperature: r.temperature, top_p: r.topP, seed: r.seed, logprobs: r.logprobs, stop: r.stop, persona: settingsRecord(r.settings) },
    response: { text: answer.text, finish_reason: gone ? 'client_closed' : answer.finishReason, usage: usage(prompt.length, answer), ...(r.readouts ? readoutsOf(answer) : {}) },
    ms: Math.round(performance.now() - t0),
  });
}

function usage(promptTokens: number, a: Answer) {
  return { prompt_tokens: promptTokens, completion_tokens: a.tokens.length, total_tokens: promptTokens + a.tokens.length };
}

function readoutsOf(a: Answer) {
  return { lastPrompt: a.lastPrompt, responseMean: a.responseMean, perToken: a.perToken, tokens: a.tokenTexts };
}

/** Settings as a log line stores them (unnamed vectors by their norm, not 4,096 numbers). */
export function settingsRecord(s: Settings): unknown {
  return {
    steer: s.steer.map((x) => ({ ...x, vector: x.vector ? { norm: Math.hypot(...x.vector) } : undefined })),
    probe: s.probe,
  };
}
