// OpenAI's legacy POST /v1/completions: a raw prompt string continued as it is (no chat
// template; tokenized as generateText does), with the same length, sampling, stop, stream and
// `persona` fields as chat, and logprobs in the legacy shape ({tokens, token_logprobs,
// top_logprobs: [{token: logprob}], text_offset}). What `--generator openai:URL` sends templated
// prompts to.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { object, optional, RequestError } from './controls.js';
import type { RequestNote, ServerContext } from './context.js';
import { readJson } from './http.js';
import { serveAnswer, type Shape } from './openaiAnswer.js';
import { checkKnown, checkPromptLength, parseSampling, type SamplingFields } from './openaiRequest.js';
import type { LogprobEntry } from './tokens.js';

export interface CompletionRequest extends SamplingFields {
  prompt: string;
  logprobs: number | null;
}

export function parseCompletionRequest(ctx: ServerContext, body: unknown): CompletionRequest {
  const o = object(body, 'request body');
  checkKnown(o, ['prompt', 'logprobs', 'echo', 'best_of', 'suffix']);
  let prompt = o['prompt'];
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (typeof prompt !== 'string' || !prompt.length) throw new RequestError('prompt: a non-empty string (or a list of one) is required');
  if (optional(o, 'echo', 'request', 'boolean')) throw new RequestError('echo: not supported (the prompt is not sent back)');
  if (optional(o, 'suffix', 'request', 'string')) throw new RequestError('suffix: not supported');
  const bestOf = optional(o, 'best_of', 'request', 'number');
  if (bestOf !== undefined && bestOf !== 1) throw new RequestError('best_of: only 1');
  const logprobs = optional(o, 'logprobs', 'request', 'number') ?? null;
  if (logprobs !== null && (!Number.isInteger(logprobs) || logprobs < 0 || logprobs > 20)) throw new RequestError(`logprobs: ${logprobs} is not an integer in 0..20`);
  return { ...parseSampling(ctx, o), prompt, logprobs };
}

/** Legacy logprobs of some tokens. */
function legacyLogprobs(entries: LogprobEntry[], offsets: number[]) {
  return {
    tokens: entries.map((e) => e.token),
    token_logprobs: entries.map((e) => e.logprob),
    top_logprobs: entries.map((e) => Object.fromEntries(e.top_logprobs.map((t) => [t.token, t.logprob]))),
    text_offset: offsets,
  };
}

const COMPLETION: Shape = {
  idPrefix: 'cmpl',
  object: 'text_completion',
  chunkObject: 'text_completion',
  tokenChoice: (d) => ({ index: 0, text: d.text, logprobs: d.logprobs ? legacyLogprobs([d.logprobs], [d.offset]) : null, finish_reason: null }),
  closingChoice: (finishReason) => ({ index: 0, text: '', logprobs: null, finish_reason: finishReason }),
  wholeChoice: (a, withLogprobs) => ({ index: 0, text: a.text, logprobs: withLogprobs ? legacyLogprobs(a.logprobs, a.offsets) : null, finish_reason: a.finishReason }),
};

export async function completions(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, note: RequestNote): Promise<void> {
  const r = parseCompletionRequest(ctx, await readJson(req, ctx.limits.maxBody));
  const prompt = ctx.model.tokenizer.encodeRaw(r.prompt);
  checkPromptLength(ctx, 'prompt', prompt.length, r.maxTokens);
  await serveAnswer(ctx, res, note, { prompt, fields: r, logprobs: r.logprobs, logged: { prompt: r.prompt } }, COMPLETION);
}
