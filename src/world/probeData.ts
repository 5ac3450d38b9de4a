// Labelled conversations from the persona world for demographic probes: balanced datasets (every
// class of every attribute under every cue condition, plus neutral chats) and direct-question
// conversations for steering evaluations (their answers are read by demographicAnswerClass).
// The conversations are generateConversation's with forced cues and no direct questions, so the
// assistant's answers are tailored to what the user has revealed so far, as in the training corpus.

import { childSeed, createRng } from './rng.js';
import { TRAITS } from './traits.js';
import { ATTRIBUTES, ATTRIBUTE_CLASSES, DIRECT_QUESTIONS, cuesFor, type Attribute } from './demographics.js';
import { generateConversation, type ForcedCue, type Persona } from './conversation.js';
import type { LabelledConversation } from '../data/labelledConversations.js';

export type ProbeCondition = 'explicit' | 'implicit' | 'contradicting' | 'none';

export interface ProbeDatasetOptions {
  /** Attributes to cue (default: all four). */
  attributes?: readonly Attribute[];
  /** Conversations per class, per attribute and condition; also the number of neutral ones. */
  perClass: number;
  conditions: readonly ProbeCondition[];
  /** Inclusive range of user turns per conversation (1-4). */
  turns: readonly [number, number];
  seed: number;
}

/** The neutral system prompt and no trait styling: probes read the user, not the persona. */
const NEUTRAL_PERSONA: Persona = { trait: TRAITS[0], polarity: 'neutral', instructionIndex: null };

function checkTurns(turns: readonly [number, number]): void {
  const [lo, hi] = turns;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 4 || lo > hi) {
    throw new Error(`probe data: turns must be [min, max] with 1 <= min <= max <= 4 (got [${lo}, ${hi}])`);
  }
}

function checkPerClass(perClass: number): void {
  if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`probe data: perClass must be a positive integer (got ${perClass})`);
}

/** One row: a conversation of nTurns user turns (drawn from `seed`) carrying the given cue. */
function probeRow(seed: number, turns: readonly [number, number], cue: Omit<ForcedCue, 'turn'> | null, condition: ProbeCondition): LabelledConversation {
  const rng = createRng(seed);
  const nTurns = rng.int(turns[0], turns[1]);
  // Any turn may carry the cue, so a probe cannot rely on it being right before the reading point.
  const turn = rng.int(0, nTurns - 1);
  const conv = generateConversation(childSeed(seed, 0), {
    persona: NEUTRAL_PERSONA, turns: nTurns, cues: cue ? [{ ...cue, turn }] : [], noDirect: true,
  });
  const meta: Record<string, unknown> = { source: 'world', seed, turns: nTurns };
  if (cue) {
    meta['attribute'] = cue.attribute;
    meta['cueTurn'] = turn;
    meta['cueTexts'] = conv.cues[0]!.texts;
    if (condition === 'contradicting') {
      meta['stated'] = cue.cls;
      meta['stereotype'] = conv.cues[0]!.stereotype;
    }
  }
  return { messages: conv.messages, labels: { ...conv.labels }, cue: condition, meta };
}

/**
 * A balanced probe dataset: for each condition other than 'none', each attribute and each of its
 * classes, `perClass` conversations whose label for that attribute is the class (the other
 * attributes are "neutral"); with 'none', `perClass` conversations without any cue. Row i is drawn
 * from childSeed(seed, i), so the same options give the same rows.
 */
export function generateProbeDataset(options: ProbeDatasetOptions): LabelledConversation[] {
  const { perClass, conditions, turns, seed } = options;
  const attributes = options.attributes ?? ATTRIBUTES;
  checkTurns(turns);
  checkPerClass(perClass);
  for (const a of attributes) if (!ATTRIBUTES.includes(a)) throw new Error(`probe data: unknown attribute '${a}' (${ATTRIBUTES.join(', ')})`);
  const rows: LabelledConversation[] = [];
  const next = (cue: Omit<ForcedCue, 'turn'> | null, condition: ProbeCondition): void => {
    rows.push(probeRow(childSeed(seed, rows.length), turns, cue, condition));
  };
  for (const condition of conditions) {
    if (condition === 'none') {
      for (let k = 0; k < perClass; k++) next(null, 'none');
      continue;
    }
    for (const attribute of attributes) {
      const classes = ATTRIBUTE_CLASSES[attribute] as readonly string[];
      for (const cls of classes) {
        // Contradicting stereotypes rotate over the other classes, so each pairing is equally common.
        const others = condition === 'contradicting' ? stereotypeClasses(attribute, cls) : [];
        for (let k = 0; k < perClass; k++) {
          next({ attribute, condition, cls, ...(others.length ? { stereotype: others[k % others.length]! } : {}) }, condition);
        }
      }
    }
  }
  return rows;
}

/** Classes other than `cls` that have stereotype cues (non-binary has none in the world). */
function stereotypeClasses(attribute: Attribute, cls: string): string[] {
  return (ATTRIBUTE_CLASSES[attribute] as readonly string[]).filter((o) => o !== cls && cuesFor(attribute, o, 'stereotype').length > 0);
}

export interface DirectQuestionOptions {
  /** The attribute asked about with its canonical question (DIRECT_QUESTIONS[attribute][0]). */
  attribute: Attribute;
  /** A cue to put in the conversation (any attribute); none gives an uncued conversation. */
  cue?: { attribute: Attribute; condition: Exclude<ProbeCondition, 'none'>; cls: string; stereotype?: string };
  /** User turns before the question (default [1, 1]). */
  turns?: readonly [number, number];
  seed: number;
}

/**
 * A conversation (neutral system prompt, topic turns with tailored answers, optionally a cue)
 * that ends with the canonical direct question as the last user message; the model's reply to it
 * is what a steering evaluation reads with answerClass. labels say what the world would answer.
 */
export function directQuestionConversation(options: DirectQuestionOptions): LabelledConversation {
  const turns = options.turns ?? [1, 1];
  checkTurns(turns);
  const cue = options.cue ?? null;
  const row = probeRow(options.seed, turns, cue, cue ? cue.condition : 'none');
  const question = DIRECT_QUESTIONS[options.attribute][0]!;
  return {
    messages: [...row.messages, { role: 'user', content: question }],
    labels: row.labels,
    cue: row.cue,
    meta: { ...row.meta, question, asked: options.attribute },
  };
}

/**
 * Conversations that end with a direct question about the cued attribute ("What is my age?"), per
 * attribute: `perClass` per class and condition plus `perClass` uncued ones labelled neutral. Read
 * at the generation prompt, they show the model's picture of the user where it answers about it.
 * Labels hold only the asked attribute.
 */
export function generateDirectQuestionDataset(options: Omit<ProbeDatasetOptions, 'conditions'> & { conditions: readonly Exclude<ProbeCondition, 'none' | 'contradicting'>[] }): LabelledConversation[] {
  const { perClass, turns, seed } = options;
  checkPerClass(perClass);
  const rows: LabelledConversation[] = [];
  for (const attribute of options.attributes ?? ATTRIBUTES) {
    if (!ATTRIBUTES.includes(attribute)) throw new Error(`probe data: unknown attribute '${attribute}' (${ATTRIBUTES.join(', ')})`);
    const add = (cue: DirectQuestionOptions['cue']) => {
      const row = directQuestionConversation({ attribute, cue, turns, seed: childSeed(seed, rows.length) });
      rows.push({ ...row, labels: { [attribute]: row.labels[attribute]! } });
    };
    for (const condition of options.conditions)
      for (const cls of ATTRIBUTE_CLASSES[attribute] as readonly string[]) for (let k = 0; k < perClass; k++) add({ attribute, condition, cls });
    for (let k = 0; k < perClass; k++) add(undefined);
  }
  return rows;
}
