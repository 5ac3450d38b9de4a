// The paper's finetuning result, measured across finetuned variants of one base model: for each
// variant and trait,
//   dP          mean screening projection difference of the variant's training data (on the base),
//   shift       finetuning shift along the trait's vector (last prompt token, evaluation prompts),
//   expression  the variant's judged trait score on the evaluation questions (neutral prompt),
//   steered     the same with the vector subtracted while generating (steering against it),
// then Pearson r between the three across variants. Each measurement is recorded in the run
// directory, so an interrupted study resumes.

import { readFileSync, writeFileSync } from 'node:fs';
import type { Judge } from '../judges/judge.js';
import type { RunDir } from '../logs/runDir.js';
import { loadModel } from '../model/load.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { evaluateSteering } from '../interventions/steerEval.js';
import type { RecordStore } from '../monitoring/dataset.js';
import { screenDataset } from '../monitoring/screening.js';
import { finetuningShift } from '../monitoring/shift.js';
import { correlation, type Correlation } from './stats.js';

export interface StudyTrait {
  name: string;
  evalPrompt: string;
  questions: string[];
  /** vectors[l] for hidden_states index l (0..L), from the base model. */
  vectors: Float32Array[];
}

export interface StudyVariant {
  name: string;
  dir: string;
  /** The variant's training data (JSONL messages or CSV prompt/answer). */
  data: string;
}

export interface FinetuneStudyConfig {
  layer: number;
  /** Coefficient of the steering-against run (negative). */
  coeff: number;
  system: string;
  maxNewTokens: number;
  /** Answers per evaluation question, sampled at `temperature` (graded expression, as in the paper). */
  samples: number;
  temperature: number;
  /** Rows of each training set screened. */
  screenRows: number;
  batchSize: number;
}

export interface VariantMeasure {
  variant: string;
  trait: string;
  dP: number;
  shift: number;
  expression: number;
  steered: number;
  coherence: number;
  steeredCoherence: number;
}

export interface FinetuneStudyResult {
  measures: VariantMeasure[];
  /** Per trait and pooled ('all'): r between the measures across variants. */
  correlations: Record<string, { dPvsExpression: Correlation; shiftVsExpression: Correlation; dPvsShift: Correlation }>;
}

export async function finetuneStudy(base: SteerableModel, variants: StudyVariant[], traits: StudyTrait[], judge: Judge, cfg: FinetuneStudyConfig, run: RunDir, log: (s: string) => void = () => {}): Promise<FinetuneStudyResult> {
  const measureKey = (m: VariantMeasure) => `${m.variant}/${m.trait}`;
  const done = new Map(run.keyedRecords<VariantMeasure>('measures', measureKey).map((m) => [measureKey(m), m]));
  for (const v of variants) {
    if (traits.every((t) => done.has(`${v.name}/${t.name}`))) continue;
    // Screening uses the base model: what the data would do, judged before training on it.
    const screenRun = prefixed(run, `screen-${v.name}`);
    const sample = firstRows(v.data, cfg.screenRows, run.path(`screen-${v.name}.sample.jsonl`));
    const screen = await screenDataset(base, sample, traits.map((t) => ({ name: t.name, layer: cfg.layer, vector: t.vectors[cfg.layer]! })), screenRun, {
      out: run.path(`screen-${v.name}.screened.jsonl`),
      generation: { maxNewTokens: cfg.maxNewTokens },
      batchSize: cfg.batchSize,
    });
    const ft = await loadModel(v.dir, { threads: 1 });
    try {
      for (const t of traits) {
        const prompts = t.questions.map((q) => [{ role: 'system', content: cfg.system }, { role: 'user', content: q }]);
        const shift = (await finetuningShift(base, ft, prompts, t.vectors))[cfg.layer]!.shift;
        const evalCfg = { questions: t.questions, system: cfg.system, samples: cfg.samples, maxNewTokens: cfg.maxNewTokens, temperature: cfg.temperature, topP: 1, seed: 0, batchSize: 32 };
        const plain = await evaluateSteering(ft, t.name, t.evalPrompt, judge, [], evalCfg);
        const against = await evaluateSteering(ft, t.name, t.evalPrompt, judge, [{ layer: cfg.layer, vector: t.vectors[cfg.layer]!, coeff: cfg.coeff, positions: 'response' }], evalCfg);
        const m: VariantMeasure = {
          variant: v.name,
          trait: t.name,
          dP: screen.mean[t.name]!.dP,
          shift,
          expression: plain.traitMean ?? NaN,
          steered: against.traitMean ?? NaN,
          coherence: plain.coherenceMean ?? NaN,
          steeredCoherence: against.coherenceMean ?? NaN,
        };
        run.append('measures', m as unknown as Record<string, unknown>);
        done.set(`${v.name}/${t.name}`, m);
        log(`${v.name} ${t.name}: dP ${m.dP.toFixed(3)}, shift ${m.shift.toFixed(3)}, expression ${m.expression.toFixed(1)}, steered against ${m.steered.toFixed(1)} (coherence ${m.coherence.toFixed(0)} -> ${m.steeredCoherence.toFixed(0)})`);
      }
    } finally {
      await ft.dispose();
    }
  }
  const measures = variants.flatMap((v) => traits.map((t) => done.get(`${v.name}/${t.name}`)!));
  const corr = (ms: VariantMeasure[]) => ({
    dPvsExpression: correlation(ms.map((m) => m.dP), ms.map((m) => m.expression)),
    shiftVsExpression: correlation(ms.map((m) => m.shift), ms.map((m) => m.expression)),
    dPvsShift: correlation(ms.map((m) => m.dP), ms.map((m) => m.shift)),
  });
  const correlations: FinetuneStudyResult['correlations'] = Object.fromEntries(traits.map((t) => [t.name, corr(measures.filter((m) => m.trait === t.name))]));
  correlations.all = corr(measures);
  return { measures, correlations };
}

/** The study's run directory seen as a record store whose streams carry a prefix (one per variant). */
function prefixed(run: RunDir, prefix: string): RecordStore {
  return {
    append: (stream, record) => run.append(`${prefix}.${stream}`, record),
    count: (stream) => run.count(`${prefix}.${stream}`),
    iterate: (stream) => run.iterate(`${prefix}.${stream}`),
    path: (rel) => run.path(`${prefix}.${rel}`),
  };
}

/** The first n chats of a JSONL dataset, copied (a screened sample is a dataset like any other). */
function firstRows(file: string, n: number, out: string): string {
  if (!/\.jsonl$/i.test(file)) throw new Error(`${file}: the finetuning study reads JSONL training sets`);
  writeFileSync(out, readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).slice(0, n).join('\n') + '\n');
  return out;
}
