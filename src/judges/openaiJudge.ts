// LLM judge over any OpenAI-compatible /chat/completions endpoint (OpenAI, vLLM, llama.cpp server,
// Ollama's /v1, LM Studio). Asks for one token with top logprobs and scores from them.

import { HTTP_DEFAULTS, postOpenAI, type OpenAIEndpoint } from '../io/openaiHttp.js';
import { COHERENCE_PROMPT, fillRubric, type Judge, type JudgeInput, type TraitRubric } from './judge.js';
import { scoreFromTopLogprobs, topLogprobsFromResponse } from './logprobScore.js';

export type { OpenAIEndpoint } from '../io/openaiHttp.js';

/**
 * A judge call is one token: 30 s is long for a reply, and two more attempts ride out a busy
 * server without a hung endpoint costing minutes per answer.
 */
export const JUDGE_DEFAULTS = HTTP_DEFAULTS;

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

/** The URL a judge request goes to, for errors about its reply. */
export const completionsUrl = (ep: OpenAIEndpoint): string => `${ep.baseUrl.replace(/\/+$/, '')}/chat/completions`;

export async function chatCompletion(ep: OpenAIEndpoint, body: Record<string, unknown>): Promise<unknown> {
  return postOpenAI(ep, '/chat/completions', { model: ep.model, ...body }, 'set PERSONA_JUDGE_TIMEOUT_MS or --judge-timeout to wait longer');
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
      throw new Error(`${completionsUrl(this.ep)}: ${(e as Error).message}`);
    }
  }

  trait(rubric: TraitRubric, input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(rubric.evalPrompt, input));
  }

  coherence(input: JudgeInput): Promise<number | null> {
    return this.scorePrompt(fillRubric(COHERENCE_PROMPT, input));
  }
}
