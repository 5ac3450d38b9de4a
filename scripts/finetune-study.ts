// The finetuning study (issue 8, part 6) on the committed finetuned variants of persona-tiny
// (scripts/build-finetuned-models.sh): screening dP of each variant's training data, finetuning
// shift and judged trait expression, their correlations, and steering against the vector.
//   npx tsx scripts/finetune-study.ts [--traits evil,humorous] [--layer 3] [--coeff -4] [--out runs/finetune-study]

import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../src/directions/personaExtract.js';
import { loadTraitFile } from '../src/directions/traitFile.js';
import { finetuneStudyReport } from '../src/experiments/finetuneReport.js';
import { finetuneStudy } from '../src/experiments/finetuneStudy.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { LexiconJudge } from '../src/judges/lexiconJudge.js';
import { RunDir } from '../src/logs/runDir.js';
import { loadModel } from '../src/model/load.js';
import { writeReport } from '../src/reports/html.js';
import { NEUTRAL_SYSTEM_PROMPT } from '../src/world/index.js';
import { FINETUNE_SETS } from '../src/world/finetuneSets.js';

const { values } = parseArgs({
  options: {
    traits: { type: 'string', default: 'evil,humorous' },
    layer: { type: 'string', default: '3' },
    coeff: { type: 'string', default: '-4' },
    rows: { type: 'string', default: '100' },
    variants: { type: 'string', default: FINETUNE_SETS.map((s) => s.name).join(',') },
    out: { type: 'string', default: 'runs/finetune-study' },
  },
});
if (!FINETUNE_SETS.every((s) => existsSync(`build/finetune/${s.name}.jsonl`))) {
  execFileSync('npx', ['tsx', 'scripts/build-finetune-sets.ts', '--out', 'build/finetune', '--size', '3000', '--seed', '7'], { stdio: 'inherit' });
}
const base = await loadModel('models/persona-tiny', { threads: 1 });
const judge = new LexiconJudge();
const traits = [];
for (const name of values.traits!.split(',')) {
  const file = loadTraitFile(join('data/traits', `${name}.json`));
  const ex = await extractPersonaVectors(base, file, judge, RunDir.open(join(values.out!, `extract-${name}`), 'extract', { trait: name }), { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 10, maxNewTokens: 48, batchSize: 25 });
  traits.push({ name, evalPrompt: file.evalPrompt, questions: file.evalQuestions, vectors: ex.vectors.vectors.response_avg });
}
const cfg = { layer: Number(values.layer), coeff: Number(values.coeff), system: NEUTRAL_SYSTEM_PROMPT, maxNewTokens: 48, samples: 3, temperature: 1, screenRows: Number(values.rows), batchSize: 16 };
const run = RunDir.open(join(values.out!, 'study'), 'finetune-study', { ...cfg, traits: values.traits });
const variants = values.variants!.split(',').map((name) => ({ name, dir: join('models', name), data: join('build/finetune', `${name}.jsonl`) }));
const r = await finetuneStudy(base, variants, traits, judge, cfg, run, (s) => console.log(s));
await base.dispose();
for (const [t, c] of Object.entries(r.correlations)) {
  const f = (x: { r: number; ci: [number, number] | null }) => `${x.r.toFixed(3)}${x.ci ? ` [${x.ci[0].toFixed(2)}, ${x.ci[1].toFixed(2)}]` : ''}`;
  console.log(`${t}: dP~expression ${f(c.dPvsExpression)}, shift~expression ${f(c.shiftVsExpression)}, dP~shift ${f(c.dPvsShift)}`);
}
writeReport(join(values.out!, 'finetune-study.html'), finetuneStudyReport(r, `persona-tiny and ${variants.length} finetuned variants, layer ${cfg.layer}, steering against at ${cfg.coeff}, lexicon judge, ${cfg.samples} answers per question at temperature ${cfg.temperature}`));
writeJsonAtomic(join(values.out!, 'finetune-study.json'), r);
run.finish({ correlations: r.correlations });
console.log(`report ${join(values.out!, 'finetune-study.html')}`);
