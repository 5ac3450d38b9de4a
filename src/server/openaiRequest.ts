// The request fields both OpenAI endpoints share (/v1/chat/completions and the legacy
// /v1/completions): length, sampling, stop strings, streaming and the `persona` extension field.
// Every problem names its field.

import { object, optional, RequestError, type Settings } from './controls.js';
import type { ServerContext } from './context.js';

export interface SamplingFields {
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  stop: string[];
  settings: Settings;
  readouts: boolean;
}

/** Fields either endpoint accepts (besides its own). */
export const SHARED_FIELDS = [
  'model', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed', 'stop', 'n', 'persona', 'user',
  'frequency_penalty', 'presence_penalty', 'metadata', 'store',
];

export function checkKnown(o: Record<string, unknown>, own: string[]): void {
  for (const k of Object.keys(o)) if (!SHARED_FIELDS.includes(k) && !own.includes(k)) throw new RequestError(`${k}: unsupported field`);
}

export function parseSampling(ctx: ServerContext, o: Record<string, unknown>): SamplingFields {
  const n = optional(o, 'n', 'request', 'number');
  if (n !== undefined && n !== 1) throw new RequestError('n: only n = 1 is served');
  for (const k of ['frequency_penalty', 'presence_penalty'])
    if (optional(o, k, 'request', 'number')) throw new RequestError(`${k}: not supported (send 0 or leave it out)`);
  // max_completion_tokens is OpenAI's newer name; when both are sent it wins.
  const lengthField = o['max_completion_tokens'] !== undefined && o['max_completion_tokens'] !== null ? 'max_completion_tokens' : 'max_tokens';
  const maxTokens = optional(o, lengthField, 'request', 'number') ?? Math.min(256, ctx.limits.maxTokens);
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > ctx.limits.maxTokens)
    throw new RequestError(`${lengthField}: ${maxTokens} is not an integer in 1..${ctx.limits.maxTokens} (--max-tokens)`);
  const temperature = optional(o, 'temperature', 'request', 'number') ?? 1;
  if (temperature < 0 || temperature > 2) throw new RequestError(`temperature: ${temperature} is outside 0..2`);
  const topP = optional(o, 'top_p', 'request', 'number') ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RequestError(`top_p: ${topP} is outside (0, 1]`);
  const seed = optional(o, 'seed', 'request', 'number') ?? Math.floor(Math.random() * 2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new RequestError(`seed: ${seed} is not an integer`);
  const stopField = o['stop'];
  const stop = stopField === undefined || stopField === null ? [] : typeof stopField === 'string' ? [stopField] : stopField;
  if (!Array.isArray(stop) || stop.length > 4 || !stop.every((s) => typeof s === 'string' && s.length)) throw new RequestError('stop: a string or up to 4 non-empty strings');
  const so = o['stream_options'];
  const includeUsage = so !== undefined && so !== null && optional(object(so, 'stream_options'), 'include_usage', 'stream_options', 'boolean') === true;
  const { settings, readouts } = ctx.directions.parseExtension(o['persona'], ctx.startup);
  return { stream: optional(o, 'stream', 'request', 'boolean') ?? false, includeUsage, maxTokens, temperature, topP, seed, stop: stop as string[], settings, readouts };
}

/** The prompt fits the server's limit and, with the answer, the model's context. */
export function checkPromptLength(ctx: ServerContext, field: string, promptTokens: number, maxTokens: number): void {
  if (promptTokens > ctx.limits.maxPromptTokens)
    throw new RequestError(`${field}: the prompt is ${promptTokens} tokens, at most ${ctx.limits.maxPromptTokens} (--max-prompt-tokens)`);
  const context = ctx.model.config.maxPositions;
  if (context !== undefined && promptTokens + maxTokens > context)
    throw new RequestError(`${field}: the prompt (${promptTokens} tokens) and max_tokens (${maxTokens}) exceed the model's context of ${context} positions`);
}

/** Settings as a log line stores them (unnamed vectors by their norm, not 4,096 numbers). */
export function settingsRecord(s: Settings): unknown {
  return {
    steer: s.steer.map((x) => ({ ...x, vector: x.vector ? { norm: Math.hypot(...x.vector) } : undefined })),
    probe: s.probe,
  };
}
