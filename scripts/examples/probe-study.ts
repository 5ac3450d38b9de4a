// Example: a demographic-probe study from a TypeScript script, with the same API the CLI uses.
//   npx tsx scripts/examples/probe-study.ts [model_dir]
// Reads world conversations with the TalkTuner suffix, fits a probe per layer (5-fold CV), prints
// accuracy by layer, then follows one conversation turn by turn.

import { DEFAULT_PROBE_TRAINING, loadModel, loadProbe, readConversationTurns, RunDir, runProbeTraining } from '../../src/index.js';
import { generateProbeDataset } from '../../src/world/index.js';

const [modelDir = 'models/persona-tiny'] = process.argv.slice(2);
const model = await loadModel(modelDir);
const rows = generateProbeDataset({ attributes: ['age', 'ses'], perClass: 20, conditions: ['explicit', 'implicit'], turns: [1, 3], seed: 0 });

const run = RunDir.open(RunDir.freshPath('runs', 'example', 'probes'), 'probe train', { model: modelDir });
const results = await runProbeTraining(model, rows, run, DEFAULT_PROBE_TRAINING, (stage, done, total) => {
  if (done === total) console.log(`${stage}: ${total}`);
});
run.finish();
for (const r of results)
  console.log(`${r.attribute}: accuracy by layer ${r.layers.reading.map((l) => (100 * l.mean).toFixed(0)).join(' ')} % (chance ${(100 * r.chance).toFixed(0)}), control ${r.layers.control.map((l) => (100 * l.mean).toFixed(0)).join(' ')} %`);

// The model's picture of the user after each turn of a three-turn conversation.
const probes = results.map((r) => loadProbe(run.path(r.files.reading!)));
const conversation = generateProbeDataset({ attributes: ['ses'], perClass: 1, conditions: ['implicit'], turns: [3, 3], seed: 7 })[1]!;
console.log(`\nconversation labelled ses=${conversation.labels.ses} (cue in user turn ${Number(conversation.meta!['cueTurn']) + 1})`);
for (const t of await readConversationTurns(model, probes, conversation.messages))
  console.log(`turn ${t.turn + 1} ${t.attribute}: ${t.predicted} (${(100 * t.probabilities[t.predicted]!).toFixed(0)}%)`);
await model.dispose();
