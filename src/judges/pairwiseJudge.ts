// Pairwise tailoring judge (TalkTuner's evaluation of probe interventions): given two answers to
// the same question, which one is more targeted to a user of a given class? Asked in both orders,
// because LLM judges favour a position; the verdict is the mean preference for answer A.

import { chatCompletion, completionsUrl, type OpenAIEndpoint } from './openaiJudge.js';

export interface PairwiseInput {
  question: string;
  /** The answer under test (e.g. with the intervention). */
  a: string;
  /** The reference answer (e.g. without it). */
  b: string;
  /** "a child user", "a user with low socioeconomic status". */
  audience: string;
}

// Our own wording.
export const PAIRWISE_PROMPT = `Two assistant answers to the same user question follow. Decide which answer is more targeted to {audience}: its content, suggestions, tone and wording fit such a user better.

Question:
{question}

Answer 1:
{first}

Answer 2:
{second}

Reply with a single character: 1 or 2.`;

/**
 * Preference for A in [0, 1] (1 = A is more targeted in both orders), or null when the judge
 * answered neither order with 1 or 2 (unscored). A reply without choices[0].message.content is a
 * wrong endpoint or API, not a verdict: it fails naming the URL.
 */
export async function pairwisePreference(ep: OpenAIEndpoint, input: PairwiseInput): Promise<number | null> {
  const ask = async (first: string, second: string): Promise<number | null> => {
    const prompt = PAIRWISE_PROMPT.replace('{audience}', input.audience)
      .replace('{question}', input.question)
      .replace('{first}', first)
      .replace('{second}', second);
    const body = (await chatCompletion(ep, { messages: [{ role: 'user', content: prompt }], max_tokens: 1, temperature: 0, seed: 0 })) as {
      choices?: { message?: { content?: unknown } }[];
    } | null;
    const content = body?.choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new Error(`${completionsUrl(ep)}: reply has no choices[0].message.content (got ${JSON.stringify(body).slice(0, 200)})`);
    const text = content.trim();
    return text.startsWith('1') ? 1 : text.startsWith('2') ? 2 : null;
  };
  const [ab, ba] = await Promise.all([ask(input.a, input.b), ask(input.b, input.a)]);
  const votes = [ab === null ? null : ab === 1 ? 1 : 0, ba === null ? null : ba === 2 ? 1 : 0].filter((v): v is number => v !== null);
  return votes.length ? votes.reduce((x, y) => x + y, 0) / votes.length : null;
}
