// Where in a prompt+response sequence to read activations, and how to reduce them to one vector.
//
//   'prompt-mean'    mean over the prompt tokens (chat template and generation prompt included)
//   'response-mean'  mean over the response tokens (the persona-vectors paper's main choice)
//   'last-prompt'    the last prompt token (the last token of the assistant header)
//   { index: i }     token i of the sequence; negative counts from the end (-1 = last token)

import type { ChatMessage, Tokenizer } from '../model/tokenizer.js';

export type PositionSpec = 'prompt-mean' | 'response-mean' | 'last-prompt' | { index: number };

/** Stable name of a position spec, used as a key in results ('index:-1' for { index: -1 }). */
export function positionKey(p: PositionSpec): string {
  return typeof p === 'string' ? p : `index:${p.index}`;
}

/** Token indices [start, end) that `p` averages over, in a sequence of `length` tokens. */
export function positionRange(p: PositionSpec, promptLength: number, length: number): [number, number] {
  const fail = (why: string) => {
    throw new Error(`position ${positionKey(p)}: ${why} (prompt ${promptLength} tokens, sequence ${length})`);
  };
  if (promptLength < 1 || promptLength > length) fail('prompt length out of range');
  switch (p) {
    case 'prompt-mean':
      return [0, promptLength];
    case 'response-mean':
      if (promptLength === length) fail('the response is empty');
      return [promptLength, length];
    case 'last-prompt':
      return [promptLength - 1, promptLength];
    default: {
      if (typeof p !== 'object' || !Number.isInteger(p.index)) return fail('unknown position spec');
      const i = p.index < 0 ? length + p.index : p.index;
      if (i < 0 || i >= length) fail('index out of range');
      return [i, i + 1];
    }
  }
}

/**
 * Mean of rows [start, end) of a [length, H] block whose row i is at `rows[offset + i]`
 * (offset skips left padding). Accumulates in float64.
 */
export function meanRows(x: Float32Array, H: number, offset: number, start: number, end: number): Float32Array {
  // One accumulator reused across calls, and plain loops: Float32Array.from with a mapping callback
  // made pooling ~8% of a persona-tiny extraction batch.
  if (meanAcc.length < H) meanAcc = new Float64Array(H);
  const acc = meanAcc;
  acc.fill(0, 0, H);
  for (let i = start; i < end; i++) {
    const o = (offset + i) * H;
    for (let h = 0; h < H; h++) acc[h]! += x[o + h]!;
  }
  const n = end - start;
  const out = new Float32Array(H);
  for (let h = 0; h < H; h++) out[h] = acc[h]! / n;
  return out;
}
let meanAcc = new Float64Array(0);

export interface TokenizedExample {
  /** Prompt then response token ids. */
  ids: number[];
  /** ids[0 .. promptLength) is the prompt. */
  promptLength: number;
}

/**
 * Token ids of a chat prompt (templated, with the assistant header) followed by a response.
 * The response text is appended to the templated prompt (as the paper's code does), so the
 * end-of-turn marker is not part of the response. The boundary is the prompt's own token count;
 * if tokenizing the concatenation merges across it, the common prefix is used instead.
 */
export function tokenizeExample(tokenizer: Tokenizer, messages: ChatMessage[], response: string): TokenizedExample {
  return tokenizeText(tokenizer, tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), response);
}

/** Token ids of an already-templated prompt text followed by a response (see tokenizeExample). */
export function tokenizeText(tokenizer: Tokenizer, promptText: string, response: string): TokenizedExample {
  const prompt = tokenizer.encode(promptText);
  const ids = tokenizer.encode(promptText + response);
  let common = 0;
  while (common < prompt.length && common < ids.length && prompt[common] === ids[common]) common++;
  if (common === 0) throw new Error('tokenizeText: prompt and prompt+response share no tokens');
  return { ids, promptLength: common };
}

/** What every chat-templated text of this tokenizer starts with ('' when there is no template). */
export function templatePrefix(tokenizer: Tokenizer): string {
  try {
    const a = tokenizer.applyChatTemplate([{ role: 'user', content: 'a' }]);
    const b = tokenizer.applyChatTemplate([{ role: 'system', content: 's' }, { role: 'user', content: 'b' }]);
    let n = 0;
    while (n < a.length && a[n] === b[n]) n++;
    return a.slice(0, n);
  } catch {
    return '';
  }
}
