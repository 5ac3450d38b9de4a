// npm run demo: the main job, end to end, on the embedded model (models/persona-tiny).
//   1. instrument the model (cached next to it);
//   2. extract the `evil` persona vector (generate under pos/neg prompts, judge, filter, diff means);
//   3. sweep layers x coefficients on neutral-prompt questions, pick the best layer;
//   4. show answers before and after steering at that layer.
// Everything lands in one run folder (default runs/demo) with HTML reports; rerunning resumes.

import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../src/directions/personaExtract.js';
import { loadTraitFile } from '../src/directions/traitFile.js';
import { vectorFor } from '../src/directions/vectorFile.js';
import { evaluateSteering } from '../src/interventions/steerEval.js';
import { sweepSteering } from '../src/interventions/sweep.js';
import { LexiconJudge } from '../src/judges/lexiconJudge.js';
import { RunDir } from '../src/logs/runDir.js';
import { loadModel, modelIdentity } from '../src/model/load.js';
import { writeReport } from '../src/reports/html.js';
import { NEUTRAL_SYSTEM_PROMPT } from '../src/world/index.js';
import { progress } from '../src/cli/util.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : dflt;
};
const MODEL = arg('model', 'models/persona-tiny');
const TRAIT = arg('trait', 'evil');
const OUT = resolve(arg('out', 'runs/demo'));

/** The demo resumes its own runs; a run made by another model or settings is replaced, not mixed in. */
function openRun(dir: string, command: string, config: Record<string, unknown>): RunDir {
  try {
    return RunDir.open(dir, command, config);
  } catch (e) {
    if (!/cannot resume/.test((e as Error).message)) throw e;
    console.log(`      (${dir} was made with other settings or another model: starting it again)`);
    rmSync(dir, { recursive: true, force: true });
    return RunDir.open(dir, command, config);
  }
}

async function main() {
  const t0 = Date.now();
  console.log(`[1/4] loading and instrumenting ${MODEL}`);
  const model = await loadModel(MODEL);
  console.log(`      ${model.numLayers} layers, hidden ${model.hiddenSize}, style ${model.manifest?.style}`);
  const trait = loadTraitFile(join('data/traits', `${TRAIT}.json`));
  const judge = new LexiconJudge();

  console.log(`[2/4] extracting the '${TRAIT}' persona vector`);
  const cfg = { ...DEFAULT_EXTRACT_CONFIG, samplesPerQuestion: 1, maxQuestions: 10, maxNewTokens: 48, batchSize: 25 };
  const exRun = openRun(join(OUT, `extract-${TRAIT}`), 'extract', { ...modelIdentity(model), trait: TRAIT, judge: judge.id, ...cfg });
  const bars: Record<string, ReturnType<typeof progress>> = {};
  const ex = await extractPersonaVectors(model, trait, judge, exRun, cfg, (p) => {
    if (p.stage !== 'done') (bars[p.stage] ??= progress(`      ${p.stage}`))(p.done, p.total);
  });
  exRun.finish({ kept: ex.kept, ...ex.vectors.meta.scores });
  const sc = ex.vectors.meta.scores!;
  console.log(`      kept ${ex.kept} pairs; pos answers score ${sc.posTraitMean?.toFixed(1)}, neg ${sc.negTraitMean?.toFixed(1)} -> ${ex.path}`);

  console.log('[3/4] sweeping layers x coefficients (neutral system prompt, greedy)');
  const questions = trait.evalQuestions.slice(0, 6);
  const sweepCfg = {
    questions, system: NEUTRAL_SYSTEM_PROMPT, samples: 1, maxNewTokens: 48, temperature: 0, topP: 1, seed: 0, batchSize: 16,
    layers: Array.from({ length: model.numLayers }, (_, i) => i + 1), coeffs: [0, 1, 2, 3, 4, 5, 6, 8], positions: 'response' as const, coherenceThreshold: 70,
  };
  const swRun = openRun(join(OUT, `sweep-${TRAIT}`), 'sweep', { ...modelIdentity(model), trait: TRAIT, judge: judge.id, vector: ex.path, ...sweepCfg });
  const bar = progress('      cells');
  const sw = await sweepSteering(model, { name: TRAIT, evalPrompt: trait.evalPrompt }, judge, (l) => vectorFor(ex.vectors, l, model.hiddenSize), sweepCfg, swRun, (d, t) => bar(d, t));
  swRun.finish({ best: sw.best, monotone: sw.monotone });
  console.log(['      layer', ...sweepCfg.coeffs.map((c) => `c=${c}`)].join('\t'));
  for (const l of sweepCfg.layers) console.log([`      ${l}`, ...sweepCfg.coeffs.map((c) => sw.cells.find((x) => x.layer === l && x.coeff === c)!.trait?.toFixed(0))].join('\t'));
  if (!sw.best) throw new Error('no coherent sweep cell');
  console.log(`      best layer ${sw.best.layer} at coeff ${sw.best.coeff}: ${TRAIT} ${sw.best.trait.toFixed(1)}, coherence ${sw.best.coherence.toFixed(1)}`);

  console.log(`[4/4] before / after steering at layer ${sw.best.layer}, coeff ${sw.best.coeff}`);
  const evalCfg = { ...sweepCfg, questions: questions.slice(0, 3) };
  const before = await evaluateSteering(model, TRAIT, trait.evalPrompt, judge, [], evalCfg);
  const v = vectorFor(ex.vectors, sw.best.layer, model.hiddenSize);
  const after = await evaluateSteering(model, TRAIT, trait.evalPrompt, judge, [{ layer: sw.best.layer, vector: v, coeff: sw.best.coeff, positions: 'response' }], evalCfg);
  const rows: (string | number)[][] = [['question', 'unsteered', 'score', 'steered', 'score']];
  before.records.forEach((b, i) => {
    const a = after.records[i]!;
    console.log(`\n  Q: ${b.question}\n  unsteered [${b.trait}]: ${b.answer}\n  steered   [${a.trait}]: ${a.answer}`);
    rows.push([b.question, b.answer, b.trait ?? '', a.answer, a.trait ?? '']);
  });
  writeReport(join(OUT, 'demo.html'), {
    title: `persona-steer demo: ${TRAIT} on ${MODEL}`,
    subtitle: `best layer ${sw.best.layer}, coefficient ${sw.best.coeff}; full sweep in sweep-${TRAIT}/sweep.html`,
    sections: [{ heading: 'Before and after steering', table: rows }],
  });
  console.log(`\nreports: ${join(OUT, 'demo.html')}, ${swRun.path('sweep.html')}  (${((Date.now() - t0) / 1000).toFixed(0)}s)`);
  await model.dispose();
}

main().catch((e) => {
  console.error(`demo failed: ${e instanceof Error ? e.stack : e}`);
  process.exit(1);
});
