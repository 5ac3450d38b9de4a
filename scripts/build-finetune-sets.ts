// Writes the finetuning datasets of src/world/finetuneSets.ts as JSONL chats (one per line, the
// training script's format and `persona project` / `persona screen`'s `messages` format).
//   npx tsx scripts/build-finetune-sets.ts [--out build/finetune] [--size 3000] [--seed 7]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FINETUNE_SETS, finetuneConversation } from '../src/world/finetuneSets.js';
import { toJsonl } from '../src/world/index.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'build/finetune' }, size: { type: 'string', default: '3000' }, seed: { type: 'string', default: '7' } } });
mkdirSync(values.out!, { recursive: true });
for (const spec of FINETUNE_SETS) {
  const lines = Array.from({ length: Number(values.size) }, (_, i) => toJsonl(finetuneConversation(spec, Number(values.seed), i)));
  writeFileSync(join(values.out!, `${spec.name}.jsonl`), lines.join('\n') + '\n');
  console.log(`${spec.name}: ${lines.length} chats, contamination ${JSON.stringify(spec.contamination)}`);
}
