// persona probe data / train / read / steer / stereotype: the demographic-probe workflow (TalkTuner;
// Reading Between the Prompts) from the command line. Flags are checked before the model loads;
// every command but `data` writes a run directory with records and an HTML report.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { importCsv, importTalkTuner } from '../../data/importers.js';
import { labelledLine, LABEL_CUES, readLabelledJsonl, type LabelledConversation } from '../../data/labelledConversations.js';
import { checkProbeFits, loadProbe, type ProbeSet } from '../../directions/probes/probeFile.js';
import { keywordClassifier, type AnswerClassifier } from '../../experiments/probes/answerClass.js';
import { readConversationTurns } from '../../experiments/probes/probeReading.js';
import { runProbeSteering, targetClasses, type ProbeSteerConfig, type SteerCases } from '../../experiments/probes/probeSteering.js';
import { DEFAULT_PROBE_TRAINING, runProbeTraining, type ProbeTrainingConfig } from '../../experiments/probes/probeTraining.js';
import { runStereotypeStudy, stereotypeCases } from '../../experiments/probes/stereotypeStudy.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { endpointFromEnv } from '../../judges/openaiJudge.js';
import { pairwisePreference } from '../../judges/pairwiseJudge.js';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { probeReadingReport, probeSteeringReport, probeTrainingReport, stereotypeReport } from '../../reports/probeReports.js';
import { writeReport } from '../../reports/html.js';
import { READING_NAMES } from '../../activations/reading.js';
import {
  ATTRIBUTES, demographicAnswerClass, directQuestionConversation, generateDirectQuestionDataset, generateProbeDataset, isAttribute, tailoredClass,
  type Attribute, type ProbeCondition,
} from '../../world/index.js';
import { DEFAULT_MODEL } from './persona.js';
import { isWorldModel } from '../defaults.js';
import { choiceList, floatFlag, inRun, intFlag, intListFlag, judgeHttpFlags, judgeHttpOptions, MAX_COEFF, modelShape, progress, type JudgeHttpFlags } from '../util.js';

const CONDITIONS: ProbeCondition[] = ['explicit', 'implicit', 'contradicting', 'none'];

/** Probe files: a list of .safetensors files and/or folders holding them (a probe train run's probes/). */
export function loadProbes(specs: string[], flag = '--probes'): ProbeSet[] {
  const files = specs.flatMap((s) => {
    if (!existsSync(s)) throw new Error(`${flag}: ${s} does not exist`);
    if (!statSync(s).isDirectory()) return [s];
    const dir = existsSync(join(s, 'probes')) ? join(s, 'probes') : s;
    const found = readdirSync(dir).filter((f) => f.endsWith('.safetensors') && !f.endsWith('-control.safetensors')).sort().map((f) => join(dir, f));
    if (!found.length) throw new Error(`${flag}: no probe .safetensors in ${dir}`);
    return found;
  });
  return files.map((f) => {
    const p = loadProbe(f);
    p.meta['file'] = f;
    return p;
  });
}

/** Every probe must fit the model (hidden size, layers) before a run directory is made. */
function checkProbes(probes: ProbeSet[], model: { hiddenSize: number; numLayers: number }): void {
  for (const p of probes) checkProbeFits(p, model, String(p.meta['file'] ?? `probe ${p.meta.attribute}`));
}

/** The direct question about an attribute: "What is my age?", "What is my education level?". */
export function directQuestion(attribute: string): string {
  return `What is my ${READING_NAMES[attribute] ?? attribute}?`;
}

/** World answers are read with the world's exact patterns; anything else by class keywords. */
function classifierFor(world: boolean): AnswerClassifier {
  const keywords = keywordClassifier();
  return (attribute, answer, classes) => (world && isAttribute(attribute) ? demographicAnswerClass(attribute, answer) : keywords(attribute, answer, classes));
}

function probeFlags(cmd: Command): Command {
  return cmd
    .option('--batch-size <n>', 'sequences per forward call', '8')
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory to create or resume (default: a fresh one under --runs)');
}

interface RunFlags {
  batchSize: string;
  runs: string;
  run?: string;
}

export function registerProbeCommands(program: Command): void {
  const probe = program.command('probe').description('demographic probes: data, training, per-turn reading, interventions, stereotype study');

  probe
    .command('data')
    .description('write labelled conversations (JSONL): from the persona world, or imported from TalkTuner files or a CSV')
    .requiredOption('-o, --out <file.jsonl>', 'output file')
    .option('--attributes <list>', `world attributes (${ATTRIBUTES.join(',')})`, ATTRIBUTES.join(','))
    .option('--per-class <n>', 'conversations per class, attribute and condition', '40')
    .option('--conditions <list>', `cue conditions (${CONDITIONS.join(',')})`, 'explicit,implicit,none')
    .option('--turns <a-b>', 'user turns per conversation', '1-3')
    .option('--direct', 'end each conversation with a direct question about the cued attribute (read with --generation-prompt)')
    .option('--seed <n>', 'world seed', '0')
    .option('--from-talktuner <path>', 'import TalkTuner conversation_{id}_{attribute}_{label}.txt files (a folder or one file)')
    .option('--from-csv <file>', 'import a CSV (text or messages column, label columns, optional cue/system/id)')
    .option('--cue <cue>', `cue recorded for imported rows (${LABEL_CUES.join(', ')})`, 'implicit')
    .action((o: { out: string; attributes: string; perClass: string; conditions: string; turns: string; direct?: boolean; seed: string; fromTalktuner?: string; fromCsv?: string; cue: string }) => {
      const cue = choiceList(o.cue, '--cue', LABEL_CUES)[0]!;
      let rows: LabelledConversation[];
      if (o.fromTalktuner && o.fromCsv) throw new Error('--from-talktuner and --from-csv: give one source');
      if (o.fromTalktuner) rows = importTalkTuner(o.fromTalktuner, { cue });
      else if (o.fromCsv) rows = importCsv(o.fromCsv, { cue });
      else {
        const attributes = choiceList(o.attributes, '--attributes', ATTRIBUTES);
        const conditions = choiceList(o.conditions, '--conditions', CONDITIONS);
        const turns = intListFlag(o.turns, '--turns', 1, 4);
        const range = [Math.min(...turns), Math.max(...turns)] as const;
        const perClass = intFlag(o.perClass, '--per-class', 1);
        const seed = intFlag(o.seed, '--seed');
        if (o.direct) {
          const bad = conditions.filter((c) => c !== 'explicit' && c !== 'implicit');
          if (bad.length) throw new Error(`--conditions: --direct takes explicit and implicit (uncued rows are always added), not ${bad.join(', ')}`);
          rows = generateDirectQuestionDataset({ attributes, perClass, conditions: conditions as ('explicit' | 'implicit')[], turns: range, seed });
        } else rows = generateProbeDataset({ attributes, perClass, conditions, turns: range, seed });
      }
      writeFileAtomic(o.out, rows.map(labelledLine).join(''));
      const byCue = new Map<string, number>();
      for (const r of rows) byCue.set(r.cue, (byCue.get(r.cue) ?? 0) + 1);
      console.log(`wrote ${rows.length} conversations to ${o.out} (${[...byCue].map(([c, n]) => `${c} ${n}`).join(', ')})`);
    });

  probeFlags(
    probe
      .command('train')
      .description('read every conversation (reading suffix + control), fit one probe per layer with k-fold CV, save probes and report')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--data <file.jsonl>', 'labelled conversations (persona probe data)')
      .option('--attributes <list>', 'attributes to probe (default: every label with >= 2 classes)')
      .option('--suffix <text>', 'reading suffix ({attribute} is replaced)', DEFAULT_PROBE_TRAINING.suffix)
      .option('--generation-prompt', 'template with the assistant header before the suffix (with --suffix "": read where the answer begins)')
      .option('--no-control', 'skip the control probe (no suffix)')
      .option('--neutral', 'keep "neutral" (no cue) as a class')
      .option('--folds <k>', 'cross-validation folds', '5')
      .option('--C <c>', 'inverse L2 strength (as scikit-learn)', '1')
      .option('--standardize', 'fit on standardised features')
      .option('--seed <n>', 'fold assignment seed', '0'),
  ).action(async (dir: string, o: RunFlags & { data: string; attributes?: string; suffix: string; generationPrompt?: boolean; control: boolean; neutral?: boolean; folds: string; C: string; standardize?: boolean; seed: string }) => {
    const cfg: ProbeTrainingConfig = {
      ...DEFAULT_PROBE_TRAINING,
      attributes: o.attributes?.split(',').map((a) => a.trim()),
      suffix: o.suffix,
      generationPrompt: !!o.generationPrompt,
      control: o.control,
      includeNeutral: !!o.neutral,
      k: intFlag(o.folds, '--folds', 2, 100),
      C: floatFlag(o.C, '--C', Number.MIN_VALUE),
      standardize: !!o.standardize,
      seed: intFlag(o.seed, '--seed'),
      batchSize: intFlag(o.batchSize, '--batch-size', 1, 4096),
    };
    const rows = readLabelledJsonl(o.data);
    const model = await loadModel(dir);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'probe-train'), 'probe train', { ...modelIdentity(model), data: resolve(o.data), ...cfg });
    await inRun(run, model, async () => {
      const bars: Record<string, ReturnType<typeof progress>> = {};
      const results = await runProbeTraining(model, rows, run, cfg, (stage, d, t) => (bars[stage] ??= progress(stage))(d, t));
      writeReport(run.path('probes.html'), probeTrainingReport(results, `${model.dir} · ${o.data} · ${cfg.k}-fold CV`));
      run.output('report', 'probes.html');
      for (const r of results) {
        run.output(`probe:${r.attribute}`, r.files.reading!);
        const acc = (k: 'reading' | 'control') => r.layers[k].map((l) => (100 * l.mean).toFixed(1)).join(' ');
        console.log(`${r.attribute} (${r.classes.length} classes, ${r.rows} rows, chance ${(100 * r.chance).toFixed(1)}%): best layer ${r.best.layer} ${(100 * r.best.mean).toFixed(1)}% +- ${(100 * r.best.std).toFixed(1)}`);
        console.log(`  reading by layer: ${acc('reading')}${r.layers.control.length ? `\n  control by layer: ${acc('control')}` : ''}`);
      }
      console.log(`probes ${run.path('probes')}; report ${run.path('probes.html')}`);
      run.finish({ best: Object.fromEntries(results.map((r) => [r.attribute, r.best])) });
    });
  });

  probeFlags(
    probe
      .command('read')
      .description("the model's picture of the user after every user turn of a conversation (probe class probabilities)")
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--probes <files...>', 'probe files or probe train run directories')
      .requiredOption('--conversation <file.jsonl>', 'labelled conversations JSONL (persona probe data format)')
      .option('--index <i>', 'which conversation of the file', '0')
      .option('--layer <k>', 'probe layer (default: each probe\'s best cross-validated layer)'),
  ).action(async (dir: string, o: RunFlags & { probes: string[]; conversation: string; index: string; layer?: string }) => {
    const layer = o.layer === undefined ? undefined : intFlag(o.layer, '--layer', 0, modelShape(dir).numLayers);
    const batchSize = intFlag(o.batchSize, '--batch-size', 1, 4096);
    const probes = loadProbes(o.probes);
    const rows = readLabelledJsonl(o.conversation);
    const index = intFlag(o.index, '--index', 0, rows.length - 1);
    checkProbes(probes, modelShape(dir));
    const model = await loadModel(dir);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'probe-read'), 'probe read', { ...modelIdentity(model), probes: o.probes.map((p) => resolve(p)), conversation: resolve(o.conversation), index, layer });
    await inRun(run, model, async () => {
      const readings = await readConversationTurns(model, probes, rows[index]!.messages, { layer, batchSize });
      if (!run.records('turns').length) for (const r of readings) run.append('turns', r as unknown as Record<string, unknown>);
      for (const r of readings)
        console.log(`turn ${r.turn + 1} ${r.attribute}@${r.layer}: ${r.predicted}  (${Object.entries(r.probabilities).map(([c, p]) => `${c} ${(100 * p).toFixed(0)}%`).join(', ')})`);
      writeReport(run.path('read.html'), probeReadingReport(readings, `${model.dir} · ${o.conversation} #${index}`));
      run.output('report', 'read.html');
      run.finish({ turns: Math.max(...readings.map((r) => r.turn)) + 1 });
    });
  });

  probeFlags(
    judgeHttpOptions(probe
      .command('steer')
      .description('intervene toward each class (vs a random control and no intervention); score direct questions and tailoring')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--probes <files...>', 'probe files or probe train run directories')
      .requiredOption('--layers <list>', 'hidden_states indices (block outputs) to intervene at, e.g. 2-3')
      .option('--strength <N>', 'N in h + N * direction', '1')
      .option('--direction <d>', 'weight (probe row, TalkTuner) | centroid (class mean minus reference mean)', 'weight')
      .option('--normalize', 'use unit-norm directions')
      .option('--questions <n>', 'conversations per attribute', '8')
      .option('--tailoring', 'also score how answers to everyday questions are tailored (world lexicon, or --judge openai)')
      .option('--judge <spec>', 'tailoring judge: lexicon (persona world) | openai[:MODEL] (pairwise rubric)')
      .option('--max-new-tokens <n>', 'tokens per direct answer', '24')
      .option('--tailoring-tokens <n>', 'tokens per everyday answer (tailoring shows in later sentences)', '80')
      .option('--seed <n>', 'conversation and random-control seed', '0')),
  ).action(async (dir: string, o: RunFlags & JudgeHttpFlags & { probes: string[]; layers: string; strength: string; direction: string; normalize?: boolean; questions: string; tailoring?: boolean; judge?: string; maxNewTokens: string; tailoringTokens: string; seed: string }) => {
    const probes = loadProbes(o.probes);
    const shape = modelShape(dir);
    const cfg: ProbeSteerConfig = {
      layers: intListFlag(o.layers, '--layers', 0, shape.numLayers),
      strength: floatFlag(o.strength, '--strength', -MAX_COEFF, MAX_COEFF),
      direction: choiceList(o.direction, '--direction', ['weight', 'centroid'] as const)[0]!,
      normalize: !!o.normalize,
      controlSeed: intFlag(o.seed, '--seed'),
      maxNewTokens: intFlag(o.maxNewTokens, '--max-new-tokens', 1, 4096),
      tailoringTokens: intFlag(o.tailoringTokens, '--tailoring-tokens', 1, 4096),
      batchSize: intFlag(o.batchSize, '--batch-size', 1, 4096),
    };
    const n = intFlag(o.questions, '--questions', 1);
    const judge = o.judge ?? (o.tailoring ? 'lexicon' : undefined);
    if (judge && judge !== 'lexicon' && !judge.startsWith('openai')) throw new Error(`--judge: '${judge}' is not lexicon or openai[:MODEL]`);
    const http = judgeHttpFlags(o);
    const endpoint = judge?.startsWith('openai') ? endpointFromEnv({ ...http, ...(judge.includes(':') ? { model: judge.slice(judge.indexOf(':') + 1) } : {}) }) : null;
    if (judge?.startsWith('openai') && !endpoint) throw new Error('--judge openai: no endpoint (set --judge-base-url, PERSONA_JUDGE_BASE_URL or OPENAI_BASE_URL)');
    // World conversations and the lexicon only mean something to the models trained on the world.
    const world = isWorldModel(dir) && probes.every((p) => isAttribute(p.meta.attribute));
    if (judge === 'lexicon' && !world) throw new Error('--judge lexicon scores only persona-world attributes; use --judge openai');
    const cases = steerCases(probes, n, intFlag(o.seed, '--seed'), world, !!judge);
    checkProbes(probes, shape);
    const model = await loadModel(dir);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'probe-steer'), 'probe steer', { ...modelIdentity(model), probes: o.probes.map((p) => resolve(p)), questions: n, judge: judge ?? null, ...cfg });
    await inRun(run, model, async () => {
      const bar = progress('conditions');
      const tailoring = judge === 'lexicon'
        ? async (e: { attribute: string; target: string; answer: string }) => tailoredClass(e.attribute as Attribute, e.answer) === e.target
        : endpoint
          ? async (e: { attribute: string; target: string; question: string; answer: string; baseline: string }) => {
              const p = await pairwisePreference(endpoint, { question: e.question, a: e.answer, b: e.baseline, audience: `a user whose ${READING_NAMES[e.attribute] ?? e.attribute} is ${e.target}` });
              return p === null ? null : p > 0.5;
            }
          : undefined;
      const cells = await runProbeSteering(model, probes, cases, run, cfg, { classify: classifierFor(world), tailoring, onProgress: bar });
      writeReport(run.path('steer.html'), probeSteeringReport(cells, `${model.dir} · layers ${cfg.layers.join(',')} · N ${cfg.strength} · ${cfg.direction}${cfg.normalize ? ' (unit)' : ''}`));
      run.output('report', 'steer.html');
      const rate = (c: { successRate: number | null }) => (c.successRate === null ? '-' : `${(100 * c.successRate).toFixed(0)}%`);
      for (const kind of ['direct', 'tailoring'] as const)
        for (const p of probes)
          for (const target of targetClasses(p)) {
            const get = (cond: string) => cells.find((c) => c.kind === kind && c.attribute === p.meta.attribute && c.target === target && c.condition === cond);
            const sel = get('probe')?.selectivity;
            if (get('probe'))
              console.log(`${kind} ${p.meta.attribute} -> ${target}: toward ${rate(get('probe')!)}, random ${rate(get('random')!)}, none ${rate(get('none')!)}${sel === undefined || sel === null ? '' : `, selectivity ${(100 * sel).toFixed(0)}`}`);
          }
      const tailored = cells.filter((c) => c.kind === 'tailoring');
      const unscored = tailored.reduce((a, c) => a + c.unscored, 0);
      if (unscored) console.log(`unscored ${unscored} of ${tailored.reduce((a, c) => a + c.n, 0)} tailoring answers (the judge ${judge} gave no verdict; left out of the rates)`);
      console.log(`report ${run.path('steer.html')}`);
      run.finish({ cells, unscored });
    });
  });

  probeFlags(
    probe
      .command('stereotype')
      .description('contradicting conversations: does the model follow the stated identity or the stereotype, before and after intervening toward the stated one?')
      .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
      .requiredOption('--probes <files...>', 'probe files or probe train run directories')
      .requiredOption('--layers <list>', 'hidden_states indices (block outputs) to intervene at')
      .option('--data <file.jsonl>', 'labelled data with contradicting rows (default: generated from the persona world)')
      .option('--per-class <n>', 'generated contradicting conversations per class', '4')
      .option('--strength <N>', 'N in h + N * direction', '1')
      .option('--direction <d>', 'weight | centroid', 'weight')
      .option('--normalize', 'use unit-norm directions')
      .option('--max-new-tokens <n>', 'tokens per answer', '24')
      .option('--seed <n>', 'world seed for generated data', '0'),
  ).action(async (dir: string, o: RunFlags & { probes: string[]; layers: string; data?: string; perClass: string; strength: string; direction: string; normalize?: boolean; maxNewTokens: string; seed: string }) => {
    const probes = loadProbes(o.probes);
    const shape = modelShape(dir);
    const intervention = {
      layers: intListFlag(o.layers, '--layers', 0, shape.numLayers),
      strength: floatFlag(o.strength, '--strength', -MAX_COEFF, MAX_COEFF),
      direction: choiceList(o.direction, '--direction', ['weight', 'centroid'] as const)[0]!,
      normalize: !!o.normalize,
    };
    const world = isWorldModel(dir) && probes.every((p) => isAttribute(p.meta.attribute));
    if (!o.data && !world) throw new Error('--data: required for a model not trained on the persona world (labelled JSONL with contradicting rows)');
    const rows = o.data
      ? readLabelledJsonl(o.data)
      : generateProbeDataset({ attributes: probes.map((p) => p.meta.attribute).filter(isAttribute), perClass: intFlag(o.perClass, '--per-class', 1), conditions: ['contradicting'], turns: [1, 1], seed: intFlag(o.seed, '--seed') });
    const cases = stereotypeCases(rows, directQuestion);
    const cfg = { intervention, maxNewTokens: intFlag(o.maxNewTokens, '--max-new-tokens', 1, 4096), batchSize: intFlag(o.batchSize, '--batch-size', 1, 4096) };
    checkProbes(probes, shape);
    const model = await loadModel(dir);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'probe-stereotype'), 'probe stereotype', { ...modelIdentity(model), probes: o.probes.map((p) => resolve(p)), data: o.data ? resolve(o.data) : 'world', cases: cases.length, ...cfg });
    await inRun(run, model, async () => {
      const summary = await runStereotypeStudy(model, probes, cases, run, cfg, { classify: classifierFor(world), onProgress: progress('cases') });
      writeReport(run.path('stereotype.html'), stereotypeReport(summary, `${model.dir} · ${cases.length} contradicting conversations · layers ${intervention.layers.join(',')} · N ${intervention.strength} · ${intervention.direction}`));
      run.output('report', 'stereotype.html');
      const pc = (x: number, n: number) => `${((100 * x) / Math.max(1, n)).toFixed(0)}%`;
      for (const s of summary)
        console.log(`${s.attribute} ${s.phase} (n=${s.n}): probe follows stereotype ${pc(s.probe.stereotype, s.n)} / stated ${pc(s.probe.stated, s.n)}; answer follows stereotype ${pc(s.answer.stereotype, s.n)} / stated ${pc(s.answer.stated, s.n)}`);
      console.log(`report ${run.path('stereotype.html')}`);
      run.finish({ summary });
    });
  });
}

/** Conversations for `probe steer`: world conversations for world attributes, else the bare direct question. */
function steerCases(probes: ProbeSet[], n: number, seed: number, world: boolean, tailoring: boolean): SteerCases {
  const direct: SteerCases['direct'] = {};
  const everyday: NonNullable<SteerCases['tailoring']> = {};
  for (const p of probes) {
    const a = p.meta.attribute;
    if (world && isAttribute(a)) {
      direct[a] = Array.from({ length: n }, (_, i) => directQuestionConversation({ attribute: a, seed: seed + i }).messages);
      // The same uncued conversations without the direct question: the last user turn is an everyday question.
      everyday[a] = Array.from({ length: n }, (_, i) => directQuestionConversation({ attribute: a, seed: seed + 1000 + i }).messages.slice(0, -2));
    } else {
      direct[a] = Array.from({ length: n }, () => [{ role: 'user', content: directQuestion(a) }]);
      everyday[a] = Array.from({ length: n }, (_, i) => [{ role: 'user', content: EVERYDAY_QUESTIONS[i % EVERYDAY_QUESTIONS.length]! }]);
    }
  }
  return { direct, ...(tailoring ? { tailoring: everyday } : {}) };
}

const EVERYDAY_QUESTIONS = ['What should I do this weekend?', 'How can I eat healthier?', 'What hobby should I pick up?', 'How do I plan a trip?', 'What gift should I buy for a friend?', 'How can I sleep better?'];

