// Score = probability-weighted mean over the integer tokens 0..100 found in the top logprobs of a
// single generated token (Chen et al. 2025). If those tokens hold less than `minMass` probability the
// judge did not answer with a number and the score is null. Tokens that read as the same number
// ("20" and " 20") are two ways to say it: their probabilities add up, as the persona-vectors
// reference does (it sums every top token that parses as an integer in range).

export interface TokenLogprob {
  token: string;
  logprob: number;
}

export const MIN_SCORE_MASS = 0.25;

export function scoreFromTopLogprobs(top: TokenLogprob[], minMass = MIN_SCORE_MASS): number | null {
  let mass = 0;
  let weighted = 0;
  for (const { token, logprob } of top) {
    const t = token.trim();
    if (!/^\d{1,3}$/.test(t)) continue;
    const v = Number(t);
    if (v > 100) continue;
    const p = Math.exp(logprob);
    mass += p;
    weighted += p * v;
  }
  if (mass < minMass) return null;
  return weighted / mass;
}

/**
 * Pull the first generated token's top logprobs out of an OpenAI-compatible response, accepting
 * the chat shape (choices[0].logprobs.content[0].top_logprobs: [{token, logprob}]) and the legacy
 * completions shape (choices[0].logprobs.top_logprobs[0]: {token: logprob}).
 */
export function topLogprobsFromResponse(body: unknown): TokenLogprob[] {
  const choice = (body as { choices?: unknown[] })?.choices?.[0] as Record<string, unknown> | undefined;
  if (!choice) throw new Error('judge response has no choices[0]');
  const lp = choice.logprobs as Record<string, unknown> | null | undefined;
  if (!lp) throw new Error('judge response has no logprobs (does the endpoint support logprobs/top_logprobs?)');
  const content = lp.content as { top_logprobs?: TokenLogprob[]; token?: string; logprob?: number }[] | undefined;
  if (Array.isArray(content)) {
    const first = content[0];
    if (!first) throw new Error('judge response logprobs.content is empty');
    if (Array.isArray(first.top_logprobs) && first.top_logprobs.length) {
      return first.top_logprobs.map((e) => ({ token: String(e.token), logprob: Number(e.logprob) }));
    }
    if (typeof first.token === 'string' && typeof first.logprob === 'number') return [{ token: first.token, logprob: first.logprob }];
    throw new Error('judge response logprobs.content[0] has no top_logprobs');
  }
  const legacy = lp.top_logprobs as Record<string, number>[] | undefined;
  if (Array.isArray(legacy) && legacy[0]) {
    return Object.entries(legacy[0]).map(([token, logprob]) => ({ token, logprob: Number(logprob) }));
  }
  throw new Error('judge response logprobs have neither content[0].top_logprobs nor top_logprobs[0]');
}
