// Prompts for the monitoring study on the embedded model: a trait's evaluation questions under
// system prompts from trait-negative through neutral to trait-positive (the five trained
// instructions of each polarity and the held-out paraphrases never seen in training), plus
// multi-turn chats whose earlier answers express the trait at drifting intensity (the world's
// conversations), asked to continue. The answer to each is what the last prompt token predicts.

import { generateConversation } from './conversation.js';
import { childSeed } from './rng.js';
import { NEUTRAL_SYSTEM_PROMPT, TRAIT_SPECS, heldOutSystemPrompt, systemPrompt, type Polarity, type Trait } from './traits.js';
import type { Message } from './conversation.js';

export interface MonitoringPrompt {
  /** neg / neutral / pos, held-out-neg / held-out-pos, or multi-turn-<polarity>. */
  group: string;
  /** The chat up to the user turn the model answers next. */
  messages: Message[];
  question: string;
}

export function monitoringPrompts(trait: Trait, questions: string[], opts: { conversations?: number; seed?: number } = {}): MonitoringPrompt[] {
  const out: MonitoringPrompt[] = [];
  const ask = (group: string, system: string) => {
    for (const q of questions) out.push({ group, question: q, messages: [{ role: 'system', content: system }, { role: 'user', content: q }] });
  };
  for (let i = 0; i < 5; i++) ask('neg', systemPrompt(trait, 'neg', i));
  ask('neutral', NEUTRAL_SYSTEM_PROMPT);
  for (let i = 0; i < 5; i++) ask('pos', systemPrompt(trait, 'pos', i));
  for (let i = 0; i < TRAIT_SPECS[trait].heldOut.length; i++) {
    ask('held-out-neg', heldOutSystemPrompt(trait, 'neg', i));
    ask('held-out-pos', heldOutSystemPrompt(trait, 'pos', i));
  }
  const n = opts.conversations ?? 0;
  const polarities: Polarity[] = ['pos', 'neutral', 'neg'];
  for (let k = 0; k < n; k++) {
    const polarity = polarities[k % 3]!;
    const conv = generateConversation(childSeed(opts.seed ?? 5, k), { turns: 2 + (k % 3), persona: { trait, polarity, instructionIndex: k % 5 } });
    // Drop the last answer: the model writes it.
    const messages = conv.messages.slice(0, -1);
    out.push({ group: `multi-turn-${polarity}`, question: messages.at(-1)!.content, messages });
  }
  return out;
}
