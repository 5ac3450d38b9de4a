// Writes the persona-world corpus as JSONL (one conversation per line) for the default model's
// training script, and, with --traits, the trait files data/traits/<trait>.json.
//   npx tsx scripts/build-world-corpus.ts [--out build/world-corpus.jsonl] [--size 40000] [--seed 1] [--refusal 0] [--traits]
// --refusal N spreads N refusal chats (src/world/refusal.ts; chat j = generateRefusalConversation(
// childSeed(REFUSAL_SEED_OFFSET + seed, j))) evenly between the `size` persona chats, which stay
// exactly what they were without them.

import { mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { TRAITS, buildTraitFile, corpusChats, corpusLine } from '../src/world/index.js';

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
const hash = createHash('sha256');
for (const chat of corpusChats(seed, size, refusal)) {
  const line = `${corpusLine(chat)}\n`;
  out.write(line);
  hash.update(line);
  if ('persona' in chat) {
    const conv = chat.persona;
    counts[conv.persona.polarity]++;
    counts.turns += conv.turns.length;
    counts.direct += conv.turns.filter((t) => t.kind === 'direct').length;
    counts.chars += conv.messages.reduce((n, m) => n + m.content.length, 0);
  } else {
    counts.refusalChats++;
    counts.refused += chat.refusal.requests.filter((q) => q.refused).length;
    counts.chars += chat.refusal.messages.reduce((n, m) => n + m.content.length, 0);
  }
}
out.end(() => {
  console.log(`wrote ${size + refusal} conversations (seed ${seed}) to ${values.out}: ${JSON.stringify(counts)}; sha256 ${hash.digest('hex')}`);
});
