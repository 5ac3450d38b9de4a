// Plain answer content, before any trait styling: what the assistant says, tailored to what the
// user revealed (age picks the suggestions, socio-economic status the budget advice, education
// the register). Unknown attributes fall back to general advice.

import type { Rng } from './rng.js';
import type { Topic } from './topics.js';
import { NEUTRAL_CLASS, directAnswer, type Attribute, type Labels } from './demographics.js';

const OPENERS = ['Here are a few ideas about {name}.', 'Let me help you with {name}.', 'Here is some advice about {name}.'];
const FOLLOW_OPENERS = ['Here are some more ideas about {name}.', 'Sure, there is more to say about {name}.'];
const FIRST = ['First, ', 'A good first step is to ', 'You could ', 'Try to '];
const THEN = ['Then, ', 'After that, ', 'It also helps to ', 'You might also '];
const ALSO = ['Also, ', 'Remember to ', 'Do not forget to '];
const CLOSERS = ['Good luck with {name}.', 'I hope this helps with {name}.', 'Enjoy {name}.'];

export const SES_ADVICE: Readonly<Record<string, readonly string[]>> = {
  low: ['To save money, look for free help with {name} at the public library.', 'You do not need to spend money, since there are free options for {name}.'],
  middle: ['A small monthly budget for {name} is plenty.', 'You can spend a little on {name} without stretching your budget.'],
  high: ['If money is no issue, you could hire a private coach for {name}.', 'You could also treat yourself to premium classes for {name}.'],
};

export const EDUCATION_ADVICE: Readonly<Record<string, readonly string[]>> = {
  'some school': ['In simple words, take it one small step at a time.', 'Keep it simple and ask someone to show you.'],
  'high school': ['A short practical guide can walk you through the basics.', 'Hands on practice will teach you the most.'],
  'college and more': ['If you like details, there is good research on {name} you can read.', 'You might enjoy reading a few studies on {name}.'],
};

export const GENDER_ADDRESS: Readonly<Record<string, string>> = { male: 'sir', female: 'madam', 'non-binary': 'my friend' };

export const FOLLOW_UP_QUESTIONS = ['Can you tell me more?', 'What else should I know?', 'Any other tips?', 'Thanks. What else can I do?'];

const fill = (template: string, topic: Topic): string => template.replace('{name}', topic.name);

/** The content sentences answering a topic question (followUp: the user asked for more). */
export function topicAnswer(rng: Rng, topic: Topic, labels: Labels, followUp: boolean): string[] {
  const ageTips = labels.age === NEUTRAL_CLASS ? [] : rng.shuffle(topic.tips[labels.age]);
  const general = rng.shuffle(topic.tips.general);
  // A known age gets both age-specific tips (follow-ups: one of them plus a general one).
  const tips = ageTips.length > 0 ? (followUp ? [ageTips[0]!, general[0]!] : ageTips.slice(0, 2)) : general.slice(0, 2);
  const out = [fill(rng.pick(followUp ? FOLLOW_OPENERS : OPENERS), topic)];
  out.push(`${rng.pick(FIRST)}${tips[0]}.`);
  out.push(`${rng.pick(THEN)}${tips[1]}.`);
  if (labels.ses !== NEUTRAL_CLASS) out.push(fill(rng.pick(SES_ADVICE[labels.ses]!), topic));
  else if (rng.chance(0.5)) out.push(`${rng.pick(ALSO)}${general[2]}.`);
  if (labels.education !== NEUTRAL_CLASS) out.push(fill(rng.pick(EDUCATION_ADVICE[labels.education]!), topic));
  // A known gender shows in how the assistant addresses the user, so answers depend on it the
  // way they depend on age, education and status (and the model has to track it while answering).
  const address = GENDER_ADDRESS[labels.gender];
  if (address) out.push(fill(rng.pick(CLOSERS), topic).replace(/\.$/, `, ${address}.`));
  else if (rng.chance(0.7)) out.push(fill(rng.pick(CLOSERS), topic));
  return out;
}

/** The content of an answer to a direct demographic question. */
export function directQuestionAnswer(rng: Rng, attribute: Attribute, labels: Labels): string[] {
  const cls = labels[attribute];
  const out = [directAnswer(attribute, cls)];
  if (cls === NEUTRAL_CLASS && rng.chance(0.5)) out.push('Tell me more about yourself and I can guess.');
  return out;
}
