// Writes the persona-world corpus as JSONL (one conversation per line) for the default model's
// training script, and, with --traits, the trait files data/traits/<trait>.json.
//   npx tsx scripts/build-world-corpus.ts [--out build/world-corpus.jsonl] [--size 40000] [--seed 1] [--refusal 0] [--traits]
// --refusal N spreads N refusal chats (src/world/refusal.ts; chat j = generateRefusalConversation(
// childSeed(REFUSAL_SEED_OFFSET + seed, j))) evenly between the `size` persona chats, which stay
// exactly what they were without them.

import { mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { TRAITS, buildTraitFile, generateConversation, generateRefusalConversation, childSeed, toJsonl, REFUSAL_SEED_OFFSET } from '../src/world/index.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'build/world-corpus.jsonl' },
    size: { type: 'string', default: '40000' },
    seed: { type: 'string', default: '1' },
    refusal: { type: 'string', default: '0' },
    traits: { type: 'boolean', default: false },
  },
});

if (values.traits) {
  mkdirSync('data/traits', { recursive: true });
  for (const trait of TRAITS) {
    writeFileSync(`data/traits/${trait}.json`, `${JSON.stringify(buildTraitFile(trait), null, 2)}\n`);
  }
  console.log(`wrote data/traits/{${TRAITS.join(',')}}.json`);
}

const size = Number(values.size);
const seed = Number(values.seed);
const refusal = Number(values.refusal);
if (!Number.isInteger(refusal) || refusal < 0) throw new Error(`--refusal: expected a count >= 0, got "${values.refusal}"`);
mkdirSync(dirname(values.out!), { recursive: true });
const out = createWriteStream(values.out!);
const counts = { pos: 0, neg: 0, neutral: 0, turns: 0, direct: 0, chars: 0, refusalChats: 0, refused: 0 };
let j = 0;
for (let i = 0; i < size; i++) {
  const conv = generateConversation(childSeed(seed, i));
  const line = toJsonl(conv);
  out.write(`${line}\n`);
  counts[conv.persona.polarity]++;
  counts.turns += conv.turns.length;
  counts.direct += conv.turns.filter((t) => t.kind === 'direct').length;
  counts.chars += conv.messages.reduce((n, m) => n + m.content.length, 0);
  for (; j < Math.floor(((i + 1) * refusal) / size); j++) {
    const r = generateRefusalConversation(childSeed(REFUSAL_SEED_OFFSET + seed, j));
    out.write(`${JSON.stringify(r)}\n`);
    counts.refusalChats++;
    counts.refused += r.requests.filter((q) => q.refused).length;
    counts.chars += r.messages.reduce((n, m) => n + m.content.length, 0);
  }
}
out.end(() => {
  console.log(`wrote ${size + refusal} conversations (seed ${seed}) to ${values.out}: ${JSON.stringify(counts)}`);
});
