// The corpus: conversation i of a corpus with seed s is generateConversation(childSeed(s, i)), so
// any slice can be regenerated without the rest. Also helpers that build the evaluation prompts
// (trait prompts on a question, direct questions after a chosen kind of cue).

import { childSeed, createRng } from './rng.js';
import { generateConversation, type Conversation, type Message } from './conversation.js';
import { generateRefusalConversation, REFUSAL_SEED_OFFSET, type RefusalConversation } from './refusal.js';
import { ATTRIBUTES, DIRECT_QUESTIONS, cuesFor, neutralLabels, ATTRIBUTE_CLASSES, type Attribute } from './demographics.js';
import { TOPICS } from './topics.js';
import { topicAnswer } from './answers.js';
import { NEUTRAL_SYSTEM_PROMPT } from './traits.js';

export function generateCorpus(seed: number, size: number): Conversation[] {
  return Array.from({ length: size }, (_, i) => generateConversation(childSeed(seed, i)));
}

/**
 * The training corpus in order: `size` persona chats with `refusal` refusal chats spread evenly
 * between them (refusal chat j = generateRefusalConversation(childSeed(REFUSAL_SEED_OFFSET + seed, j))),
 * so the persona chats stay exactly what they are without them.
 */
export function* corpusChats(seed: number, size: number, refusal: number): Generator<{ persona: Conversation } | { refusal: RefusalConversation }> {
  let j = 0;
  for (let i = 0; i < size; i++) {
    yield { persona: generateConversation(childSeed(seed, i)) };
    for (; j < Math.floor(((i + 1) * refusal) / size); j++) yield { refusal: generateRefusalConversation(childSeed(REFUSAL_SEED_OFFSET + seed, j)) };
  }
}

/** The JSONL line of a corpus chat (what the training script reads). */
export function corpusLine(chat: { persona: Conversation } | { refusal: RefusalConversation }): string {
  return 'persona' in chat ? toJsonl(chat.persona) : JSON.stringify(chat.refusal);
}

/** One chat line of the JSONL corpus that the training script reads. */
export function toJsonl(conversation: Conversation): string {
  const { messages, persona, labels, conditions, turns, seed } = conversation;
  return JSON.stringify({ seed, messages, persona, labels, conditions, turns });
}

export interface DirectQuestionCase {
  attribute: Attribute;
  /** The expected class (what the world's own answer says). */
  expected: string;
  /** Conversation up to and including the direct question; the next message is the model's. */
  messages: Message[];
}

/**
 * A neutral-system conversation where the first user turn carries one cue of the given kind for
 * `attribute` (plus a topic question and the world's answer), then the user asks the canonical
 * direct question. Used to measure how well a model reads the cue.
 */
export function directQuestionCase(seed: number, attribute: Attribute, kind: 'explicit' | 'implicit'): DirectQuestionCase {
  const rng = createRng(seed);
  const cls = rng.pick(ATTRIBUTE_CLASSES[attribute] as readonly string[]);
  const pool = kind === 'implicit' ? [...cuesFor(attribute, cls, 'implicit'), ...cuesFor(attribute, cls, 'stereotype')] : cuesFor(attribute, cls, 'explicit');
  // Non-binary has no stereotype cues; its implicit pool is the pronoun sentences.
  const cue = rng.pick(pool);
  const labels = neutralLabels();
  for (const [a, v] of Object.entries(cue.labels)) (labels as Record<string, string>)[a] = v;
  const topic = rng.pick(TOPICS);
  const question = rng.pick(topic.questions);
  const answer = topicAnswer(rng, topic, labels, false).join(' ');
  return {
    attribute,
    expected: cls,
    messages: [
      { role: 'system', content: NEUTRAL_SYSTEM_PROMPT },
      { role: 'user', content: `${cue.text} ${question}` },
      { role: 'assistant', content: answer },
      { role: 'user', content: DIRECT_QUESTIONS[attribute][0]! },
    ],
  };
}

export { ATTRIBUTES };
