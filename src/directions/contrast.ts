// Directions from contrasting prompt sets, per layer: mean hidden state at the last prompt token
// (where the answer is decided) of one set minus that of the other. Two uses ("Who's asking?",
// Ghandeharioun et al. 2024):
//   - a refusal direction: prompts the model refuses minus prompts it answers;
//   - a user-persona steering vector: prompts where the user states a persona ("I am a
//     locksmith. ...") minus the same prompts with a neutral introduction.

import { extractActivations } from '../activations/extract.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { MeanAccumulator, sub } from './meanAccumulator.js';

/** One vector per hidden_states index 0..L: mean(pos) - mean(neg) at the last prompt token. */
export async function meanDifference(
  model: SteerableModel,
  pos: ChatMessage[][],
  neg: ChatMessage[][],
  opts: { label?: string; batchSize?: number } = {},
): Promise<Float32Array[]> {
  const label = opts.label ?? 'contrast';
  if (!pos.length || !neg.length) throw new Error(`${label}: needs prompts on both sides (got ${pos.length} and ${neg.length})`);
  const mean = async (set: ChatMessage[][], side: string): Promise<Float32Array[]> => {
    const acc = new MeanAccumulator(`${label} (${side})`);
    const acts = await extractActivations(model, set.map((messages) => ({ messages, response: '' })), { positions: ['last-prompt'], batchSize: opts.batchSize });
    for (const a of acts) acc.add(a.at['last-prompt']!);
    return acc.mean();
  };
  const [p, n] = [await mean(pos, 'positive'), await mean(neg, 'negative')];
  return p.map((v, l) => sub(v, n[l]!));
}

/** Refusal direction: prompts labelled refused minus prompts labelled answered. */
export function refusalDirection(model: SteerableModel, prompts: { messages: ChatMessage[]; refused: boolean }[]): Promise<Float32Array[]> {
  return meanDifference(
    model,
    prompts.filter((p) => p.refused).map((p) => p.messages),
    prompts.filter((p) => !p.refused).map((p) => p.messages),
    { label: 'refusal direction' },
  );
}

/** User-persona steering vector from contrastive pairs (persona statement vs neutral introduction). */
export function personaSteeringVector(model: SteerableModel, pairs: { pos: ChatMessage[]; neg: ChatMessage[] }[], name = 'persona'): Promise<Float32Array[]> {
  return meanDifference(model, pairs.map((p) => p.pos), pairs.map((p) => p.neg), { label: `${name} vector` });
}

/**
 * Per-pair differences pos - neg at the last prompt token, one Float32Array per hidden_states index:
 * for vectors over subsets of the pairs (cross-fitting) without reading any prompt twice.
 */
export async function pairDifferences(model: SteerableModel, pairs: { pos: ChatMessage[]; neg: ChatMessage[] }[], opts: { batchSize?: number } = {}): Promise<Float32Array[][]> {
  const read = (set: ChatMessage[][]) =>
    extractActivations(model, set.map((messages) => ({ messages, response: '' })), { positions: ['last-prompt'], batchSize: opts.batchSize });
  const [p, n] = [await read(pairs.map((x) => x.pos)), await read(pairs.map((x) => x.neg))];
  return p.map((a, i) => a.at['last-prompt']!.map((v, l) => sub(v, n[i]!.at['last-prompt']![l]!)));
}

/** Mean of some of pairDifferences' rows (a held-out persona vector). */
export function meanOfDifferences(diffs: Float32Array[][], rows: number[], label = 'persona vector'): Float32Array[] {
  if (!rows.length) throw new Error(`${label}: no pairs to average`);
  const acc = new MeanAccumulator(label);
  for (const i of rows) acc.add(diffs[i]!);
  return acc.mean();
}
