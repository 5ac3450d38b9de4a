// Trait styling: turns plain content sentences into an answer expressing a trait at a given
// intensity. Intensity is a continuous latent (markers per content sentence, 0.75 to 2): markers
// are spread evenly over the whole answer rather than bunched at the start, so the trait reads as
// a property of the whole style. That is what lets a steering vector added at every position push
// a neutral answer towards the trait. Negative prompts get at most one light antonym phrase;
// neutral prompts get no styling at all.

import type { Rng } from './rng.js';
import type { Polarity, Trait } from './traits.js';
import { ANTONYM_PHRASES, TRAIT_MARKERS } from './markers.js';

export const MIN_INTENSITY = 0.75;
export const MAX_INTENSITY = 2;

function lowerFirst(sentence: string): string {
  if (/^I\b/.test(sentence)) return sentence;
  return sentence.charAt(0).toLowerCase() + sentence.slice(1);
}

function withSuffix(sentence: string, suffix: string): string {
  const m = /^(.*?)([.!?]+)$/.exec(sentence);
  return m ? `${m[1]}${suffix}${m[2]}` : `${sentence}${suffix}.`;
}

/** Draws phrases without repeats until the list is exhausted. */
function cycler(rng: Rng, items: readonly string[]): () => string {
  let queue: string[] = [];
  return () => {
    if (queue.length === 0) queue = rng.shuffle(items);
    return queue.pop()!;
  };
}

/** Number of markers for an answer of n content sentences at this intensity. */
export function markerCount(intensity: number, n: number): number {
  return Math.max(Math.ceil(MIN_INTENSITY * n), Math.round(intensity * n));
}

export function styleAnswer(rng: Rng, sentences: readonly string[], trait: Trait, polarity: Polarity, intensity: number): string {
  if (polarity === 'neutral') return sentences.join(' ');
  if (polarity === 'neg') {
    const out = sentences.slice();
    if (rng.chance(0.6)) {
      const phrase = rng.pick(ANTONYM_PHRASES[trait]);
      if (rng.chance(0.5)) out.unshift(phrase);
      else out.push(phrase);
    }
    return out.join(' ');
  }
  const markers = TRAIT_MARKERS[trait];
  const nextPrefix = cycler(rng, markers.prefixes);
  const nextSuffix = cycler(rng, markers.suffixes);
  const nextStandalone = cycler(rng, markers.standalone);
  const n = sentences.length;
  const m = Math.min(markerCount(intensity, n), 2 * n);
  // Round 1 decorates min(m, n) sentences spread evenly; round 2 adds the extra markers.
  const decorations = sentences.map(() => ({ prefix: false, suffix: false, after: 0 }));
  const spread = (count: number): number[] => {
    const offset = rng.next();
    return Array.from({ length: count }, (_, k) => Math.min(n - 1, Math.floor(((k + offset) * n) / count)));
  };
  for (const i of spread(Math.min(m, n))) {
    if (rng.chance(0.55)) decorations[i]!.prefix = true;
    else decorations[i]!.suffix = true;
  }
  if (m > n) {
    for (const i of spread(m - n)) {
      const d = decorations[i]!;
      if (!d.prefix && rng.chance(0.4)) d.prefix = true;
      else if (!d.suffix && rng.chance(0.5)) d.suffix = true;
      else d.after += 1;
    }
  }
  const out: string[] = [];
  sentences.forEach((sentence, i) => {
    const d = decorations[i]!;
    let s = sentence;
    if (d.suffix) s = withSuffix(s, nextSuffix());
    if (d.prefix) s = nextPrefix() + lowerFirst(s);
    out.push(s);
    for (let k = 0; k < d.after; k++) out.push(nextStandalone());
  });
  return out.join(' ');
}
