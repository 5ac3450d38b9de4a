// How the model's picture of the user changes over a conversation (TalkTuner's dashboard view):
// after every user turn, read the conversation so far with each probe's own suffix and report the
// probe's class probabilities at a chosen layer.

import { readLastTokens, readingIds } from '../../activations/reading.js';
import { checkProbeFits, type ProbeSet } from '../../directions/probes/probeFile.js';
import { predictProba } from '../../directions/probes/logisticRegression.js';
import type { Ablation, Steering } from '../../model/steering.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import type { ChatMessage } from '../../model/tokenizer.js';

export interface TurnReading {
  /** 0-based user turn after which the model was read. */
  turn: number;
  attribute: string;
  layer: number;
  probabilities: Record<string, number>;
  predicted: string;
}

/** The layer a probe reads best (highest cross-validated accuracy), or the given one. */
export function probeLayer(probe: ProbeSet, layer?: number): number {
  if (layer !== undefined) {
    if (!Number.isInteger(layer) || layer < 0 || layer >= probe.weight.length)
      throw new Error(`probe ${probe.meta.attribute}: layer ${layer} out of range 0..${probe.weight.length - 1}`);
    return layer;
  }
  const acc = probe.meta.cv.mean;
  return acc.indexOf(Math.max(...acc));
}

/** Class probabilities of several readings under one layer of a probe: [n][C]. */
export function classProbabilities(probe: ProbeSet, layer: number, readings: Float32Array[]): number[][] {
  const C = probe.meta.classes.length;
  const H = probe.meta.model.hiddenSize;
  const X = new Float32Array(readings.length * H);
  readings.forEach((r, i) => X.set(r, i * H));
  const p = predictProba({ numClasses: C, dim: H, weight: probe.weight[layer]!, bias: probe.bias[layer]! }, X);
  return readings.map((_, i) => Array.from(p.subarray(i * C, (i + 1) * C)));
}

/** The conversation cut after each user turn: prefixes[t] ends with user turn t. */
export function userTurnPrefixes(messages: ChatMessage[]): ChatMessage[][] {
  return messages.flatMap((m, i) => (m.role === 'user' ? [messages.slice(0, i + 1)] : []));
}

/**
 * Read `conversations` (each as it stands, ending with a user turn or a reply to drop) with every
 * probe at its layer; result[i] belongs to conversations[i], one entry per probe.
 */
export async function readWithProbes(
  model: SteerableModel,
  probes: ProbeSet[],
  conversations: ChatMessage[][],
  opts: { layer?: number; batchSize?: number; steering?: Steering; ablation?: Ablation[] } = {},
): Promise<{ attribute: string; layer: number; probabilities: Record<string, number>; predicted: string }[][]> {
  const out = conversations.map(() => [] as { attribute: string; layer: number; probabilities: Record<string, number>; predicted: string }[]);
  for (const probe of probes) {
    checkProbeFits(probe, model, `probe ${probe.meta.attribute}`);
    const layer = probeLayer(probe, opts.layer);
    const suffix = probe.meta.suffix;
    const generation = probe.meta['generationPrompt'] === true;
    const ids = conversations.map((c) => readingIds(model.tokenizer, c, suffix, generation));
    const readings = await readLastTokens(model, ids, { layers: [layer], batchSize: opts.batchSize, steering: opts.steering, ablation: opts.ablation });
    const probs = classProbabilities(probe, layer, readings.map((r) => r[0]!));
    probs.forEach((p, i) => {
      const best = p.indexOf(Math.max(...p));
      out[i]!.push({
        attribute: probe.meta.attribute,
        layer,
        probabilities: Object.fromEntries(probe.meta.classes.map((c, j) => [c, p[j]!])),
        predicted: probe.meta.classes[best]!,
      });
    });
  }
  return out;
}

/** Probe readings after every user turn of one conversation. */
export async function readConversationTurns(model: SteerableModel, probes: ProbeSet[], messages: ChatMessage[], opts: { layer?: number; batchSize?: number } = {}): Promise<TurnReading[]> {
  const prefixes = userTurnPrefixes(messages);
  if (!prefixes.length) throw new Error('conversation has no user turn');
  const read = await readWithProbes(model, probes, prefixes, opts);
  return read.flatMap((perProbe, turn) => perProbe.map((r) => ({ turn, ...r })));
}
