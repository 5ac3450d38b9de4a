// One answer through the batcher, as both the OpenAI endpoint and the dashboard need it: text
// deltas (held back while they might begin a stop string), logprobs, and with readouts each
// token's projection on the loaded persona vectors (the residual state of that token, under the
// steering actually applied) plus the last prompt token's, the monitoring predictor.

import { projection } from '../directions/meanAccumulator.js';
import type { Ablation, Steering } from '../model/steering.js';
import type { Batcher } from './batcher.js';
import type { TraitDirection } from './controls.js';
import { TextStream, tokenLogprobs, type LogprobEntry } from './tokens.js';
import type { Tokenizer } from '../model/tokenizer.js';

export interface AnswerRequest {
  prompt: number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  topK?: number;
  seed: number;
  steering: (tokensSoFar: number) => Steering;
  ablation: Ablation[];
  /** Number of top logprobs per token; null = no logprobs. */
  logprobs: number | null;
  stop: string[];
  /** Traits to project every token on (readouts); empty = none. */
  traits: TraitDirection[];
  onDelta?: (d: Delta) => void;
  /** Client gone. */
  cancelled?: () => boolean;
}

export interface Delta {
  index: number;
  /** Text this token adds (may be '' while held back). */
  text: string;
  /** The token on its own. */
  token: string;
  /** Characters of the answer text before this token. */
  offset: number;
  logprobs?: LogprobEntry;
  /** trait -> projection of this token's residual state. */
  proj?: Record<string, number>;
}

export interface Answer {
  text: string;
  tokens: number[];
  /** 'cancelled': cut short by `cancelled()` (client gone, server stopping). */
  finishReason: 'stop' | 'length' | 'cancelled';
  logprobs: LogprobEntry[];
  /** trait -> projection of the last prompt token (before the answer). */
  lastPrompt: Record<string, number>;
  /** trait -> one projection per answer token. */
  perToken: Record<string, number[]>;
  /** trait -> mean over the answer's tokens. */
  responseMean: Record<string, number>;
  tokenTexts: string[];
  /** Per token: characters of the answer text before it. */
  offsets: number[];
}

export async function generateAnswer(batcher: Batcher, tokenizer: Tokenizer, r: AnswerRequest): Promise<Answer> {
  const stream = new TextStream(tokenizer);
  const logprobs: LogprobEntry[] = [];
  const tokenTexts: string[] = [];
  const offsets: number[] = [];
  const perToken: Record<string, number[]> = Object.fromEntries(r.traits.map((t) => [t.name, []]));
  let lastPrompt: Record<string, number> = {};
  let sentLength = 0; // characters of the answer already handed out
  let stopped = false;
  const pending: Omit<Delta, 'text'>[] = []; // tokens waiting for their hidden state (readouts)

  const textOut = (final: boolean): string => {
    let text = stream.text;
    const hit = firstStop(text, r.stop);
    if (hit >= 0) {
      text = text.slice(0, hit);
      stopped = true;
    } else if (!final) text = text.slice(0, text.length - heldBack(text, r.stop));
    const delta = text.length > sentLength ? text.slice(sentLength) : '';
    sentLength = Math.max(sentLength, text.length);
    return delta;
  };
  const emit = (d: Omit<Delta, 'text'>, final = false) => {
    if (stopped) return;
    r.onDelta?.({ ...d, text: textOut(final) });
  };
  const project = (h: Map<number, Float32Array>) => Object.fromEntries(r.traits.map((t) => [t.name, projection(h.get(t.layer)!, t.vector)]));

  const result = await batcher.submit({
    prompt: r.prompt,
    maxTokens: r.maxTokens,
    temperature: r.temperature,
    topP: r.topP,
    topK: r.topK ?? 0,
    seed: r.seed,
    steering: r.steering,
    ablation: r.ablation,
    captureLayers: [...new Set(r.traits.map((t) => t.layer))],
    cancelled: () => stopped || !!r.cancelled?.(),
    onToken: ({ index, id, logits }) => {
      const offset = stream.text.length;
      offsets.push(offset);
      stream.push(id);
      const token = tokenizer.decode([id]);
      tokenTexts.push(token);
      const lp = r.logprobs !== null ? tokenLogprobs(tokenizer, logits, id, r.logprobs) : undefined;
      if (lp) logprobs.push(lp);
      const d = { index, token, offset, ...(lp ? { logprobs: lp } : {}) };
      if (r.traits.length) pending.push(d);
      else emit(d);
    },
    onHidden: (index, h) => {
      const proj = project(h);
      if (index < 0) {
        lastPrompt = proj;
        return;
      }
      for (const t of r.traits) perToken[t.name]!.push(proj[t.name]!);
      const d = pending.shift();
      if (d) emit({ ...d, proj });
    },
  });
  // A token whose state never came (the answer was cut short) goes out without a projection.
  for (const d of pending.splice(0)) emit(d);
  stream.flush();
  const tail = textOut(true);
  if (tail) r.onDelta?.({ index: result.tokens.length, text: tail, token: '', offset: sentLength - tail.length });
  const cut = firstStop(stream.text, r.stop);
  const responseMean = Object.fromEntries(r.traits.map((t) => {
    const v = perToken[t.name]!;
    return [t.name, v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN];
  }));
  return {
    text: cut >= 0 ? stream.text.slice(0, cut) : stream.text,
    tokens: result.tokens,
    finishReason: stopped || result.finishReason === 'stop' ? 'stop' : result.finishReason,
    logprobs,
    lastPrompt,
    perToken,
    responseMean,
    tokenTexts,
    offsets,
  };
}

function firstStop(text: string, stops: string[]): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest end of `text` that is the beginning of a stop string (not sent yet). */
function heldBack(text: string, stops: string[]): number {
  let n = 0;
  for (const s of stops) for (let k = Math.min(s.length - 1, text.length); k > n; k--) if (text.endsWith(s.slice(0, k))) n = k;
  return n;
}
