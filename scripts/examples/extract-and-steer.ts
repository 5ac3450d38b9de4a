// Example: the persona-vectors workflow from a TypeScript script, with the same API the CLI uses.
//   npx tsx scripts/examples/extract-and-steer.ts [trait] [model_dir]
// Extracts the trait's vectors into a run directory, then steers a neutral prompt at every layer
// and prints the trait score each layer reaches.

import {
  DEFAULT_EXTRACT_CONFIG, evaluateSteering, extractPersonaVectors, LexiconJudge, loadModel, loadTraitFile, RunDir, vectorFor,
} from '../../src/index.js';

const [trait = 'humorous', modelDir = 'models/persona-tiny'] = process.argv.slice(2);
const model = await loadModel(modelDir);
const file = loadTraitFile(`data/traits/${trait}.json`);
const judge = new LexiconJudge();

const run = RunDir.open(RunDir.freshPath('runs', 'example', trait), 'extract', { model: modelDir, trait });
const { vectors, kept } = await extractPersonaVectors(model, file, judge, run, { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 10 });
run.finish({ kept });
console.log(`${trait}: ${kept} kept pairs, vectors in ${run.path('vectors.safetensors')}`);

const cfg = { questions: file.evalQuestions.slice(0, 4), system: 'You are a helpful assistant.', samples: 1, maxNewTokens: 48, temperature: 0, topP: 1, seed: 0, batchSize: 8 };
for (let layer = 1; layer <= model.numLayers; layer++) {
  const v = vectorFor(vectors, layer, model.hiddenSize);
  const r = await evaluateSteering(model, trait, file.evalPrompt, judge, [{ layer, vector: v, coeff: 4, positions: 'response' }], cfg);
  console.log(`layer ${layer}, coeff 4: ${trait} ${r.traitMean?.toFixed(1)}, coherence ${r.coherenceMean?.toFixed(1)}`);
}
await model.dispose();
