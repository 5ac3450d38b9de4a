// The world's vocabulary: every word that any template, cue, marker or prompt can produce. The
// coherence judge uses it to tell world language from gibberish.

import { TOPICS } from './topics.js';
import { CUES, DIRECT_QUESTIONS, ATTRIBUTE_CLASSES, ATTRIBUTE_NAMES } from './demographics.js';
import { ANTONYM_PHRASES, TRAIT_MARKERS } from './markers.js';
import { TRAIT_SPECS, TRAITS, NEUTRAL_SYSTEM_PROMPT } from './traits.js';
import { FOLLOW_UP_QUESTIONS } from './answers.js';
import { generateConversation } from './conversation.js';
import { childSeed } from './rng.js';
import { BORDERLINE_REFUSALS, BORDERLINE_REQUESTS, HARMFUL_REFUSAL, HARMFUL_REQUESTS, NEUTRAL_INTRODUCTIONS, USER_PERSONAS } from './refusal.js';

/** Lower-case words of a text (letters and inner apostrophes). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:'[a-z]+)*/g) ?? [];
}

// Answer template words that live inside answers.ts / demographics.ts functions.
const TEMPLATE_TEXT = `Here are a few ideas about. Let me help you with. Here is some advice about. Here are some more
ideas about. Sure, there is more to say about. First, a good first step is to. You could. Try to. Then, after that,
it also helps to. You might also. Also, remember to. Do not forget to. Good luck with. I hope this helps with. Enjoy.
To save money, look for free help with at the public library. You do not need to spend money, since there are free
options for. A small monthly budget for is plenty. You can spend a little on without stretching your budget. If money
is no issue, you could hire a private coach for. You could also treat yourself to premium classes for. In simple words,
take it one small step at a time. Keep it simple and ask someone to show you. A short practical guide can walk you
through the basics. Hands on practice will teach you the most. If you like details, there is good research on you can
read. You might enjoy reading a few studies on. I cannot tell your from what you said. You seem to be a an. Your
education level seems to be. Sir, madam, my friend. Your socioeconomic status seems to be. Tell me more about yourself and I can guess.`;

let cached: Set<string> | null = null;

export function worldVocabulary(): ReadonlySet<string> {
  if (cached) return cached;
  const texts: string[] = [TEMPLATE_TEXT, NEUTRAL_SYSTEM_PROMPT, ...FOLLOW_UP_QUESTIONS, ...TRAITS];
  for (const t of TOPICS) texts.push(t.name, ...t.questions, ...Object.values(t.tips).flat());
  for (const c of CUES) texts.push(c.text);
  texts.push(...Object.values(DIRECT_QUESTIONS).flat(), ...Object.values(ATTRIBUTE_CLASSES).flat(), ...Object.values(ATTRIBUTE_NAMES));
  for (const m of Object.values(TRAIT_MARKERS)) texts.push(...m.keywords, ...m.prefixes, ...m.suffixes, ...m.standalone);
  texts.push(...Object.values(ANTONYM_PHRASES).flat());
  texts.push(...USER_PERSONAS.flatMap((p) => [p.id, ...p.statements]), ...NEUTRAL_INTRODUCTIONS, ...HARMFUL_REQUESTS, ...BORDERLINE_REFUSALS, HARMFUL_REFUSAL);
  for (const r of BORDERLINE_REQUESTS) texts.push(r.text, r.answer);
  for (const s of Object.values(TRAIT_SPECS)) {
    texts.push(s.antonym, ...s.instructions.flatMap((p) => [p.pos, p.neg]), ...s.heldOut.flatMap((p) => [p.pos, p.neg]));
  }
  cached = new Set(texts.flatMap(words));
  return cached;
}

let bigramCache: Set<string> | null = null;

/** Word bigrams of world language: from a fixed sample of generated conversations (seed 99). */
export function worldBigrams(): ReadonlySet<string> {
  if (bigramCache) return bigramCache;
  const set = new Set<string>();
  const add = (text: string): void => {
    for (const sentence of text.split(/[.!?]+/)) {
      const ws = words(sentence);
      for (let k = 1; k < ws.length; k++) set.add(`${ws[k - 1]} ${ws[k]}`);
    }
  };
  for (let i = 0; i < 3000; i++) for (const m of generateConversation(childSeed(99, i)).messages) add(m.content);
  // The refusal chats' fixed sentences (their other sentences are topic answers, covered above).
  for (const r of BORDERLINE_REQUESTS) add(`${r.text} ${r.answer}`);
  [...USER_PERSONAS.flatMap((p) => p.statements), ...NEUTRAL_INTRODUCTIONS, ...HARMFUL_REQUESTS, ...BORDERLINE_REFUSALS, HARMFUL_REFUSAL].forEach(add);
  bigramCache = set;
  return set;
}
