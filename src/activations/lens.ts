// Early decoding (logit lens): every layer's residual stream decoded through the model's own
// final norm + LM head (LensHead), per position: the top-k tokens with their probabilities and,
// for chosen target tokens, their rank (1 = the top token) and probability. Works on a prompt
// (teacher-forced, every position) and on a generation (the state fed at each step, step 0 =
// the last prompt token, i.e. what predicts each generated token).

import { generate, type GenerateOptions } from '../generation/generate.js';
import type { LensHead } from '../model/lensHead.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';

export interface LensToken {
  id: number;
  token: string;
  prob: number;
}

export interface LensTarget {
  id: number;
  token: string;
  /** [layer][position]: 1 + the number of tokens with a higher logit. */
  rank: number[][];
  prob: number[][];
}

export interface LensReading {
  /** The decoded layers (hidden_states indices: 0 = embeddings, k = after block k). */
  layers: number[];
  /** Token at each read position: the input token there (prompt) or the token fed at that step (generation). */
  tokens: string[];
  /** Token ids of the read positions. */
  ids: number[];
  /** For a generation: the generated tokens (position t predicted token t). */
  generated?: { ids: number[]; text: string };
  /** [layer][position] top-k, most probable first. */
  top: LensToken[][][];
  targets: LensTarget[];
}

export interface LensOptions {
  /** Default 5. */
  topK?: number;
  /** Default every layer 0..L. */
  layers?: number[];
  /** Token ids whose rank to follow. */
  targets?: number[];
}

/** First token of each word as the model would write it mid-sentence (" word"), for --target. */
export function targetTokenIds(model: SteerableModel, words: string[]): number[] {
  return words.map((w) => {
    const id = model.tokenizer.encode(w.startsWith(' ') || /^\W/.test(w) ? w : ` ${w}`, { addSpecialTokens: false })[0];
    if (id === undefined) throw new Error(`lens target "${w}": encodes to no token`);
    return id;
  });
}

function checkLayers(model: SteerableModel, layers: number[] | undefined): number[] {
  const all = [...Array(model.numLayers + 1).keys()];
  const out = layers ?? all;
  for (const l of out)
    if (!Number.isInteger(l) || l < 0 || l > model.numLayers) throw new Error(`lens layer ${l} out of range 0..${model.numLayers} (0 = embeddings)`);
  return out;
}

/** Top-k, target ranks and probabilities of one logits row. */
function readRow(logits: Float32Array, topK: number, targets: number[]): { top: { id: number; prob: number }[]; rank: number[]; prob: number[] } {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - max);
  const best: number[] = []; // indices, highest logit first
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (best.length === topK && v <= logits[best[topK - 1]!]!) continue;
    let j = Math.min(best.length, topK - 1);
    best[j] = i;
    while (j > 0 && logits[best[j - 1]!]! < v) {
      best[j] = best[j - 1]!;
      best[j - 1] = i;
      j--;
    }
  }
  const rank = targets.map((t) => {
    let r = 1;
    for (let i = 0; i < logits.length; i++) if (logits[i]! > logits[t]!) r++;
    return r;
  });
  const p = (i: number): number => Math.exp(logits[i]! - max) / z;
  return { top: best.map((id) => ({ id, prob: p(id) })), rank, prob: targets.map(p) };
}

/** Decode states [layers][positions x H] (one block per layer) and read them. */
async function readStates(
  model: SteerableModel,
  head: LensHead,
  layers: number[],
  states: Float32Array[],
  positions: number,
  opts: LensOptions,
): Promise<Pick<LensReading, 'top' | 'targets'>> {
  const H = model.hiddenSize;
  const topK = opts.topK ?? 5;
  if (!Number.isInteger(topK) || topK < 1) throw new Error(`lens topK must be a positive integer, got ${topK}`);
  const targets = opts.targets ?? [];
  const V = model.config.vocabSize;
  for (const t of targets) if (!Number.isInteger(t) || t < 0 || t >= V) throw new Error(`lens target token ${t} out of range 0..${V - 1}`);
  const stacked = new Float32Array(layers.length * positions * H);
  states.forEach((s, i) => stacked.set(s, i * positions * H));
  const logits = await head.decode(stacked, layers.length, positions);
  const vocab = logits.length / (layers.length * positions);
  const piece = new Map<number, string>();
  const tok = (id: number): string => piece.get(id) ?? (piece.set(id, model.tokenizer.decode([id])), piece.get(id)!);
  const top: LensToken[][][] = [];
  const out: LensTarget[] = targets.map((id) => ({ id, token: tok(id), rank: [], prob: [] }));
  for (let li = 0; li < layers.length; li++) {
    const rowTop: LensToken[][] = [];
    out.forEach((t) => (t.rank.push([]), t.prob.push([])));
    for (let p = 0; p < positions; p++) {
      const o = (li * positions + p) * vocab;
      const r = readRow(logits.subarray(o, o + vocab), topK, targets);
      rowTop.push(r.top.map((x) => ({ ...x, token: tok(x.id) })));
      out.forEach((t, k) => (t.rank[li]!.push(r.rank[k]!), t.prob[li]!.push(r.prob[k]!)));
    }
    top.push(rowTop);
  }
  return { top, targets: out };
}

/** The logit lens over every position of a token sequence (one forward pass). */
export async function lensPrompt(model: SteerableModel, head: LensHead, ids: number[], opts: LensOptions = {}): Promise<LensReading> {
  if (!ids.length) throw new Error('lens: empty input');
  const layers = checkLayers(model, opts.layers);
  const r = await model.forward({ inputIds: [ids], hiddenLayers: layers });
  const states = layers.map((l) => r.hidden.get(l)!);
  const read = await readStates(model, head, layers, states, ids.length, opts);
  return { layers, ids, tokens: ids.map((id) => model.tokenizer.decode([id])), ...read };
}

/** The lens on a chat: templated with the generation prompt, every position. */
export async function lensChat(model: SteerableModel, head: LensHead, messages: ChatMessage[], opts: LensOptions = {}): Promise<LensReading> {
  return lensPrompt(model, head, model.tokenizer.encodeChat(messages, { addGenerationPrompt: true }), opts);
}

/**
 * The lens during generation: position t is the state fed at step t (t = 0: the last prompt
 * token), which predicts generated token t. Steering and sampling options pass through.
 */
export async function lensGeneration(
  model: SteerableModel,
  head: LensHead,
  messages: ChatMessage[],
  opts: LensOptions & Pick<GenerateOptions, 'maxNewTokens' | 'sampling' | 'steering'> = {},
): Promise<LensReading> {
  const layers = checkLayers(model, opts.layers);
  const prompt = model.tokenizer.encodeChat(messages, { addGenerationPrompt: true });
  const g = await generate(model, [prompt], { maxNewTokens: opts.maxNewTokens ?? 32, sampling: opts.sampling, steering: opts.steering, captureLayers: layers });
  const steps = g.hidden.get(layers[0]!)!.length;
  const H = model.hiddenSize;
  const states = layers.map((l) => {
    const blocks = g.hidden.get(l)!;
    const s = new Float32Array(steps * H);
    blocks.forEach((b, t) => s.set(b.subarray(0, H), t * H));
    return s;
  });
  const read = await readStates(model, head, layers, states, steps, opts);
  const gen = g.tokens[0]!;
  const fed = [prompt[prompt.length - 1]!, ...gen].slice(0, steps);
  return {
    layers,
    ids: fed,
    tokens: fed.map((id) => model.tokenizer.decode([id])),
    generated: { ids: gen, text: g.text[0]! },
    ...read,
  };
}
