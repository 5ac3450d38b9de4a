// The OpenAI-compatible chat API: GET /v1/models and POST /v1/chat/completions (JSON or, with
// "stream": true, server-sent chunks ending in `data: [DONE]`), with logprobs / top_logprobs,
// temperature, top_p, seed, max_tokens (or max_completion_tokens), stop, and the `persona`
// extension field (see controls.ts). Any `model` name is accepted: the server has one model.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChatMessage } from '../model/tokenizer.js';
import { object, optional, RequestError } from './controls.js';
import type { RequestNote, ServerContext } from './context.js';
import { readJson, sendJson } from './http.js';
import { serveAnswer, type Shape } from './openaiAnswer.js';
import { checkKnown, checkPromptLength, parseSampling, type SamplingFields } from './openaiRequest.js';

export interface ChatRequest extends SamplingFields {
  messages: ChatMessage[];
  logprobs: number | null;
}

/** Validate a request body; every problem names its field. */
export function parseChatRequest(ctx: ServerContext, body: unknown): ChatRequest {
  const o = object(body, 'request body');
  checkKnown(o, ['messages', 'logprobs', 'top_logprobs', 'response_format']);
  const rf = o['response_format'];
  if (rf !== undefined && rf !== null && (object(rf, 'response_format')['type'] ?? 'text') !== 'text') throw new RequestError('response_format: only {"type": "text"}');
  if (!Array.isArray(o['messages']) || !o['messages'].length) throw new RequestError('messages: a non-empty list is required');
  if (o['messages'].length > ctx.limits.maxMessages) throw new RequestError(`messages: ${o['messages'].length} messages, at most ${ctx.limits.maxMessages} (--max-messages)`);
  const messages = o['messages'].map((m, i): ChatMessage => {
    const at = `messages[${i}]`;
    const mo = object(m, at);
    const role = optional(mo, 'role', at, 'string');
    if (!role || !['system', 'developer', 'user', 'assistant'].includes(role)) throw new RequestError(`${at}.role: system, developer, user or assistant`);
    return { role: role === 'developer' ? 'system' : role, content: messageText(mo['content'], `${at}.content`) };
  });
  const wantLogprobs = optional(o, 'logprobs', 'request', 'boolean') ?? false;
  const top = optional(o, 'top_logprobs', 'request', 'number');
  if (top !== undefined && (!Number.isInteger(top) || top < 0 || top > 20)) throw new RequestError(`top_logprobs: ${top} is not an integer in 0..20`);
  if (top !== undefined && !wantLogprobs) throw new RequestError('top_logprobs: needs "logprobs": true');
  return { ...parseSampling(ctx, o), messages, logprobs: wantLogprobs ? (top ?? 0) : null };
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

const CHAT: Shape = {
  idPrefix: 'chatcmpl',
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  opening: { index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
  tokenChoice: (d) => ({ index: 0, delta: { content: d.text }, logprobs: d.logprobs ? { content: [d.logprobs] } : null, finish_reason: null }),
  closingChoice: (finishReason) => ({ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }),
  wholeChoice: (a, withLogprobs) => ({ index: 0, message: { role: 'assistant', content: a.text }, logprobs: withLogprobs ? { content: a.logprobs } : null, finish_reason: a.finishReason }),
};

export async function chatCompletions(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, note: RequestNote): Promise<void> {
  const r = parseChatRequest(ctx, await readJson(req, ctx.limits.maxBody));
  const prompt = ctx.model.tokenizer.encodeChat(r.messages, { addGenerationPrompt: true });
  checkPromptLength(ctx, 'messages', prompt.length, r.maxTokens);
  await serveAnswer(ctx, res, note, { prompt, fields: r, logprobs: r.logprobs, logged: { messages: r.messages } }, CHAT);
}
