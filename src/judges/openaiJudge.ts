// LLM judge over any OpenAI-compatible /chat/completions endpoint (OpenAI, vLLM, llama.cpp server,
// Ollama's /v1, LM Studio). Asks for one token with top logprobs and scores from them.

import { COHERENCE_PROMPT, fillRubric, type Judge, type JudgeInput, type TraitRubric } from './judge.js';
import { scoreFromTopLogprobs, topLogprobsFromResponse } from './logprobScore.js';

export interface OpenAIEndpoint {
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Per-request timeout in ms (default JUDGE_DEFAULTS.timeoutMs). */
  timeoutMs?: number;
  /** Extra attempts after a timeout, HTTP 429 or 5xx (default JUDGE_DEFAULTS.retries). */
  retries?: number;
}

/**
 * A judge call is one token: 30 s is long for a reply, and two more attempts ride out a busy
 * server without a hung endpoint costing minutes per answer.
 */
export const JUDGE_DEFAULTS = { timeoutMs: 30_000, retries: 2 } as const;

/** Endpoint from flags, falling back to the environment (PERSONA_JUDGE_* or OPENAI_*). */
export function endpointFromEnv(over: Partial<OpenAIEndpoint> = {}, env = process.env): OpenAIEndpoint | null {
  const baseUrl = over.baseUrl ?? env.PERSONA_JUDGE_BASE_URL ?? env.OPENAI_BASE_URL;
  const model = over.model ?? env.PERSONA_JUDGE_MODEL ?? 'gpt-4.1-mini';
  if (!baseUrl) return null;
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined || v === '') return undefined;
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new Error(`${name}: '${v}' is not an integer >= ${min}`);
    return x;
  };
  return {
    baseUrl,
    model,
    apiKey: over.apiKey ?? env.PERSONA_JUDGE_API_KEY ?? env.OPENAI_API_KEY,
    timeoutMs: over.timeoutMs ?? num('PERSONA_JUDGE_TIMEOUT_MS', env.PERSONA_JUDGE_TIMEOUT_MS, 1),
    retries: over.retries ?? num('PERSONA_JUDGE_RETRIES', env.PERSONA_JUDGE_RETRIES, 0),
  };
}

/** A judge endpoint failed; `retry` says whether another attempt could help. */
export class JudgeRequestError extends Error {
  constructor(message: string, readonly retry: boolean) {
    super(message);
  }
}

// Connection refused, unknown host: the endpoint is not there, waiting will not bring it.
const FATAL_NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ERR_INVALID_URL', 'EHOSTUNREACH', 'ENETUNREACH']);

/** fetch's "fetch failed" hides the reason in `cause`: bring it out, with the URL. */
function networkError(url: string, e: unknown, timedOut: boolean, timeoutMs: number): JudgeRequestError {
  if (timedOut) return new JudgeRequestError(`${url}: no reply within ${timeoutMs} ms (set PERSONA_JUDGE_TIMEOUT_MS or --judge-timeout to wait longer)`, true);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (e as { code?: string }).code;
  const why = cause?.message ?? (e as Error).message;
  return new JudgeRequestError(`${url}: request failed: ${code ? `${code} ` : ''}${why}`, !(code && FATAL_NETWORK.has(code)));
}

async function attempt(url: string, ep: OpenAIEndpoint, body: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(ep.apiKey ? { authorization: `Bearer ${ep.apiKey}` } : {}) },
      body: JSON.stringify({ model: ep.model, ...body }),
      signal: ctrl.signal,
    });
    status = res.status;
    text = await res.text();
  } catch (e) {
    throw networkError(url, e, ctrl.signal.aborted, timeoutMs);
  } finally {
    clearTimeout(timer);
  }
  // Rate limits and server errors may pass; other client errors will not improve on retry.
  if (status < 200 || status >= 300) throw new JudgeRequestError(`${url}: HTTP ${status} ${text.slice(0, 300)}`, status === 429 || status >= 500);
  try {
    return JSON.parse(text);
  } catch {
    // A 200 that is not JSON is a wrong endpoint (an HTML page, a proxy), not a passing hiccup.
    throw new JudgeRequestError(`${url}: reply is not JSON (HTTP ${status}): ${text.slice(0, 200)}`, false);
  }
}

export async function chatCompletion(ep: OpenAIEndpoint, body: Record<string, unknown>): Promise<unknown> {
  const url = ep.baseUrl.replace(/\/+$/, '') + '/chat/completions';
  const retries = ep.retries ?? JUDGE_DEFAULTS.retries;
  const timeoutMs = ep.timeoutMs ?? JUDGE_DEFAULTS.timeoutMs;
  for (let k = 0; ; k++) {
    try {
      return await attempt(url, ep, body, timeoutMs);
    } catch (e) {
      const err = e as JudgeRequestError;
      if (!err.retry || k >= retries) throw new JudgeRequestError(k ? `${err.message} (after ${k + 1} attempts)` : err.message, false);
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** k));
  }
}

/** The request the paper's judge makes: one token, greedy, the top 20 logprobs. */
export const judgeRequestBody = (prompt: string) => ({
  messages: [{ role: 'user', content: prompt }],
  max_tokens: 1,
  temperature: 0,
  logprobs: true,
  top_logprobs: 20,
  seed: 0,
});

export class OpenAIJudge implements Judge {
  readonly id: string;
  constructor(private readonly ep: OpenAIEndpoint) {
    this.id = `openai:${ep.model}`;
  }

  private async scorePrompt(prompt: string): Promise<number | null> {
    const body = await chatCompletion(this.ep, judgeRequestBody(prompt));
    try {
      return scoreFromTopLogprobs(topLogprobsFromResponse(body));
    } catch (e) {
      throw new Error(`${this.ep.baseUrl.replace(/\/+$/, '')}/chat/completions: ${(e as Error).message}`);
    }
  }

  trait(rubric: TraitRubric, input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(rubric.evalPrompt, input));
  }

  coherence(input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(COHERENCE_PROMPT, input));
  }
}
