// Per-token pieces of an answer: text deltas for streaming (decoded from the whole answer so far,
// so multi-token characters and leading-space tokens come out right) and OpenAI-style logprobs.

import { topIndices } from '../generation/sampling.js';
import type { Tokenizer } from '../model/tokenizer.js';

export interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

/** Text added by each new token; a trailing incomplete UTF-8 character is held back until it completes. */
export class TextStream {
  private ids: number[] = [];
  private sent = '';
  constructor(private readonly tokenizer: Tokenizer) {}

  push(id: number): string {
    this.ids.push(id);
    const text = this.tokenizer.decode(this.ids);
    if (text.endsWith('\uFFFD') || !text.startsWith(this.sent)) return '';
    const delta = text.slice(this.sent.length);
    this.sent = text;
    return delta;
  }

  /** Whatever is still held back (at the end of the answer). */
  flush(): string {
    const text = this.tokenizer.decode(this.ids);
    const delta = text.startsWith(this.sent) ? text.slice(this.sent.length) : '';
    this.sent = text;
    return delta;
  }

  get text(): string {
    return this.sent;
  }
}

/**
 * Log-probability of the chosen token and the `top` most likely ones, from the model's raw
 * next-token logits (log-softmax over the vocabulary, before temperature / top-p: what the model
 * says, as vLLM reports by default). Token strings keep special tokens.
 */
export function tokenLogprobs(tokenizer: Tokenizer, logits: Float32Array, id: number, top: number): LogprobEntry {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const logZ = max + Math.log(sum);
  const entry = (i: number) => {
    const token = tokenizer.decode([i], { skipSpecialTokens: false });
    return { token, logprob: logits[i]! - logZ, bytes: [...Buffer.from(token, 'utf8')] };
  };
  return { ...entry(id), top_logprobs: top > 0 ? Array.from(topIndices(logits, top), entry) : [] };
}
