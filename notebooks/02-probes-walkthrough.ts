// # Demographic probes walkthrough
// Run: npx tsx notebooks/02-probes-walkthrough.ts
//
// Does the model keep a picture of who it is talking to? We read the embedded model after a user
// reveals their socio-economic status, fit a linear probe per layer, look at where the attribute
// becomes readable, and then push the model's picture of the user toward a class.

import {
  ActivationStore, crossValidate, generateChat, loadModel, probeInterventionPlan, readIntoStore, readingIds, trainLayerProbes,
  type ProbeSet, PROBE_FORMAT, LAYER_CONVENTION, PROBE_PAIRING,
} from '../src/index.js';
import { demographicAnswerClass, directQuestionConversation, generateDirectQuestionDataset, generateProbeDataset } from '../src/world/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const model = await loadModel('models/persona-tiny');

// ## 1. Conversations with implicit cues ("I use the food bank every week.")
const rows = generateProbeDataset({ attributes: ['ses'], perClass: 25, conditions: ['implicit'], turns: [1, 3], seed: 1 });
const classes = ['high', 'low', 'middle'];
const labels = Int32Array.from(rows, (r) => classes.indexOf(r.labels.ses!));
console.log(rows[0]!.messages.map((m) => `${m.role}: ${m.content}`).join('\n'));

// ## 2. Read the last token after " I think the socioeconomic status of this user is", every layer
const suffix = ' I think the socioeconomic status of this user is';
const store = ActivationStore.open(join(mkdtempSync(join(tmpdir(), 'nb-')), 'ses'), model.hiddenLayers, model.hiddenSize);
await readIntoStore(model, rows.map((r) => readingIds(model.tokenizer, r.messages, suffix)), rows.length, store);

// ## 3. One probe per layer, 5-fold cross-validated
for (const l of model.hiddenLayers) {
  const cv = crossValidate(store.readLayer(l), labels, classes.length, { k: 5 });
  console.log(`layer ${l}: ${(100 * cv.mean).toFixed(1)}% +- ${(100 * cv.std).toFixed(1)} (chance 33.3%)`);
}

// ## 4. Where the model answers "What is my socioeconomic status?", push toward a class
// Probes read at the answer position (generation prompt, no suffix), with uncued rows as "neutral".
const direct = generateDirectQuestionDataset({ attributes: ['ses'], perClass: 10, conditions: ['explicit', 'implicit'], turns: [1, 2], seed: 2 });
const dclasses = ['high', 'low', 'middle', 'neutral'];
const dstore = ActivationStore.open(join(mkdtempSync(join(tmpdir(), 'nb-')), 'direct'), model.hiddenLayers, model.hiddenSize);
await readIntoStore(model, direct.map((r) => readingIds(model.tokenizer, r.messages, '', true)), direct.length, dstore);
const fitted = trainLayerProbes(dstore, Int32Array.from(direct, (r) => dclasses.indexOf(r.labels.ses!)), dclasses.length);
const probe: ProbeSet = {
  weight: fitted.map((f) => f.weight), bias: fitted.map((f) => f.bias), centroid: fitted.map((f) => f.centroids),
  meta: {
    format: PROBE_FORMAT, attribute: 'ses', classes: dclasses, suffix: '', layerConvention: LAYER_CONVENTION, pairing: PROBE_PAIRING,
    model: { path: model.dir, modelType: model.config.modelType, numLayers: model.numLayers, hiddenSize: model.hiddenSize, sha256: null },
    fit: { solver: 'lbfgs', C: 1, standardize: false, iterations: [], converged: [] },
    cv: { k: 5, seed: 0, mean: fitted.map((f) => f.cv.mean), std: fitted.map((f) => f.cv.std), folds: [], confusion: [] },
    data: { rows: direct.length, counts: {}, sha256: '' }, createdAt: new Date().toISOString(),
  },
};
const question = directQuestionConversation({ attribute: 'ses', seed: 5 }).messages;
for (const target of ['low', 'high']) {
  for (const direction of ['weight', 'centroid'] as const) {
    const plan = probeInterventionPlan(model, { probe, mode: 'toward', target, layers: [3, 4], strength: 0.5, direction });
    const [answer] = (await generateChat(model, [question], { maxNewTokens: 16, steering: plan.steering })).text;
    console.log(`toward ${target} (${direction}): ${answer}  -> ${demographicAnswerClass('ses', answer!)}`);
  }
}
await model.dispose();
