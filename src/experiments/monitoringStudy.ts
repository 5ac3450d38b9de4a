// The paper's monitoring claim, measured: the last prompt token's projection on a trait's persona
// vector, read before the answer exists, correlates with the judged trait score of the answer the
// model then writes. One generation pass gives both (step 0 of the loop captures the last prompt
// token); answers are sampled with per-prompt seeds and recorded, so a run resumes.

import { generateChat } from '../generation/generate.js';
import { seedFromKey } from '../generation/sampling.js';
import { projection } from '../directions/meanAccumulator.js';
import type { Judge, TraitRubric } from '../judges/judge.js';
import type { RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { correlation, type Correlation } from './stats.js';
import { mapConcurrent } from '../io/concurrency.js';
import { JUDGE_CONCURRENCY } from '../judges/judge.js';

export interface StudyPrompt {
  group: string;
  question: string;
  messages: ChatMessage[];
}

export interface MonitoringSample {
  key: string;
  trait: string;
  group: string;
  question: string;
  answer: string;
  /** Last-prompt-token projection on the vector at the layer. */
  proj: number;
  /** Judged trait score of the answer (0-100), null when the judge gave none. */
  score: number | null;
}

export interface MonitoringStudyResult {
  trait: string;
  layer: number;
  samples: MonitoringSample[];
  correlation: Correlation;
  /**
   * The same correlation within trait-positive prompts only (groups ending in 'pos'): whether the
   * projection tracks intensity, not just which side of the prompt the model is on.
   */
  withinPositive: Correlation;
  /** Mean projection and score per prompt group. */
  groups: { group: string; n: number; proj: number; score: number }[];
}

export interface StudyGeneration {
  maxNewTokens: number;
  temperature: number;
  seed: number;
  batchSize: number;
}

export async function monitoringStudy(
  model: SteerableModel,
  judge: Judge,
  rubric: TraitRubric,
  vector: Float32Array,
  layer: number,
  prompts: StudyPrompt[],
  gen: StudyGeneration,
  run?: RunDir,
): Promise<MonitoringStudyResult> {
  if (layer < 0 || layer > model.numLayers) throw new Error(`monitoring study: layer ${layer} out of range 0..${model.numLayers}`);
  const jobs = prompts.map((p, i) => ({ ...p, key: `${rubric.name}:${layer}:${p.group}:${i}` }));
  const have = new Map((run?.keyedRecords<MonitoringSample>('monitoring', (r) => r.key) ?? []).map((r) => [r.key, r]));
  const todo = jobs.filter((j) => !have.has(j.key));
  const H = model.hiddenSize;
  for (let i = 0; i < todo.length; i += gen.batchSize) {
    const batch = todo.slice(i, i + gen.batchSize);
    const g = await generateChat(model, batch.map((j) => j.messages), {
      maxNewTokens: gen.maxNewTokens,
      captureLayers: [layer],
      sampling: gen.temperature > 0 ? { temperature: gen.temperature, rowSeeds: batch.map((j) => seedFromKey(gen.seed, j.key)) } : undefined,
    });
    const lastPrompt = g.hidden.get(layer)![0]!; // step 0: [batch, H] at each row's last prompt token
    const scores = await mapConcurrent(batch, JUDGE_CONCURRENCY, (j, b) => judge.trait(rubric, { question: j.question, answer: g.text[b]! }));
    batch.forEach((j, b) => {
      const rec: MonitoringSample = { key: j.key, trait: rubric.name, group: j.group, question: j.question, answer: g.text[b]!, proj: projection(lastPrompt.subarray(b * H, (b + 1) * H), vector), score: scores[b]! };
      have.set(j.key, rec);
      run?.append('monitoring', rec as unknown as Record<string, unknown>);
    });
  }
  const samples = jobs.map((j) => have.get(j.key)!);
  const scored = samples.filter((s) => s.score !== null);
  const groups = [...new Set(samples.map((s) => s.group))].map((group) => {
    const g = scored.filter((s) => s.group === group);
    return { group, n: g.length, proj: g.reduce((a, s) => a + s.proj, 0) / g.length, score: g.reduce((a, s) => a + s.score!, 0) / g.length };
  });
  const pos = scored.filter((s) => s.group.endsWith('pos'));
  return {
    trait: rubric.name,
    layer,
    samples,
    groups,
    correlation: correlation(scored.map((s) => s.proj), scored.map((s) => s.score!)),
    withinPositive: correlation(pos.map((s) => s.proj), pos.map((s) => s.score!)),
  };
}
