// persona extract / steer / sweep / trait new: the persona-vectors workflow from the command line.
// Every command writes a run directory (manifest.json, *.jsonl records, outputs) under --runs.

import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { EXTRACTION_METHODS, type ExtractionMethod } from '../../directions/extractionMethods.js';
import { readGenerationsCsv, writeGenerationsCsv } from '../../directions/generationsCsv.js';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, pairedVectors, vectorSet } from '../../directions/personaExtract.js';
import { draftTraitFile, writeTraitFile } from '../../directions/traitDraft.js';
import type { TraitFile } from '../../directions/traitFile.js';
import { loadPersonaVectors, savePersonaVectors, VECTOR_KINDS, vectorFor, type PersonaVectorSet, type VectorKind } from '../../directions/vectorFile.js';
import { endpointFromEnv, makeJudge } from '../../judges/index.js';
import { parseGeneratorSpec } from '../../generation/remote.js';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import { evaluateSteering } from '../../interventions/steerEval.js';
import { norm } from '../../model/overflow.js';
import type { Ablation, Steering, SteerPositions } from '../../model/steering.js';
import { sweepSteering } from '../../interventions/sweep.js';
import { isTrait, NEUTRAL_SYSTEM_PROMPT } from '../../world/index.js';
import { DEFAULT_MODEL, isWorldModel, resolveTrait } from '../defaults.js';
import { checkScaledFlag, choiceFlag, floatFlag, floatListFlag, generationFlags, inRun, intFlag, intListFlag, judgeHttpFlags, judgeHttpOptions, MAX_COEFF, progress, type JudgeHttpFlags } from '../util.js';

export { DEFAULT_MODEL, resolveTrait } from '../defaults.js';

function parsePositions(s: string, maxPositions = 1 << 20): SteerPositions {
  if (s === 'all' || s === 'prompt' || s === 'response') return s;
  if (!/^[\d\s,:-]+$/.test(s)) throw new Error(`--positions: '${s}' is not all, prompt, response or a list of token indices like 3,4,5 or 2-8`);
  return intListFlag(s, '--positions', 0, maxPositions - 1);
}

/** The generation and batching flags of extract / steer / sweep, checked. */
function genConfig(o: GenFlags) {
  return { ...generationFlags(o), batchSize: intFlag(o.batchSize, '--batch-size', 1, 4096) };
}

/** Steering layers must exist in the vector file (checked before loading the model) and be steerable in the model. */
function checkLayers(flag: string, layers: number[], set: PersonaVectorSet, kind: VectorKind, model?: SteerableModel): void {
  const have = set.vectors[kind]?.length ?? 0;
  for (const l of layers) {
    if (l < 0 || l >= have) throw new Error(`${flag}: layer ${l} is out of range; the vector file has layers 0..${have - 1} (hidden_states index, k = output of block k)`);
    if (model && !model.steerableLayers.includes(l)) throw new Error(`${flag}: layer ${l} cannot be steered in ${model.dir} (steerable layers: ${model.steerableLayers.join(', ')})`);
  }
}

/** Steering the float32 residual cannot hold (see model/overflow.ts) is refused by flag before the model loads. */
function checkOverflow(flag: string, cells: [layer: number, coeff: number][], set: PersonaVectorSet, kind: VectorKind, file: string): void {
  for (const [layer, coeff] of cells) checkScaledFlag(flag, coeff, norm(set.vectors[kind]![layer]!), `the layer ${layer} vector of ${file}`);
}

/** Token indices beyond the model's context would steer nothing: refused by name. */
function checkPositions(positions: SteerPositions, model: SteerableModel): void {
  const max = model.config.maxPositions;
  if (Array.isArray(positions) && max !== undefined) {
    const bad = positions.find((p) => p >= max);
    if (bad !== undefined) throw new Error(`--positions: token index ${bad} is beyond the model's context (${max} positions)`);
  }
}

/** Releases the model when a check fails, so a refused command leaves nothing running. */
async function checked(model: SteerableModel, check: () => void): Promise<void> {
  try {
    check();
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

interface GenFlags extends JudgeHttpFlags {
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  batchSize: string;
  judge: string;
  device: string;
  runs: string;
  run?: string;
}

function genOptions(cmd: Command, defaults: { temperature: string; maxNewTokens: string }): Command {
  return judgeHttpOptions(
    cmd
      .option('--max-new-tokens <n>', 'tokens per answer', defaults.maxNewTokens)
      .option('--temperature <t>', 'sampling temperature (0 = greedy)', defaults.temperature)
      .option('--top-p <p>', 'nucleus mass', '1')
      .option('--seed <n>', 'base seed (each answer derives its own)', '0')
      .option('--batch-size <n>', 'answers generated per batch', '16')
      .option('--judge <spec>', 'lexicon | openai[:MODEL] | onnx:DIR (default: lexicon for world traits on the embedded models, else openai)'),
  )
    .option('--device <name>', 'ONNX Runtime execution provider: cpu, cuda, ...', 'cpu')
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory to create or resume (default: a fresh one under --runs)');
}

function defaultJudge(trait: string, modelDir: string, baseUrl?: string): string {
  // The world's lexicon judges world traits exactly, but only on the models trained on that world;
  // anything else needs an LLM judge.
  if (isWorldModel(modelDir) && isTrait(trait)) return 'lexicon';
  if (endpointFromEnv({ baseUrl })) return 'openai';
  if (isTrait(trait))
    throw new Error(
      `--judge: no default judge for '${trait}' on ${modelDir}: the lexicon judge is the default only on the models trained on the persona world; ` +
        'use --judge openai[:MODEL] (with --judge-base-url or PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL), --judge onnx:DIR, or --judge lexicon to use it anyway',
    );
  return 'lexicon'; // refused by judgeFor with the reason
}

/** The judge for a trait, refused before any work when it cannot score that trait. */
async function judgeFor(trait: string, o: JudgeHttpFlags & { judge?: string }, modelDir: string) {
  const http = judgeHttpFlags(o);
  const spec = o.judge ?? defaultJudge(trait, modelDir, o.judgeBaseUrl);
  if (spec === 'lexicon' && !isTrait(trait))
    throw new Error(`--judge: trait '${trait}' is not a persona-world trait, so the lexicon judge cannot score it; use --judge openai[:MODEL] (with --judge-base-url or PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL) or --judge onnx:DIR`);
  return makeJudge(spec, http);
}

/** The vector file, its trait (or --trait) and the judge for it: what steer and sweep start from. */
async function vectorContext(o: JudgeHttpFlags & { vector: string; kind: string; trait?: string; judge?: string }, modelDir: string) {
  const kind = choiceFlag(o.kind, '--kind', VECTOR_KINDS);
  const set = loadPersonaVectors(o.vector);
  const trait = resolveTrait(o.trait ?? set.meta.trait);
  const judge = await judgeFor(trait.trait, o, modelDir);
  return { set, trait, judge, kind };
}

/** `extract --from-csv`: vectors from persona_vectors' generation CSVs, nothing generated or judged. */
async function extractFromCsv(dir: string, o: GenFlags & { trait: string; fromCsv?: string; threshold: string; coherenceThreshold: string; batchSize: string; out?: string }, method: ExtractionMethod) {
  const files = o.fromCsv!.split(',').map((s) => s.trim());
  if (files.length !== 2 || files.some((f) => !f)) throw new Error(`--from-csv: give the pos and the neg file, comma-separated (got '${o.fromCsv}')`);
  // The trait file is optional here: it is only needed to rebuild prompts not in this model's template.
  let traitFile: TraitFile | null = null;
  try {
    traitFile = resolveTrait(o.trait);
  } catch {
    if (o.trait.endsWith('.json')) throw new Error(`--trait: ${o.trait} not found`);
  }
  const name = traitFile?.trait ?? o.trait;
  const filter = { threshold: floatFlag(o.threshold, '--threshold', 0, 100), coherence: floatFlag(o.coherenceThreshold, '--coherence-threshold', 0, 100) };
  const batchSize = intFlag(o.batchSize, '--batch-size', 1, 4096);
  const model = await loadModel(dir, { device: o.device });
  const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'extract', name), 'extract', { ...modelIdentity(model), trait: name, fromCsv: files.map((f) => resolve(f)), method, ...filter });
  await inRun(run, model, async () => {
    const g = readGenerationsCsv(model, files[0]!, files[1]!, name, traitFile, filter);
    const bar = progress('activations');
    const { vectors, explainedVariance } = await pairedVectors(model, g.pairs, { batchSize, method, onProgress: (p) => bar(p.done, p.total) });
    const set = vectorSet(model, name, vectors, { counts: { pos: g.kept, neg: g.kept, generated: 2 * g.total }, method, source: { fromCsv: files }, ...(explainedVariance ? { explainedVariance } : {}), run: run.dir });
    const path = run.path('vectors.safetensors');
    savePersonaVectors(path, set);
    run.output('vectors', 'vectors.safetensors');
    if (o.out) savePersonaVectors(o.out, set);
    run.finish({ kept: g.kept, rows: g.total, rebuiltPrompts: g.rebuilt });
    console.log(`kept ${g.kept} of ${g.total} row pairs (${g.rebuilt} prompts rebuilt from the trait file); vectors ${o.out ?? path}`);
  });
}

export function registerPersonaCommands(program: Command): void {
  genOptions(
    program
      .command('extract')
      .description('compute persona vectors for a trait: generate under pos/neg prompts, judge, filter, diff of mean activations (or read persona_vectors CSVs with --from-csv)')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--trait <name|file>', 'trait name (data/traits/NAME.json) or trait file path')
      .option('-n, --samples <n>', 'answers per question and instruction', '1')
      .option('--questions <n>', 'use only the first N extraction questions')
      .option('--instructions <n>', 'use only the first N instruction pairs')
      .option('--pos-threshold <s>', 'keep pos answers scoring >= this', '50')
      .option('--neg-threshold <s>', 'keep neg answers scoring < this', '50')
      .option('--coherence-threshold <s>', 'keep answers with coherence >= this', '50')
      .option('--method <m>', `how pairs become a direction: ${EXTRACTION_METHODS.join(' | ')}`, 'mean-diff')
      .option('--from-csv <pos.csv,neg.csv>', "persona_vectors' eval CSVs (question,prompt,answer,question_id,<trait>,coherence), paired by row: no generation, no judging")
      .option('--threshold <t>', '--from-csv: keep pos >= t and neg < 100 - t (their --threshold)', '50')
      .option('--generator <local|openai:URL>', 'where the pos/neg answers are generated: this model, or an OpenAI-compatible server running the same model (activations stay local)', 'local')
      .option('--generator-model <name>', 'served model name for --generator openai:URL (default: the first of GET /models)')
      .option('--export-csv <dir>', "also write this run's answers as persona_vectors' {trait}_pos_instruct.csv / {trait}_neg_instruct.csv")
      .option('-o, --out <file.safetensors>', 'also save the vectors here (sidecar JSON beside it)'),
    { temperature: '1', maxNewTokens: '64' },
  ).action(async (dir: string, o: GenFlags & { trait: string; samples: string; questions?: string; instructions?: string; posThreshold: string; negThreshold: string; coherenceThreshold: string; method: string; fromCsv?: string; threshold: string; exportCsv?: string; generator: string; generatorModel?: string; out?: string }) => {
    const method = choiceFlag(o.method, '--method', EXTRACTION_METHODS);
    if (o.fromCsv) return extractFromCsv(dir, o, method);
    const generator = parseGeneratorSpec(o.generator);
    if (generator && o.generatorModel) generator.model = o.generatorModel;
    const cfg = {
      ...DEFAULT_EXTRACT_CONFIG,
      ...genConfig(o),
      samplesPerQuestion: intFlag(o.samples, '--samples', 1, 1000),
      maxQuestions: o.questions === undefined ? undefined : intFlag(o.questions, '--questions', 1),
      maxInstructions: o.instructions === undefined ? undefined : intFlag(o.instructions, '--instructions', 1),
      thresholds: {
        pos: floatFlag(o.posThreshold, '--pos-threshold', 0, 100),
        neg: floatFlag(o.negThreshold, '--neg-threshold', 0, 100),
        coherence: floatFlag(o.coherenceThreshold, '--coherence-threshold', 0, 100),
      },
      method,
    };
    if (o.out !== undefined && !o.out.endsWith('.safetensors')) throw new Error(`--out: '${o.out}' must end in .safetensors`);
    const trait = resolveTrait(o.trait);
    const judge = await judgeFor(trait.trait, o, dir);
    const model = await loadModel(dir, { device: o.device });
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'extract', trait.trait), 'extract', { ...modelIdentity(model), trait: trait.trait, judge: judge.id, ...cfg, generator: generator ? { baseUrl: generator.baseUrl, model: generator.model ?? null } : 'local' });
    const bars: Record<string, ReturnType<typeof progress>> = {};
    await inRun(run, model, async () => {
      const r = await extractPersonaVectors(model, trait, judge, run, cfg, (p) => {
        if (p.stage === 'done') return;
        (bars[p.stage] ??= progress(p.stage))(p.done, p.total);
      }, generator);
      if (o.out) savePersonaVectors(o.out, r.vectors);
      if (o.exportCsv) {
        const [pos, neg] = [join(o.exportCsv, `${trait.trait}_pos_instruct.csv`), join(o.exportCsv, `${trait.trait}_neg_instruct.csv`)];
        const n = writeGenerationsCsv(model, trait.trait, r.records, pos, neg);
        console.log(`wrote ${n} row pairs to ${pos} and ${neg}`);
      }
      run.finish({ kept: r.kept, generated: r.records.length, unscored: r.unscored, ...r.vectors.meta.scores });
      if (r.unscored) console.log(`unscored ${r.unscored} of ${r.records.length} answers (the judge ${judge.id} gave no number; they cannot pass the filter)`);
      const norms = r.vectors.meta.norms ?? {};
      console.log(`run ${run.dir}`);
      console.log(`kept ${r.kept} pairs of ${r.records.length / 2}; vectors ${o.out ?? r.path}`);
      console.log(`response_avg norms by layer: ${(norms as Record<string, number[]>).response_avg?.map((x) => x.toFixed(2)).join(' ')}`);
    });
  });

  genOptions(
    program
      .command('steer')
      .description('generate with persona vectors added (or ablated) at chosen layers; logs answers and judge scores')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--vector <file.safetensors>', 'persona vector file (repeat --layer/--coeff pairs for several layers)')
      .option('--layer <k...>', 'layer(s) to steer (output of block k; default 4, none with --ablate alone)')
      .option('--coeff <a...>', `coefficient(s), one per layer or one for all (default 2; |a| <= ${MAX_COEFF})`)
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('--positions <p>', 'all | prompt | response | comma-separated token indices', 'response')
      .option('--ablate <k...>', 'project the (unit) vector out of these layers instead of / besides adding it')
      .option('--trait <name|file>', 'trait file: its eval questions and rubric (default: the vector\'s trait)')
      .option('-p, --prompt <text...>', 'question(s) to ask instead of the trait\'s eval questions')
      .option('-s, --system <text>', 'system prompt', NEUTRAL_SYSTEM_PROMPT)
      .option('--questions <n>', 'use only the first N eval questions', '10')
      .option('-n, --samples <n>', 'answers per question', '1'),
    { temperature: '0', maxNewTokens: '64' },
  ).action(async (dir: string, o: GenFlags & { vector: string; layer?: string[]; coeff?: string[]; kind: string; positions: string; ablate?: string[]; trait?: string; prompt?: string[]; system: string; questions: string; samples: string }) => {
    const { set, trait, judge, kind } = await vectorContext(o, dir);
    // --ablate alone is a pure ablation run: steering is added only when --layer or --coeff is given.
    const steers = o.layer !== undefined || o.coeff !== undefined || !o.ablate;
    const layers = steers ? (o.layer ?? ['4']).map((l) => intFlag(l, '--layer', 0)) : [];
    const coeffs = steers ? (o.coeff ?? ['2']).map((c) => floatFlag(c, '--coeff', -MAX_COEFF, MAX_COEFF)) : [];
    if (steers && coeffs.length !== 1 && coeffs.length !== layers.length) throw new Error(`--coeff: give one coefficient or one per --layer (${layers.length})`);
    const ablate = (o.ablate ?? []).map((l) => intFlag(l, '--ablate', 0));
    checkLayers('--layer', layers, set, kind);
    checkLayers('--ablate', ablate, set, kind);
    checkOverflow('--coeff', layers.map((l, i) => [l, coeffs[coeffs.length === 1 ? 0 : i]!]), set, kind, o.vector);
    const positions = parsePositions(o.positions);
    const gen = genConfig(o);
    const nQuestions = intFlag(o.questions, '--questions', 1);
    const samples = intFlag(o.samples, '--samples', 1, 1000);
    const model = await loadModel(dir, { ablation: ablate.length > 0, device: o.device });
    await checked(model, () => {
      checkLayers('--layer', layers, set, kind, model);
      for (const l of ablate) if (!model.ablatableLayers.includes(l)) throw new Error(`--ablate: layer ${l} cannot be ablated in ${model.dir} (ablatable layers: ${model.ablatableLayers.join(', ')})`);
      checkPositions(positions, model);
    });
    const steering: Steering = layers.map((layer, i) => ({ layer, vector: vectorFor(set, layer, model.hiddenSize, kind, o.vector), coeff: coeffs[coeffs.length === 1 ? 0 : i]!, positions }));
    const ablation: Ablation[] = ablate.map((layer) => {
      const v = vectorFor(set, layer, model.hiddenSize, kind, o.vector);
      const n = Math.hypot(...v);
      return { layer, direction: v.map((x) => x / n) };
    });
    const questions = o.prompt ?? (trait.evalQuestions.length ? trait.evalQuestions : trait.questions).slice(0, nQuestions);
    const cfg = { questions, system: o.system, samples, ...gen };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'steer', trait.trait), 'steer', {
      ...modelIdentity(model), vector: resolve(o.vector), trait: trait.trait, judge: judge.id, layers, coeffs, kind, positions, ablate, ...cfg,
    });
    await inRun(run, model, async () => {
      const bar = progress('answers');
      let n = 0;
      const total = questions.length * cfg.samples;
      const r = await evaluateSteering(model, trait.trait, trait.evalPrompt, judge, steering, cfg, { run, ablation, onAnswers: (k) => bar((n += k), total) });
      for (const rec of r.records) console.log(`Q: ${rec.question}\nA: ${rec.answer}\n   [${trait.trait} ${rec.trait?.toFixed(1)} | coherence ${rec.coherence?.toFixed(1)}]\n`);
      if (r.unscored) console.log(`unscored ${r.unscored} of ${r.records.length} answers (the judge ${judge.id} gave no number; left out of the means)`);
      console.log(`mean ${trait.trait} ${r.traitMean?.toFixed(1)}, coherence ${r.coherenceMean?.toFixed(1)}; run ${run.dir}`);
      run.finish({ traitMean: r.traitMean, coherenceMean: r.coherenceMean, unscored: r.unscored });
    });
  });

  genOptions(
    program
      .command('sweep')
      .description('steer over a layers x coefficients grid; trait and coherence per cell, best layer, heatmap report')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--vector <file.safetensors>', 'persona vector file')
      .option('--layers <list>', 'e.g. 1-6 or 2,4,6 (default: every layer)')
      .option('--coeffs <list>', 'coefficients', '0,1,2,4,8')
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('--positions <p>', 'all | prompt | response', 'response')
      .option('--trait <name|file>', 'trait file (default: the vector\'s trait)')
      .option('-s, --system <text>', 'system prompt', NEUTRAL_SYSTEM_PROMPT)
      .option('--questions <n>', 'eval questions per cell', '8')
      .option('-n, --samples <n>', 'answers per question', '1')
      .option('--coherence-threshold <s>', 'cells below this coherence cannot be best', '50'),
    { temperature: '0', maxNewTokens: '64' },
  ).action(async (dir: string, o: GenFlags & { vector: string; layers?: string; coeffs: string; kind: string; positions: string; trait?: string; system: string; questions: string; samples: string; coherenceThreshold: string }) => {
    const { set, trait, judge, kind } = await vectorContext(o, dir);
    const coeffs = floatListFlag(o.coeffs, '--coeffs', -MAX_COEFF, MAX_COEFF);
    const positions = choiceFlag(o.positions, '--positions', ['all', 'prompt', 'response'] as const);
    const gen = genConfig(o);
    const nQuestions = intFlag(o.questions, '--questions', 1);
    const samples = intFlag(o.samples, '--samples', 1, 1000);
    const coherenceThreshold = floatFlag(o.coherenceThreshold, '--coherence-threshold', 0, 100);
    const fileLayers = (set.vectors[kind]?.length ?? 1) - 1;
    const layers = o.layers ? intListFlag(o.layers, '--layers', 0, fileLayers) : Array.from({ length: fileLayers }, (_, i) => i + 1);
    checkOverflow('--coeffs', layers.flatMap((l) => coeffs.map((c) => [l, c] as [number, number])), set, kind, o.vector);
    const model = await loadModel(dir, { device: o.device });
    await checked(model, () => checkLayers('--layers', layers, set, kind, model));
    const questions = (trait.evalQuestions.length ? trait.evalQuestions : trait.questions).slice(0, nQuestions);
    const cfg = { questions, system: o.system, samples, ...gen, layers, coeffs, positions, coherenceThreshold };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'sweep', trait.trait), 'sweep', { ...modelIdentity(model), vector: resolve(o.vector), trait: trait.trait, judge: judge.id, kind, ...cfg });
    await inRun(run, model, async () => {
      const bar = progress('cells');
      const r = await sweepSteering(model, { name: trait.trait, evalPrompt: trait.evalPrompt }, judge, (l) => vectorFor(set, l, model.hiddenSize, kind, o.vector), cfg, run, (d, t, note) => bar(d, t, note));
      console.log(['layer', ...coeffs.map((c) => `c=${c}`)].join('\t'));
      for (const l of layers) console.log([l, ...coeffs.map((c) => r.cells.find((x) => x.layer === l && x.coeff === c)!.trait?.toFixed(1))].join('\t'));
      console.log(r.best ? `best layer ${r.best.layer} (coeff ${r.best.coeff}: ${trait.trait} ${r.best.trait.toFixed(1)}, coherence ${r.best.coherence.toFixed(1)})` : 'no cell kept coherence');
      const unscored = r.cells.reduce((a, c) => a + (c.unscored ?? 0), 0);
      if (unscored) console.log(`unscored ${unscored} answers over the grid (the judge ${judge.id} gave no number; left out of the cell means)`);
      console.log(`report ${run.path('sweep.html')}`);
      run.finish({ best: r.best, monotone: r.monotone, unscored });
    });
  });

  const trait = program.command('trait').description('trait files');
  trait
    .command('new')
    .description('draft a trait file from a one-line description through an OpenAI-compatible chat endpoint')
    .argument('<name>', 'trait adjective, e.g. sarcastic')
    .requiredOption('-d, --description <text>', 'one-line description of the trait')
    .option('-o, --out <file>', 'where to write (default data/traits/NAME.json)')
    .option('--model <name>', 'chat model of the endpoint')
    .option('--base-url <url>', 'OpenAI-compatible base URL (or OPENAI_BASE_URL)')
    .option('--questions <n>', 'questions to draft (split half/half into extraction and evaluation)', '40')
    .action(async (name: string, o: { description: string; out?: string; model?: string; baseUrl?: string; questions: string }) => {
      const nQuestions = intFlag(o.questions, '--questions', 2, 1000);
      const endpoint = endpointFromEnv({ baseUrl: o.baseUrl, ...(o.model ? { model: o.model } : {}) });
      if (!endpoint) throw new Error('trait new: no chat endpoint configured (set --base-url or OPENAI_BASE_URL, and OPENAI_API_KEY)');
      const json = await draftTraitFile({ trait: name, description: o.description, endpoint, nQuestions });
      const out = o.out ?? join('data/traits', `${name}.json`);
      writeTraitFile(out, json);
      console.log(`wrote ${out}: ${json.instruction.length} instruction pairs, ${json.questions.length} + ${json.eval_questions.length} questions`);
    });
}
