// Unsteered generation on a serving engine (vLLM, llama.cpp server, any OpenAI-compatible API), for
// the phases that need many plain answers (trait data for extraction, base answers for screening):
// the engine generates, this toolkit only reads activations. Chat prompts go to /chat/completions;
// prompts that are already chat-templated text go to /completions, so the server sees exactly them.

import { mapConcurrent } from '../io/concurrency.js';
import { postOpenAI } from '../io/openaiHttp.js';
import type { ChatMessage } from '../model/tokenizer.js';

export interface RemoteGenerator {
  baseUrl: string;
  /** Served model name; default the first entry of GET /models. */
  model?: string;
  apiKey?: string;
  /** Per-request timeout in ms (default 120 s) and retries (default 2). */
  timeoutMs?: number;
  retries?: number;
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
}

export interface RemoteRequest {
  prompt: { messages: ChatMessage[] } | { text: string };
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
}

export interface RemoteResult {
  text: string[];
  finishReason: ('stop' | 'length')[];
}

/** `openai:URL` (a --generator flag value) -> a generator; `local` -> null. */
export function parseGeneratorSpec(spec: string, flag = '--generator', env = process.env): RemoteGenerator | null {
  if (spec === 'local') return null;
  const m = /^openai:(https?:\/\/.+)$/.exec(spec);
  if (!m) throw new Error(`${flag}: '${spec}' is not 'local' or 'openai:URL' (e.g. openai:http://localhost:8000/v1)`);
  return { baseUrl: m[1]!, apiKey: env.PERSONA_GENERATOR_API_KEY ?? env.OPENAI_API_KEY };
}

async function servedModel(g: RemoteGenerator): Promise<string> {
  if (g.model) return g.model;
  const body = (await postOpenAI(g, '/models', null)) as { data?: { id?: string }[] };
  const id = body?.data?.[0]?.id;
  if (!id) throw new Error(`${g.baseUrl}/models lists no model; name one with --generator-model`);
  g.model = id;
  return id;
}

export async function generateRemote(g: RemoteGenerator, requests: RemoteRequest[]): Promise<RemoteResult> {
  // An answer of many tokens takes longer than a judge's one: wait up to two minutes by default.
  const ep = { ...g, timeoutMs: g.timeoutMs ?? 120_000 };
  const model = await servedModel(g);
  const replies = await mapConcurrent(requests, g.concurrency ?? 8, async (r, i) => {
    const common = { model, max_tokens: r.maxNewTokens, temperature: r.temperature, top_p: r.topP, seed: r.seed };
    const chat = 'messages' in r.prompt;
    const body = (await postOpenAI(ep, chat ? '/chat/completions' : '/completions', chat ? { ...common, messages: (r.prompt as { messages: ChatMessage[] }).messages } : { ...common, prompt: (r.prompt as { text: string }).text })) as {
      choices?: { message?: { content?: string }; text?: string; finish_reason?: string }[];
    };
    const c = body?.choices?.[0];
    const out = chat ? c?.message?.content : c?.text;
    if (typeof out !== 'string') throw new Error(`${g.baseUrl}: response ${i} has no ${chat ? 'choices[0].message.content' : 'choices[0].text'}`);
    return { text: out, finish: c?.finish_reason === 'length' ? ('length' as const) : ('stop' as const) };
  });
  return { text: replies.map((r) => r.text), finishReason: replies.map((r) => r.finish) };
}
