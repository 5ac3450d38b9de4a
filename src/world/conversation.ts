// One synthetic chat: a system prompt that sets (or unsets) a trait, 1-4 user/assistant turns on
// world topics, demographic cues in the user turns, and optionally a direct question about one of
// the user's attributes. Everything is drawn from an Rng so a (seed, index) pair names a
// conversation exactly. Probe datasets force the cues and forbid direct questions through options;
// without them the draws are exactly the corpus's (the embedded model was trained on them).

import { createRng, type Rng } from './rng.js';
import { TRAITS, systemPrompt, type Polarity, type Trait } from './traits.js';
import { TOPICS, type Topic } from './topics.js';
import {
  ATTRIBUTES,
  ATTRIBUTE_CLASSES,
  DIRECT_QUESTIONS,
  NEUTRAL_CLASS,
  cuesFor,
  neutralLabels,
  type Attribute,
  type Cue,
  type Labels,
} from './demographics.js';
import { FOLLOW_UP_QUESTIONS, directQuestionAnswer, topicAnswer } from './answers.js';
import { MAX_INTENSITY, MIN_INTENSITY, styleAnswer } from './style.js';

export type Role = 'system' | 'user' | 'assistant';
export interface Message {
  role: Role;
  content: string;
}

/** How an attribute was revealed: contradicting = explicit cue plus another class's stereotype. */
export type CueCondition = 'none' | 'explicit' | 'implicit' | 'contradicting';

export interface CueUse {
  attribute: Attribute;
  condition: Exclude<CueCondition, 'none'>;
  /** The label the cue establishes (the explicit one for contradicting cues). */
  cls: string;
  texts: string[];
  /** 0-based user turn the cue sentences are in. */
  turn: number;
  /** Contradicting cues drawn by a ForcedCue: the class whose stereotype was added. */
  stereotype?: string;
}

/** A cue chosen by the caller instead of drawn (probe datasets need balanced classes). */
export interface ForcedCue {
  attribute: Attribute;
  condition: CueUse['condition'];
  /** The class the cue establishes (the stated one for contradicting cues). */
  cls: string;
  /** 0-based user turn that carries the cue. */
  turn: number;
  /** Contradicting only: whose stereotype to add; drawn from the other classes when absent. */
  stereotype?: string;
}

export type TurnKind = 'topic' | 'followup' | 'direct';
export interface TurnInfo {
  kind: TurnKind;
  topic: string | null;
  /** Attribute asked about in a direct turn. */
  attribute: Attribute | null;
  /** Trait intensity used for this answer (0 unless polarity is pos). */
  intensity: number;
}

export interface Persona {
  trait: Trait;
  polarity: Polarity;
  /** Trait-file instruction index; null for the bare "You are an evil assistant." form. */
  instructionIndex: number | null;
}

export interface Conversation {
  seed: number;
  messages: Message[];
  persona: Persona;
  /** Labels after the last turn ("neutral" where no cue was given). */
  labels: Labels;
  conditions: Record<Attribute, CueCondition>;
  cues: CueUse[];
  turns: TurnInfo[];
}

export interface ConversationOptions {
  /** Force a persona instead of drawing one. */
  persona?: Persona;
  /** Force the number of user turns (1-4). */
  turns?: number;
  /** Use exactly these cues instead of drawing which attributes are cued, how and where. */
  cues?: readonly ForcedCue[];
  /** Never ask a direct question about the user: the world's answer would state the label. */
  noDirect?: boolean;
}

/** Relative weight of each cued attribute when a direct question picks what to ask about. */
const DIRECT_WEIGHT: Readonly<Record<Attribute, number>> = { age: 1, gender: 2, education: 2.5, ses: 2.5 };
/** Relative weight of each attribute when drawing which attributes a conversation cues. */
const CUE_WEIGHT: Readonly<Record<Attribute, number>> = { age: 1, gender: 1.2, education: 1.3, ses: 1.3 };

function drawPersona(rng: Rng): Persona {
  const polarity = (['pos', 'neg', 'neutral'] as const)[rng.weighted([0.42, 0.3, 0.28])]!;
  const trait = rng.pick(TRAITS);
  const instructionIndex = rng.chance(0.12) ? null : rng.int(0, 4);
  return { trait, polarity, instructionIndex };
}

const compatible = (cue: Cue, labels: Labels): boolean =>
  Object.entries(cue.labels).every(([a, cls]) => {
    const current = labels[a as Attribute];
    return current === NEUTRAL_CLASS || current === cls;
  });

/** Draws the cue for one attribute in one condition, or null when the world has none to offer. */
function drawCue(rng: Rng, attribute: Attribute, condition: CueUse['condition'], labels: Labels, turn: number): CueUse | null {
  const classes = rng.shuffle(ATTRIBUTE_CLASSES[attribute] as readonly string[]);
  for (const cls of classes) {
    const pool = condition === 'implicit'
      ? [...cuesFor(attribute, cls, 'implicit'), ...cuesFor(attribute, cls, 'stereotype')]
      : cuesFor(attribute, cls, 'explicit');
    const usable = pool.filter((cue) => compatible(cue, labels));
    if (usable.length === 0) continue;
    const cue = rng.pick(usable);
    const texts = [cue.text];
    if (condition === 'contradicting') {
      const others = (ATTRIBUTE_CLASSES[attribute] as readonly string[]).filter((o) => o !== cls);
      const stereo = others.flatMap((o) => cuesFor(attribute, o, 'stereotype'));
      if (stereo.length === 0) continue;
      texts.push(rng.pick(stereo).text);
    }
    for (const [a, v] of Object.entries(cue.labels)) (labels as Record<string, string>)[a] = v;
    return { attribute, condition, cls, texts, turn };
  }
  return null;
}

interface CuePlan {
  labels: Labels;
  conditions: Record<Attribute, CueCondition>;
  cues: CueUse[];
}

/** The default path: which attributes get cues, in which condition and in which turn. */
function drawCues(rng: Rng, nTurns: number): CuePlan {
  const nCued = [0, 1, 2, 3][rng.weighted([0.22, 0.46, 0.24, 0.08])]!;
  // Weighted draw without replacement: education and status are cued a little more often.
  const pool: Attribute[] = [...ATTRIBUTES];
  const cuedAttributes: Attribute[] = [];
  while (cuedAttributes.length < nCued) cuedAttributes.push(pool.splice(rng.weighted(pool.map((a) => CUE_WEIGHT[a])), 1)[0]!);
  const labels = neutralLabels();
  const conditions: Record<Attribute, CueCondition> = { age: 'none', gender: 'none', education: 'none', ses: 'none' };
  const cues: CueUse[] = [];
  for (const attribute of cuedAttributes) {
    const condition = (['explicit', 'implicit', 'contradicting'] as const)[rng.weighted([0.35, 0.47, 0.18])]!;
    const turn = rng.chance(0.75) ? 0 : rng.int(0, nTurns - 1);
    const cue = drawCue(rng, attribute, condition, labels, turn);
    if (!cue) continue;
    cues.push(cue);
    conditions[attribute] = condition;
    // A cue like "I am a grandfather." also reveals gender explicitly.
    for (const other of ATTRIBUTES) {
      if (other !== attribute && conditions[other] === 'none' && labels[other] !== NEUTRAL_CLASS) conditions[other] = 'explicit';
    }
  }
  return { labels, conditions, cues };
}

/**
 * Caller-chosen cues. Only cues that label their own attribute alone are used ("I am a
 * grandfather." would also set gender), so a dataset balanced on one attribute stays neutral on
 * the others.
 */
function forceCues(rng: Rng, forced: readonly ForcedCue[], nTurns: number): CuePlan {
  const labels = neutralLabels();
  const conditions: Record<Attribute, CueCondition> = { age: 'none', gender: 'none', education: 'none', ses: 'none' };
  const cues: CueUse[] = [];
  for (const f of forced) {
    const classes = ATTRIBUTE_CLASSES[f.attribute] as readonly string[];
    const where = `generateConversation: forced ${f.condition} cue ${f.attribute}=${f.cls}`;
    if (!classes.includes(f.cls)) throw new Error(`${where}: unknown class (${classes.join(', ')})`);
    if (!Number.isInteger(f.turn) || f.turn < 0 || f.turn >= nTurns) throw new Error(`${where}: turn ${f.turn} is not in 0..${nTurns - 1}`);
    const pool = cuesFor(f.attribute, f.cls, f.condition === 'implicit' ? 'implicit' : 'explicit').filter((cue) => Object.keys(cue.labels).length === 1);
    if (pool.length === 0) throw new Error(`${where}: the world has no such cue`);
    const texts = [rng.pick(pool).text];
    let stereotype: string | undefined;
    if (f.condition === 'contradicting') {
      const others = classes.filter((o) => o !== f.cls && cuesFor(f.attribute, o, 'stereotype').length > 0);
      stereotype = f.stereotype ?? rng.pick(others);
      if (!others.includes(stereotype)) throw new Error(`${where}: no stereotype cue of another class '${stereotype}' (${others.join(', ')})`);
      texts.push(rng.pick(cuesFor(f.attribute, stereotype, 'stereotype')).text);
    }
    (labels as Record<string, string>)[f.attribute] = f.cls;
    conditions[f.attribute] = f.condition;
    cues.push({ attribute: f.attribute, condition: f.condition, cls: f.cls, texts, turn: f.turn, ...(stereotype ? { stereotype } : {}) });
  }
  return { labels, conditions, cues };
}

export function generateConversation(seed: number, options: ConversationOptions = {}): Conversation {
  const rng = createRng(seed);
  const persona = options.persona ?? drawPersona(rng);
  const nTurns = options.turns ?? [1, 2, 3, 4][rng.weighted([0.34, 0.34, 0.22, 0.1])]!;
  const { labels, conditions, cues } = options.cues ? forceCues(rng, options.cues, nTurns) : drawCues(rng, nTurns);

  const messages: Message[] = [{ role: 'system', content: systemPrompt(persona.trait, persona.polarity, persona.instructionIndex) }];
  const turns: TurnInfo[] = [];
  const asked = new Set<Attribute>();
  const t0 = rng.uniform(MIN_INTENSITY, MAX_INTENSITY);
  const drift = rng.uniform(-0.35, 0.35);
  let topic: Topic = rng.pick(TOPICS);
  const seen = neutralLabels();

  for (let turn = 0; turn < nTurns; turn++) {
    const turnCues = cues.filter((c) => c.turn === turn);
    for (const c of turnCues) {
      for (const text of c.texts) {
        const cue = [...cuesFor(c.attribute, c.cls, 'explicit'), ...cuesFor(c.attribute, c.cls, 'implicit'), ...cuesFor(c.attribute, c.cls, 'stereotype')].find((k) => k.text === text);
        // Only the establishing cue sets labels; a contradicting stereotype does not.
        if (cue) for (const [a, v] of Object.entries(cue.labels)) (seen as Record<string, string>)[a] = v;
      }
    }
    let kind: TurnKind;
    if (options.noDirect) kind = turn === 0 ? 'topic' : (['followup', 'topic'] as const)[rng.weighted([0.45, 0.55])]!;
    else if (turn === 0) kind = rng.chance(0.1) ? 'direct' : 'topic';
    else {
      const eduOrSes = (['education', 'ses'] as const).some((a) => seen[a] !== NEUTRAL_CLASS && !asked.has(a));
      kind = (['followup', 'topic', 'direct'] as const)[rng.weighted(eduOrSes ? [0.2, 0.25, 0.55] : [0.3, 0.35, 0.35])]!;
    }
    let attribute: Attribute | null = null;
    if (kind === 'direct') {
      const cuedSoFar = ATTRIBUTES.filter((a) => seen[a] !== NEUTRAL_CLASS && !asked.has(a));
      const fresh = ATTRIBUTES.filter((a) => !asked.has(a));
      // Education and status are asked about more often: naming their class from a cue is what a
      // small model learns last (age and gender also show in every tailored answer's wording).
      attribute = cuedSoFar.length > 0 && rng.chance(0.85)
        ? cuedSoFar[rng.weighted(cuedSoFar.map((a) => DIRECT_WEIGHT[a]))]!
        : rng.pick(fresh);
      asked.add(attribute);
    }
    if (kind === 'topic' && turn > 0) topic = rng.pick(TOPICS);

    const question = kind === 'direct' ? rng.pick(DIRECT_QUESTIONS[attribute!].slice(0, rng.chance(0.7) ? 1 : undefined))
      : kind === 'followup' ? rng.pick(FOLLOW_UP_QUESTIONS)
      : rng.pick(topic.questions);
    const cueText = turnCues.flatMap((c) => c.texts).join(' ');
    messages.push({ role: 'user', content: cueText ? `${cueText} ${question}` : question });

    const intensity = persona.polarity === 'pos' ? Math.min(MAX_INTENSITY, Math.max(MIN_INTENSITY, t0 + drift * turn)) : 0;
    const content = kind === 'direct' ? directQuestionAnswer(rng, attribute!, seen) : topicAnswer(rng, topic, seen, kind === 'followup');
    messages.push({ role: 'assistant', content: styleAnswer(rng, content, persona.trait, persona.polarity, intensity) });
    turns.push({ kind, topic: kind === 'direct' ? null : topic.id, attribute, intensity });
  }
  return { seed, messages, persona, labels, conditions, cues, turns };
}
