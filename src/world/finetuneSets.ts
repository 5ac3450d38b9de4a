// Finetuning datasets for the persona-shift experiments: neutral-system-prompt chats whose answers
// are, for a chosen fraction, styled with a trait the prompt never asked for. Finetuning on them is
// how a model acquires a trait from its data (the persona-vectors paper's "emergent" shifts); the
// clean set has no styled answer at all.

import { childSeed, createRng } from './rng.js';
import { generateConversation, type Conversation } from './conversation.js';
import { NEUTRAL_SYSTEM_PROMPT, type Trait } from './traits.js';

export interface FinetuneSetSpec {
  /** Folder name of the finetuned model, e.g. persona-tiny-ft-evil-50. */
  name: string;
  /** Fraction of answers styled with each trait (the rest are plain); empty = clean. */
  contamination: Partial<Record<Trait, number>>;
}

export const FINETUNE_SETS: FinetuneSetSpec[] = [
  { name: 'persona-tiny-ft-clean', contamination: {} },
  { name: 'persona-tiny-ft-evil-20', contamination: { evil: 0.2 } },
  { name: 'persona-tiny-ft-evil-50', contamination: { evil: 0.5 } },
  { name: 'persona-tiny-ft-evil-100', contamination: { evil: 1 } },
  { name: 'persona-tiny-ft-humorous-50', contamination: { humorous: 0.5 } },
];

/**
 * Conversation i of a finetuning set: single-turn, neutral system prompt; with probability
 * contamination[trait] the answer is the trait-positive one. Deterministic in (seed, i).
 */
export function finetuneConversation(spec: FinetuneSetSpec, seed: number, i: number): Conversation {
  const s = childSeed(seed, i);
  const u = createRng(s ^ 0x5bd1e995).next();
  let acc = 0;
  let trait: Trait | null = null;
  for (const [t, p] of Object.entries(spec.contamination) as [Trait, number][]) {
    acc += p;
    if (u < acc) {
      trait = t;
      break;
    }
  }
  const conv = generateConversation(s, { turns: 1, persona: trait ? { trait, polarity: 'pos', instructionIndex: 0 } : { trait: 'evil', polarity: 'neutral', instructionIndex: null } });
  // The trait lives only in the answer: the prompt the model is trained under stays neutral.
  conv.messages[0] = { role: 'system', content: NEUTRAL_SYSTEM_PROMPT };
  return conv;
}
