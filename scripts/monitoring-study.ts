// The monitoring study on the embedded model (issue 8, part 3): per world trait, extract the
// persona vector, then correlate the last-prompt projection with the judged score of the answer
// over negative / neutral / positive / held-out system prompts and drifting multi-turn chats.
//   npx tsx scripts/monitoring-study.ts [--traits evil,humorous] [--layer 3] [--out runs/monitoring-study]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../src/directions/personaExtract.js';
import { loadTraitFile } from '../src/directions/traitFile.js';
import { vectorFor } from '../src/directions/vectorFile.js';
import { monitoringStudyReport } from '../src/experiments/monitoringReport.js';
import { monitoringStudy, type MonitoringStudyResult } from '../src/experiments/monitoringStudy.js';
import { LexiconJudge } from '../src/judges/lexiconJudge.js';
import { RunDir } from '../src/logs/runDir.js';
import { loadModel } from '../src/model/load.js';
import { writeReport } from '../src/reports/html.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { TRAITS, type Trait } from '../src/world/index.js';
import { monitoringPrompts } from '../src/world/monitoringPrompts.js';

const { values } = parseArgs({
  options: {
    traits: { type: 'string', default: TRAITS.join(',') },
    layer: { type: 'string', default: '3' },
    questions: { type: 'string', default: '10' },
    conversations: { type: 'string', default: '30' },
    model: { type: 'string', default: 'models/persona-tiny' },
    out: { type: 'string', default: 'runs/monitoring-study' },
  },
});
const layer = Number(values.layer);
const model = await loadModel(values.model!);
const judge = new LexiconJudge();
const results: MonitoringStudyResult[] = [];
for (const trait of values.traits!.split(',') as Trait[]) {
  const file = loadTraitFile(join('data/traits', `${trait}.json`));
  const ex = await extractPersonaVectors(model, file, judge, RunDir.open(join(values.out!, `extract-${trait}`), 'extract', { trait }), { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 10, maxNewTokens: 48, batchSize: 25 });
  const prompts = monitoringPrompts(trait, file.evalQuestions.slice(0, Number(values.questions)), { conversations: Number(values.conversations) });
  const run = RunDir.open(join(values.out!, `study-${trait}`), 'monitoring-study', { trait, layer, prompts: prompts.length });
  const r = await monitoringStudy(model, judge, { name: trait, evalPrompt: file.evalPrompt }, vectorFor(ex.vectors, layer, model.hiddenSize), layer, prompts, { maxNewTokens: 48, temperature: 1, seed: 1, batchSize: 32 }, run);
  run.finish({ correlation: r.correlation });
  results.push(r);
  const ci = r.correlation.ci;
  console.log(`${trait}: r = ${r.correlation.r.toFixed(3)} [${ci?.[0].toFixed(3)}, ${ci?.[1].toFixed(3)}] (n ${r.correlation.n}); within positive prompts r = ${r.withinPositive.r.toFixed(3)} (n ${r.withinPositive.n}); groups ${r.groups.map((g) => `${g.group} ${g.proj.toFixed(1)}/${g.score.toFixed(0)}`).join(', ')}`);
}
await model.dispose();
writeReport(join(values.out!, 'monitoring-study.html'), monitoringStudyReport(results, `${values.model}, layer ${layer}, lexicon judge, temperature 1`));
writeJsonAtomic(join(values.out!, 'monitoring-study.json'), results.map((r) => ({ trait: r.trait, layer: r.layer, ...r.correlation, withinPositive: r.withinPositive, groups: r.groups })));
console.log(`report ${join(values.out!, 'monitoring-study.html')}`);
