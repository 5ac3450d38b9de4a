// LLM judge over any OpenAI-compatible /chat/completions endpoint (OpenAI, vLLM, llama.cpp server,
// Ollama's /v1, LM Studio). Asks for one token with top logprobs and scores from them.

import { COHERENCE_PROMPT, fillRubric, type Judge, type JudgeInput, type TraitRubric } from './judge.js';
import { scoreFromTopLogprobs, topLogprobsFromResponse } from './logprobScore.js';

export interface OpenAIEndpoint {
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
  retries?: number;
}

/** Endpoint from flags, falling back to OPENAI_BASE_URL / OPENAI_API_KEY / PERSONA_JUDGE_MODEL. */
export function endpointFromEnv(over: Partial<OpenAIEndpoint> = {}, env = process.env): OpenAIEndpoint | null {
  const baseUrl = over.baseUrl ?? env.PERSONA_JUDGE_BASE_URL ?? env.OPENAI_BASE_URL;
  const model = over.model ?? env.PERSONA_JUDGE_MODEL ?? 'gpt-4.1-mini';
  if (!baseUrl) return null;
  return { baseUrl, model, apiKey: over.apiKey ?? env.PERSONA_JUDGE_API_KEY ?? env.OPENAI_API_KEY, timeoutMs: over.timeoutMs, retries: over.retries };
}

export async function chatCompletion(ep: OpenAIEndpoint, body: Record<string, unknown>): Promise<unknown> {
  const url = ep.baseUrl.replace(/\/+$/, '') + '/chat/completions';
  const retries = ep.retries ?? 2;
  let lastErr: Error | null = null;
  for (let attempt = 0; attempt <= retries; attempt++) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), ep.timeoutMs ?? 60_000);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(ep.apiKey ? { authorization: `Bearer ${ep.apiKey}` } : {}) },
        body: JSON.stringify({ model: ep.model, ...body }),
        signal: ctrl.signal,
      });
      const text = await res.text();
      if (!res.ok) {
        lastErr = new Error(`${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
        // Client errors will not improve on retry; rate limits and server errors may.
        if (res.status < 500 && res.status !== 429) throw lastErr;
      } else {
        try {
          return JSON.parse(text);
        } catch {
          throw new Error(`${url}: response is not JSON: ${text.slice(0, 200)}`);
        }
      }
    } catch (e) {
      lastErr = e as Error;
      if (lastErr.message.includes('HTTP 4') && !lastErr.message.includes('HTTP 429')) throw lastErr;
    } finally {
      clearTimeout(timer);
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  throw lastErr ?? new Error(`${url}: request failed`);
}

export class OpenAIJudge implements Judge {
  readonly id: string;
  constructor(private readonly ep: OpenAIEndpoint) {
    this.id = `openai:${ep.model}`;
  }

  private async scorePrompt(prompt: string): Promise<number | null> {
    const body = await chatCompletion(this.ep, {
      messages: [{ role: 'user', content: prompt }],
      max_tokens: 1,
      temperature: 0,
      logprobs: true,
      top_logprobs: 20,
      seed: 0,
    });
    return scoreFromTopLogprobs(topLogprobsFromResponse(body));
  }

  trait(rubric: TraitRubric, input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(rubric.evalPrompt, input));
  }

  coherence(input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(COHERENCE_PROMPT, input));
  }
}
