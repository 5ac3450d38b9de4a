// Probe intervention study (TalkTuner section 4): for every attribute and every target class,
// generate answers with the intervention toward the target, with a random control of the same
// norms, and without any intervention, then score
//   - direct questions ("What is my age?"): does the answer name the target class?
//   - tailoring (optional): is the answer to an everyday question targeted to the target class?
// Records stream to the run directory (one line per answer) and a resumed run skips answers
// already written.

import { NEUTRAL_LABEL } from '../../data/labelledConversations.js';
import { generateChat } from '../../generation/generate.js';
import type { ProbeSet } from '../../directions/probes/probeFile.js';
import { probeInterventionPlan } from '../../interventions/probeIntervention.js';
import type { Steering } from '../../model/steering.js';
import type { RunDir } from '../../logs/runDir.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { keywordClassifier, type AnswerClassifier } from './answerClass.js';

export type SteerCondition = 'none' | 'probe' | 'random';
export const STEER_CONDITIONS: SteerCondition[] = ['none', 'probe', 'random'];

export interface ProbeSteerConfig {
  /** hidden_states indices (= block outputs) to intervene at. */
  layers: number[];
  /** N in h + N * w_target. */
  strength: number;
  normalize: boolean;
  /** Push along the probe's weight rows (TalkTuner) or its class centroids. */
  direction: 'weight' | 'centroid';
  /** Seed of the random-direction control. */
  controlSeed: number;
  maxNewTokens: number;
  /** Tokens for everyday answers (tailoring shows in later sentences); default maxNewTokens. */
  tailoringTokens?: number;
  batchSize: number;
}

/** Scores whether `answer` is targeted to `target` (true / false), or null when it cannot tell. */
export type TailoringScorer = (e: { attribute: string; target: string; question: string; answer: string; baseline: string }) => Promise<boolean | null>;

export interface SteerCases {
  /** Conversations ending with a direct question about the attribute, per attribute. */
  direct: Record<string, ChatMessage[][]>;
  /** Conversations ending with an everyday question, per attribute (optional). */
  tailoring?: Record<string, ChatMessage[][]>;
}

export interface SteerRecord {
  attribute: string;
  target: string;
  condition: SteerCondition;
  kind: 'direct' | 'tailoring';
  case: number;
  question: string;
  answer: string;
  /** Direct questions: the class the answer names (null: none or several). */
  answerClass?: string | null;
  /** Direct: the answer names the target. Tailoring: the scorer's verdict. */
  success: boolean | null;
}

export interface SteerCell {
  attribute: string;
  target: string;
  condition: SteerCondition;
  kind: 'direct' | 'tailoring';
  n: number;
  /** Tailoring answers the scorer gave no verdict for (left out of successRate). */
  unscored: number;
  successRate: number | null;
  /**
   * Direct questions, probe condition: successRate minus how often the answer names this class
   * when pushing toward the attribute's other classes. A push that makes every answer name one
   * default class scores high success for that class but zero selectivity.
   */
  selectivity?: number | null;
}

export async function runProbeSteering(
  model: SteerableModel,
  probes: ProbeSet[],
  cases: SteerCases,
  run: RunDir,
  cfg: ProbeSteerConfig,
  opts: { classify?: AnswerClassifier; tailoring?: TailoringScorer; onProgress?: (done: number, total: number) => void } = {},
): Promise<SteerCell[]> {
  const key = (r: Pick<SteerRecord, 'attribute' | 'target' | 'condition' | 'kind' | 'case'>) => `${r.attribute}/${r.target}/${r.condition}/${r.kind}/${r.case}`;
  const records = new Map(run.keyedRecords<SteerRecord>('steer', key).map((r) => [key(r), r]));
  // Check every probe against the model (and its layers) before generating anything.
  for (const p of probes) {
    probeInterventionPlan(model, { probe: p, mode: 'toward', target: p.meta.classes[0], layers: cfg.layers, strength: cfg.strength });
    if (!cases.direct[p.meta.attribute]?.length) throw new Error(`probe ${p.meta.attribute}: no direct-question conversations for this attribute`);
  }
  const kinds = (['direct', 'tailoring'] as const).filter((k) => k === 'direct' || (cases.tailoring && opts.tailoring));
  const jobs = probes.flatMap((p) =>
    // "neutral" (no cue) is not a class to push toward: every condition already answers it.
    kinds.flatMap((kind) => targetClasses(p).flatMap((target) => STEER_CONDITIONS.map((condition) => ({ probe: p, kind, target, condition })))),
  );
  let done = 0;
  // Answers without intervention do not depend on the target: generate them once per case.
  const baselines = new Map<string, string[]>();
  for (const job of jobs) {
    const { probe, kind, target, condition } = job;
    const attribute = probe.meta.attribute;
    const convs = (kind === 'direct' ? cases.direct : cases.tailoring!)[attribute] ?? [];
    const todo = convs.map((_, i) => i).filter((i) => !records.has(key({ attribute, target, condition, kind, case: i })));
    if (todo.length) {
      const answers = await answersFor(model, probe, convs, todo, job, cfg, baselines);
      for (const [j, i] of todo.entries()) {
        const messages = convs[i]!;
        const question = messages[messages.length - 1]!.content;
        const answer = answers[j]!;
        const rec: SteerRecord = { attribute, target, condition, kind, case: i, question, answer, success: null };
        if (kind === 'direct') {
          rec.answerClass = (opts.classify ?? keywordClassifier())(attribute, answer, probe.meta.classes);
          rec.success = rec.answerClass === target;
        } else {
          rec.answerClass = null;
          const baseline = (await baselineAnswers(model, probe, convs, job, cfg, baselines))[i]!;
          rec.success = await opts.tailoring!({ attribute, target, question, answer, baseline });
        }
        run.append('steer', rec as unknown as Record<string, unknown>);
        records.set(key(rec), rec);
      }
    }
    opts.onProgress?.(++done, jobs.length);
  }
  return summarize([...records.values()]);
}

async function answersFor(
  model: SteerableModel,
  probe: ProbeSet,
  convs: ChatMessage[][],
  todo: number[],
  job: { kind: string; target: string; condition: SteerCondition },
  cfg: ProbeSteerConfig,
  baselines: Map<string, string[]>,
): Promise<string[]> {
  if (job.condition === 'none') {
    const all = await baselineAnswers(model, probe, convs, job, cfg, baselines);
    return todo.map((i) => all[i]!);
  }
  const plan = probeInterventionPlan(model, {
    probe,
    mode: 'toward',
    target: job.target,
    layers: cfg.layers,
    strength: cfg.strength,
    normalize: cfg.normalize,
    direction: cfg.direction,
    ...(job.condition === 'random' ? { randomControl: { seed: cfg.controlSeed } } : {}),
  });
  return generateAll(model, todo.map((i) => convs[i]!), tokensFor(job.kind, cfg), cfg.batchSize, plan.steering);
}

async function baselineAnswers(
  model: SteerableModel,
  probe: ProbeSet,
  convs: ChatMessage[][],
  job: { kind: string },
  cfg: ProbeSteerConfig,
  baselines: Map<string, string[]>,
): Promise<string[]> {
  const k = `${probe.meta.attribute}/${job.kind}`;
  if (!baselines.has(k)) baselines.set(k, await generateAll(model, convs, tokensFor(job.kind, cfg), cfg.batchSize, undefined));
  return baselines.get(k)!;
}

const tokensFor = (kind: string, cfg: ProbeSteerConfig) => (kind === 'tailoring' ? cfg.tailoringTokens ?? cfg.maxNewTokens : cfg.maxNewTokens);

async function generateAll(model: SteerableModel, convs: ChatMessage[][], maxNewTokens: number, batchSize: number, steering: Steering | undefined): Promise<string[]> {
  const out: string[] = [];
  for (let s = 0; s < convs.length; s += batchSize) {
    const r = await generateChat(model, convs.slice(s, s + batchSize), { maxNewTokens, steering });
    out.push(...r.text);
  }
  return out;
}

export function targetClasses(probe: ProbeSet): string[] {
  return probe.meta.classes.filter((c) => c !== NEUTRAL_LABEL);
}

export function summarize(records: SteerRecord[]): SteerCell[] {
  const cells = new Map<string, SteerCell & { hits: number; scored: number }>();
  for (const r of records) {
    const k = `${r.attribute}/${r.target}/${r.condition}/${r.kind}`;
    const c = cells.get(k) ?? { attribute: r.attribute, target: r.target, condition: r.condition, kind: r.kind, n: 0, unscored: 0, successRate: null, hits: 0, scored: 0 };
    c.n++;
    if (r.success !== null) {
      c.scored++;
      if (r.success) c.hits++;
    } else if (r.kind === 'tailoring') c.unscored++;
    c.successRate = c.scored ? c.hits / c.scored : null;
    cells.set(k, c);
  }
  const out = [...cells.values()].map(({ hits: _h, scored: _s, ...c }): SteerCell => c);
  for (const c of out) {
    if (c.kind !== 'direct' || c.condition !== 'probe' || c.successRate === null) continue;
    const others = records.filter((r) => r.kind === 'direct' && r.condition === 'probe' && r.attribute === c.attribute && r.target !== c.target);
    c.selectivity = others.length ? c.successRate - others.filter((r) => r.answerClass === c.target).length / others.length : null;
  }
  return out;
}
