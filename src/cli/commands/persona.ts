// persona extract / steer / sweep / trait new: the persona-vectors workflow from the command line.
// Every command writes a run directory (manifest.json, *.jsonl records, outputs) under --runs.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../../directions/personaExtract.js';
import { draftTraitFile, writeTraitFile } from '../../directions/traitDraft.js';
import { loadTraitFile, type TraitFile } from '../../directions/traitFile.js';
import { loadPersonaVectors, savePersonaVectors, vectorFor, type VectorKind } from '../../directions/vectorFile.js';
import { endpointFromEnv, makeJudge } from '../../judges/index.js';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import { evaluateSteering } from '../../interventions/steerEval.js';
import type { Ablation, Steering, SteerPositions } from '../../model/steering.js';
import { sweepSteering } from '../../interventions/sweep.js';
import { isTrait, NEUTRAL_SYSTEM_PROMPT } from '../../world/index.js';
import { inRun, parseFloatList, parseIntList, progress } from '../util.js';

export const DEFAULT_MODEL = 'models/persona-tiny';

/** A trait name (data/traits/NAME.json, data/traits/bigfive/NAME.json) or a path to a trait file. */
export function resolveTrait(spec: string): TraitFile {
  const candidates = spec.endsWith('.json') ? [spec] : [join('data/traits', `${spec}.json`), join('data/traits/bigfive', `${spec}.json`)];
  const hit = candidates.find((p) => existsSync(p));
  if (!hit) throw new Error(`trait '${spec}': no trait file (tried ${candidates.join(', ')})`);
  return loadTraitFile(hit);
}

function parsePositions(s: string): SteerPositions {
  if (s === 'all' || s === 'prompt' || s === 'response') return s;
  return parseIntList(s, '--positions');
}

interface GenFlags {
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  batchSize: string;
  judge: string;
  judgeBaseUrl?: string;
  runs: string;
  run?: string;
}

function genOptions(cmd: Command, defaults: { temperature: string; maxNewTokens: string }): Command {
  return cmd
    .option('--max-new-tokens <n>', 'tokens per answer', defaults.maxNewTokens)
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', defaults.temperature)
    .option('--top-p <p>', 'nucleus mass', '1')
    .option('--seed <n>', 'base seed (each answer derives its own)', '0')
    .option('--batch-size <n>', 'answers generated per batch', '16')
    .option('--judge <spec>', 'lexicon | openai[:MODEL] | onnx:DIR (default: lexicon for world traits, else openai)')
    .option('--judge-base-url <url>', 'OpenAI-compatible base URL (or PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL)')
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory to create or resume (default: a fresh one under --runs)');
}

function defaultJudge(trait: string): string {
  // World traits are judged exactly by the world's lexicon; anything else needs an LLM judge.
  return isTrait(trait) ? 'lexicon' : endpointFromEnv() ? 'openai' : 'lexicon';
}

/** The vector file, its trait (or --trait) and the judge for it: what steer and sweep start from. */
async function vectorContext(o: { vector: string; trait?: string; judge?: string; judgeBaseUrl?: string }) {
  const set = loadPersonaVectors(o.vector);
  const trait = resolveTrait(o.trait ?? set.meta.trait);
  const judge = await makeJudge(o.judge ?? defaultJudge(trait.trait), { baseUrl: o.judgeBaseUrl });
  return { set, trait, judge };
}

export function registerPersonaCommands(program: Command): void {
  genOptions(
    program
      .command('extract')
      .description('compute persona vectors for a trait: generate under pos/neg prompts, judge, filter, diff of mean activations')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--trait <name|file>', 'trait name (data/traits/NAME.json) or trait file path')
      .option('-n, --samples <n>', 'answers per question and instruction', '1')
      .option('--questions <n>', 'use only the first N extraction questions')
      .option('--instructions <n>', 'use only the first N instruction pairs')
      .option('--pos-threshold <s>', 'keep pos answers scoring >= this', '50')
      .option('--neg-threshold <s>', 'keep neg answers scoring < this', '50')
      .option('--coherence-threshold <s>', 'keep answers with coherence >= this', '50')
      .option('-o, --out <file.safetensors>', 'also save the vectors here (sidecar JSON beside it)'),
    { temperature: '1', maxNewTokens: '64' },
  ).action(async (dir: string, o: GenFlags & { trait: string; samples: string; questions?: string; instructions?: string; posThreshold: string; negThreshold: string; coherenceThreshold: string; out?: string }) => {
    const trait = resolveTrait(o.trait);
    const judge = await makeJudge(o.judge ?? defaultJudge(trait.trait), { baseUrl: o.judgeBaseUrl });
    const cfg = {
      ...DEFAULT_EXTRACT_CONFIG,
      samplesPerQuestion: Number(o.samples),
      maxNewTokens: Number(o.maxNewTokens),
      temperature: Number(o.temperature),
      topP: Number(o.topP),
      seed: Number(o.seed),
      batchSize: Number(o.batchSize),
      maxQuestions: o.questions ? Number(o.questions) : undefined,
      maxInstructions: o.instructions ? Number(o.instructions) : undefined,
      thresholds: { pos: Number(o.posThreshold), neg: Number(o.negThreshold), coherence: Number(o.coherenceThreshold) },
    };
    const model = await loadModel(dir);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'extract', trait.trait), 'extract', { ...modelIdentity(model), trait: trait.trait, judge: judge.id, ...cfg });
    const bars: Record<string, ReturnType<typeof progress>> = {};
    await inRun(run, model, async () => {
      const r = await extractPersonaVectors(model, trait, judge, run, cfg, (p) => {
        if (p.stage === 'done') return;
        (bars[p.stage] ??= progress(p.stage))(p.done, p.total);
      });
      if (o.out) savePersonaVectors(o.out, r.vectors);
      run.finish({ kept: r.kept, generated: r.records.length, ...r.vectors.meta.scores });
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
      .option('--layer <k...>', 'layer(s) to steer (output of block k)', ['4'])
      .option('--coeff <a...>', 'coefficient(s), one per layer or one for all', ['2'])
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('--positions <p>', 'all | prompt | response | comma-separated token indices', 'response')
      .option('--ablate <k...>', 'project the (unit) vector out of these layers instead of / besides adding it')
      .option('--trait <name|file>', 'trait file: its eval questions and rubric (default: the vector\'s trait)')
      .option('-p, --prompt <text...>', 'question(s) to ask instead of the trait\'s eval questions')
      .option('-s, --system <text>', 'system prompt', NEUTRAL_SYSTEM_PROMPT)
      .option('--questions <n>', 'use only the first N eval questions', '10')
      .option('-n, --samples <n>', 'answers per question', '1'),
    { temperature: '0', maxNewTokens: '64' },
  ).action(async (dir: string, o: GenFlags & { vector: string; layer: string[]; coeff: string[]; kind: VectorKind; positions: string; ablate?: string[]; trait?: string; prompt?: string[]; system: string; questions: string; samples: string }) => {
    const { set, trait, judge } = await vectorContext(o);
    const model = await loadModel(dir, { ablation: !!o.ablate?.length });
    const layers = o.layer.map(Number);
    const coeffs = o.coeff.map(Number);
    if (coeffs.length !== 1 && coeffs.length !== layers.length) throw new Error(`--coeff: give one coefficient or one per --layer (${layers.length})`);
    const positions = parsePositions(o.positions);
    const steering: Steering = layers.map((layer, i) => ({ layer, vector: vectorFor(set, layer, model.hiddenSize, o.kind, o.vector), coeff: coeffs[coeffs.length === 1 ? 0 : i]!, positions }));
    const ablation: Ablation[] = (o.ablate ?? []).map(Number).map((layer) => {
      const v = vectorFor(set, layer, model.hiddenSize, o.kind, o.vector);
      const n = Math.hypot(...v);
      return { layer, direction: v.map((x) => x / n) };
    });
    const questions = o.prompt ?? (trait.evalQuestions.length ? trait.evalQuestions : trait.questions).slice(0, Number(o.questions));
    const cfg = { questions, system: o.system, samples: Number(o.samples), maxNewTokens: Number(o.maxNewTokens), temperature: Number(o.temperature), topP: Number(o.topP), seed: Number(o.seed), batchSize: Number(o.batchSize) };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'steer', trait.trait), 'steer', {
      ...modelIdentity(model), vector: resolve(o.vector), trait: trait.trait, judge: judge.id, layers, coeffs, kind: o.kind, positions, ablate: o.ablate ?? [], ...cfg,
    });
    await inRun(run, model, async () => {
      const bar = progress('answers');
      let n = 0;
      const total = questions.length * cfg.samples;
      const r = await evaluateSteering(model, trait.trait, trait.evalPrompt, judge, steering, cfg, { run, ablation, onAnswers: (k) => bar((n += k), total) });
      for (const rec of r.records) console.log(`Q: ${rec.question}\nA: ${rec.answer}\n   [${trait.trait} ${rec.trait?.toFixed(1)} | coherence ${rec.coherence?.toFixed(1)}]\n`);
      console.log(`mean ${trait.trait} ${r.traitMean?.toFixed(1)}, coherence ${r.coherenceMean?.toFixed(1)}; run ${run.dir}`);
      run.finish({ traitMean: r.traitMean, coherenceMean: r.coherenceMean });
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
  ).action(async (dir: string, o: GenFlags & { vector: string; layers?: string; coeffs: string; kind: VectorKind; positions: string; trait?: string; system: string; questions: string; samples: string; coherenceThreshold: string }) => {
    const { set, trait, judge } = await vectorContext(o);
    const model = await loadModel(dir);
    const layers = o.layers ? parseIntList(o.layers, '--layers') : Array.from({ length: model.numLayers }, (_, i) => i + 1);
    const coeffs = parseFloatList(o.coeffs, '--coeffs');
    const questions = (trait.evalQuestions.length ? trait.evalQuestions : trait.questions).slice(0, Number(o.questions));
    const cfg = {
      questions, system: o.system, samples: Number(o.samples), maxNewTokens: Number(o.maxNewTokens), temperature: Number(o.temperature), topP: Number(o.topP), seed: Number(o.seed), batchSize: Number(o.batchSize),
      layers, coeffs, positions: parsePositions(o.positions), coherenceThreshold: Number(o.coherenceThreshold),
    };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'sweep', trait.trait), 'sweep', { ...modelIdentity(model), vector: resolve(o.vector), trait: trait.trait, judge: judge.id, kind: o.kind, ...cfg });
    await inRun(run, model, async () => {
      const bar = progress('cells');
      const r = await sweepSteering(model, { name: trait.trait, evalPrompt: trait.evalPrompt }, judge, (l) => vectorFor(set, l, model.hiddenSize, o.kind, o.vector), cfg, run, (d, t, note) => bar(d, t, note));
      console.log(['layer', ...coeffs.map((c) => `c=${c}`)].join('\t'));
      for (const l of layers) console.log([l, ...coeffs.map((c) => r.cells.find((x) => x.layer === l && x.coeff === c)!.trait?.toFixed(1))].join('\t'));
      console.log(r.best ? `best layer ${r.best.layer} (coeff ${r.best.coeff}: ${trait.trait} ${r.best.trait.toFixed(1)}, coherence ${r.best.coherence.toFixed(1)})` : 'no cell kept coherence');
      console.log(`report ${run.path('sweep.html')}`);
      run.finish({ best: r.best, monotone: r.monotone });
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
      const endpoint = endpointFromEnv({ baseUrl: o.baseUrl, ...(o.model ? { model: o.model } : {}) });
      if (!endpoint) throw new Error('trait new: no chat endpoint configured (set --base-url or OPENAI_BASE_URL, and OPENAI_API_KEY)');
      const json = await draftTraitFile({ trait: name, description: o.description, endpoint, nQuestions: Number(o.questions) });
      const out = o.out ?? join('data/traits', `${name}.json`);
      writeTraitFile(out, json);
      console.log(`wrote ${out}: ${json.instruction.length} instruction pairs, ${json.questions.length} + ${json.eval_questions.length} questions`);
    });
}
