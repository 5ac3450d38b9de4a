// Steer, generate, judge: the measurement behind `persona steer` and every cell of `persona sweep`.
// Answers are appended to the run's `steer.jsonl` keyed by cell/question/sample, so an interrupted
// evaluation resumes, and each answer draws from its own seed so batching never changes it.

import { generateChat } from '../generation/generate.js';
import { seedFromKey } from '../generation/sampling.js';
import { countUnscored, JUDGE_CONCURRENCY, type Judge } from '../judges/judge.js';
import { mapConcurrent } from '../io/concurrency.js';
import type { RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import type { Ablation, Steering } from '../model/steering.js';

export interface SteerEvalConfig {
  questions: string[];
  /** System prompt for every question (the persona-vectors evaluation uses a neutral one). */
  system?: string;
  samples: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  batchSize: number;
}

export interface SteerRecord {
  key: string;
  cell: string;
  question: string;
  sample: number;
  answer: string;
  finish: 'stop' | 'length';
  trait: number | null;
  coherence: number | null;
  steering: { layer: number; coeff: number; positions: unknown }[];
  ablation: { layer: number | 'all' }[];
}

export interface SteerEvalResult {
  records: SteerRecord[];
  traitMean: number | null;
  coherenceMean: number | null;
  /** Answers the judge gave no number for: left out of the means. */
  unscored: number;
}

export function meanOf(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

export async function evaluateSteering(
  model: SteerableModel,
  traitName: string,
  evalPrompt: string,
  judge: Judge,
  steering: Steering,
  cfg: SteerEvalConfig,
  opts: { run?: RunDir; cell?: string; ablation?: Ablation[]; onAnswers?: (n: number) => void } = {},
): Promise<SteerEvalResult> {
  const cell = opts.cell ?? 'steer';
  const jobs = cfg.questions.flatMap((question, q) =>
    Array.from({ length: cfg.samples }, (_, sample) => ({ key: `${cell}:${q}:${sample}`, question, sample })),
  );
  const have = new Map((opts.run?.keyedRecords<SteerRecord>('steer', (r) => r.key) ?? []).filter((r) => r.cell === cell).map((r) => [r.key, r]));
  const todo = jobs.filter((j) => !have.has(j.key));
  const fresh: SteerRecord[] = [];
  for (let i = 0; i < todo.length; i += cfg.batchSize) {
    const batch = todo.slice(i, i + cfg.batchSize);
    const convs: ChatMessage[][] = batch.map((j) => [
      ...(cfg.system ? [{ role: 'system', content: cfg.system } as ChatMessage] : []),
      { role: 'user', content: j.question },
    ]);
    const g = await generateChat(model, convs, {
      maxNewTokens: cfg.maxNewTokens,
      steering,
      ablation: opts.ablation,
      // The seed depends on question and sample only, not on the cell: every cell of a sweep
      // answers with the same random draws, so differences between cells come from steering.
      sampling: cfg.temperature > 0 ? { temperature: cfg.temperature, topP: cfg.topP, rowSeeds: batch.map((j) => seedFromKey(cfg.seed, j.key.slice(cell.length))) } : undefined,
    });
    const scored = await mapConcurrent(batch, JUDGE_CONCURRENCY, async (j, b) => {
      const input = { question: j.question, answer: g.text[b]! };
      const [trait, coherence] = await Promise.all([judge.trait({ name: traitName, evalPrompt }, input), judge.coherence(input)]);
      return { trait, coherence };
    });
    batch.forEach((j, b) => {
      const rec: SteerRecord = {
        key: j.key,
        cell,
        question: j.question,
        sample: j.sample,
        answer: g.text[b]!,
        finish: g.finishReason[b]!,
        trait: scored[b]!.trait,
        coherence: scored[b]!.coherence,
        steering: steering.map((s) => ({ layer: s.layer, coeff: s.coeff, positions: s.positions ?? 'all' })),
        ablation: (opts.ablation ?? []).map((a) => ({ layer: a.layer })),
      };
      fresh.push(rec);
      opts.run?.append('steer', rec as unknown as Record<string, unknown>);
    });
    opts.onAnswers?.(batch.length);
  }
  const byKey = new Map([...have, ...fresh.map((r) => [r.key, r] as const)]);
  const records = jobs.map((j) => byKey.get(j.key)!);
  return { records, traitMean: meanOf(records.map((r) => r.trait)), coherenceMean: meanOf(records.map((r) => r.coherence)), unscored: countUnscored(records) };
}
