// Persona vector extraction (Chen et al. 2025), in four resumable stages inside one run directory:
//   1. generate n answers per (instruction pair, question) under the trait-positive and the
//      trait-negative system prompt (temperature 1, one seed per answer);
//   2. judge every answer for trait expression and coherence;
//   3. keep the pairs with pos >= 50, neg < 50, both coherent >= 50 (configurable);
//   4. run prompt + answer through the model and average hidden states of every layer at three
//      positions; v_l = mean(pos) - mean(neg) for each, unnormalised.
// Stages 1-2 append one record per answer to generations.jsonl, so an interrupted run resumes
// where it stopped; stage 4 is a pure function of the kept records.

import { extractActivations, type ExtractExample } from '../activations/extract.js';
import { positionKey, type PositionSpec } from '../activations/positions.js';
import { generateChat } from '../generation/generate.js';
import { generateRemote, type RemoteGenerator } from '../generation/remote.js';
import { seedFromKey } from '../generation/sampling.js';
import type { Judge } from '../judges/judge.js';
import type { RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { directionFromPairs, type ExtractionMethod } from './extractionMethods.js';
import { MeanAccumulator, sub } from './meanAccumulator.js';
import { traitSystemPrompt, type TraitFile } from './traitFile.js';
import { LAYER_CONVENTION, savePersonaVectors, VECTOR_KINDS, type PersonaVectorSet, type VectorKind } from './vectorFile.js';
import { mapConcurrent } from '../io/concurrency.js';
import { countUnscored, JUDGE_CONCURRENCY } from '../judges/judge.js';

export interface ExtractConfig {
  /** Answers per (polarity, instruction, question): the paper's n. */
  samplesPerQuestion: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  /** Generation batch size (rows per generate call). */
  batchSize: number;
  /** Use only the first N extraction questions (default all). */
  maxQuestions?: number;
  /** Use only the first N instruction pairs (default all 5). */
  maxInstructions?: number;
  thresholds: { pos: number; neg: number; coherence: number };
  /** How pairs become a direction (default mean-diff, the paper's). */
  method?: ExtractionMethod;
}

export const DEFAULT_EXTRACT_CONFIG: ExtractConfig = {
  samplesPerQuestion: 1,
  maxNewTokens: 64,
  temperature: 1,
  topP: 1,
  seed: 0,
  batchSize: 16,
  thresholds: { pos: 50, neg: 50, coherence: 50 },
};

/** One answer to generate: which polarity, instruction pair, question and sample. */
export interface Job {
  key: string;
  polarity: 'pos' | 'neg';
  instruction: number;
  question: number;
  sample: number;
  system: string;
  user: string;
}

export interface GenerationRecord extends Job {
  answer: string;
  finish: 'stop' | 'length';
  trait: number | null;
  coherence: number | null;
  seed: number;
}

export interface ExtractProgress {
  stage: 'generate' | 'judge' | 'activations' | 'done';
  done: number;
  total: number;
}

export interface ExtractResult {
  vectors: PersonaVectorSet;
  path: string;
  records: GenerationRecord[];
  kept: number;
  /** Answers the judge gave no number for (not usable by the filter). */
  unscored: number;
}

const POSITIONS: Record<VectorKind, PositionSpec> = {
  response_avg: 'response-mean',
  prompt_avg: 'prompt-mean',
  prompt_last: 'last-prompt',
};

export function extractionJobs(trait: TraitFile, cfg: ExtractConfig): Job[] {
  const jobs: Job[] = [];
  const nInstr = Math.min(cfg.maxInstructions ?? trait.instruction.length, trait.instruction.length);
  const nQ = Math.min(cfg.maxQuestions ?? trait.questions.length, trait.questions.length);
  for (let i = 0; i < nInstr; i++)
    for (let q = 0; q < nQ; q++)
      for (let s = 0; s < cfg.samplesPerQuestion; s++)
        for (const polarity of ['pos', 'neg'] as const)
          jobs.push({ key: `${polarity}:${i}:${q}:${s}`, polarity, instruction: i, question: q, sample: s, system: traitSystemPrompt(trait, polarity, i), user: trait.questions[q]! });
  return jobs;
}

/** Pairs (same instruction, question, sample) that pass the paper's filter. */
export function keptPairs(records: GenerationRecord[], t: ExtractConfig['thresholds']): [GenerationRecord, GenerationRecord][] {
  const byKey = new Map(records.map((r) => [r.key, r]));
  const pairs: [GenerationRecord, GenerationRecord][] = [];
  for (const pos of records) {
    if (pos.polarity !== 'pos') continue;
    const neg = byKey.get(`neg:${pos.instruction}:${pos.question}:${pos.sample}`);
    if (!neg) continue;
    // An empty answer (the model stopped at once) has no response tokens to average over.
    const ok =
      pos.answer.length > 0 && neg.answer.length > 0 &&
      pos.trait !== null && neg.trait !== null && pos.coherence !== null && neg.coherence !== null &&
      pos.trait >= t.pos && neg.trait < t.neg && pos.coherence >= t.coherence && neg.coherence >= t.coherence;
    if (ok) pairs.push([pos, neg]);
  }
  return pairs;
}

async function judgeAll(judge: Judge, trait: TraitFile, items: { user: string; answer: string }[]) {
  return mapConcurrent(items, JUDGE_CONCURRENCY, async ({ user, answer }) => {
    const input = { question: user, answer };
    const [t, c] = await Promise.all([judge.trait({ name: trait.trait, evalPrompt: trait.evalPrompt }, input), judge.coherence(input)]);
    return { trait: t, coherence: c };
  });
}

export async function extractPersonaVectors(
  model: SteerableModel,
  trait: TraitFile,
  judge: Judge,
  run: RunDir,
  cfg: ExtractConfig = DEFAULT_EXTRACT_CONFIG,
  onProgress: (p: ExtractProgress) => void = () => {},
  /** Generate the answers on an OpenAI-compatible server instead of the local model (activations stay local). */
  generator: RemoteGenerator | null = null,
): Promise<ExtractResult> {
  const jobs = extractionJobs(trait, cfg);
  const done = new Set(run.keyedRecords<GenerationRecord>('generations', (r) => r.key).map((r) => r.key));
  const todo = jobs.filter((j) => !done.has(j.key));
  const t0 = performance.now();

  // Stages 1-2: generate and judge, one batch at a time; each batch's records land on disk at once.
  onProgress({ stage: 'generate', done: jobs.length - todo.length, total: jobs.length });
  for (let i = 0; i < todo.length; i += cfg.batchSize) {
    const batch = todo.slice(i, i + cfg.batchSize);
    const seeds = batch.map((j) => seedFromKey(cfg.seed, j.key));
    const convs: ChatMessage[][] = batch.map((j) => [
      { role: 'system', content: j.system },
      { role: 'user', content: j.user },
    ]);
    const g = generator
      ? await generateRemote(generator, convs.map((messages, b) => ({ prompt: { messages }, maxNewTokens: cfg.maxNewTokens, temperature: cfg.temperature, topP: cfg.topP, seed: seeds[b]! })))
      : await generateChat(model, convs, {
          maxNewTokens: cfg.maxNewTokens,
          sampling: cfg.temperature > 0 ? { temperature: cfg.temperature, topP: cfg.topP, rowSeeds: seeds } : undefined,
        });
    const scores = await judgeAll(judge, trait, batch.map((j, b) => ({ user: j.user, answer: g.text[b]! })));
    batch.forEach((j, b) => {
      const rec: GenerationRecord = { ...j, answer: g.text[b]!, finish: g.finishReason[b]!, trait: scores[b]!.trait, coherence: scores[b]!.coherence, seed: seeds[b]! };
      run.append('generations', rec as unknown as Record<string, unknown>);
    });
    onProgress({ stage: 'generate', done: jobs.length - todo.length + Math.min(i + cfg.batchSize, todo.length), total: jobs.length });
  }
  const tGen = performance.now();

  // Stage 3: filter. Only records of this configuration's jobs count (a resumed run may hold more).
  const wanted = new Set(jobs.map((j) => j.key));
  const records = run.keyedRecords<GenerationRecord>('generations', (r) => r.key).filter((r) => wanted.has(r.key));
  const pairs = keptPairs(records, cfg.thresholds);
  const unscored = countUnscored(records);
  if (pairs.length === 0) {
    const pos = records.filter((r) => r.polarity === 'pos' && (r.trait ?? 0) >= cfg.thresholds.pos).length;
    const neg = records.filter((r) => r.polarity === 'neg' && (r.trait ?? 100) < cfg.thresholds.neg).length;
    throw new Error(
      `extract ${trait.trait}: no answer pair passed the filter (pos >= ${cfg.thresholds.pos}: ${pos}, neg < ${cfg.thresholds.neg}: ${neg}, of ${records.length} answers` +
        `${unscored ? `; ${unscored} unscored: the judge ${judge.id} gave no number for them` : ''}); ` +
        `see ${run.path('generations.jsonl')}`,
    );
  }

  // Stage 4: activations of the kept answers, reduced to one vector per layer and kind.
  const { vectors, explainedVariance } = await pairedVectors(
    model,
    pairs.map(([p, n]) => ({ pos: recordExample(p), neg: recordExample(n) })),
    { batchSize: cfg.batchSize, method: cfg.method ?? 'mean-diff', onProgress },
  );

  const mean = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const set = vectorSet(model, trait.trait, vectors, {
      counts: { pos: pairs.length, neg: pairs.length, generated: records.length },
      method: cfg.method ?? 'mean-diff',
      ...(explainedVariance ? { explainedVariance } : {}),
      scores: {
        posTraitMean: mean(records.filter((r) => r.polarity === 'pos').map((r) => r.trait)),
        negTraitMean: mean(records.filter((r) => r.polarity === 'neg').map((r) => r.trait)),
        keptPosTraitMean: mean(pairs.map(([p]) => p.trait)),
        keptNegTraitMean: mean(pairs.map(([, n]) => n.trait)),
        coherenceMean: mean(records.map((r) => r.coherence)),
      },
      thresholds: cfg.thresholds,
      judge: judge.id,
      run: run.dir,
  });
  const path = run.path('vectors.safetensors');
  savePersonaVectors(path, set);
  run.output('vectors', 'vectors.safetensors');
  run.manifest.timings.generateMs = tGen - t0;
  run.manifest.timings.activationsMs = performance.now() - tGen;
  onProgress({ stage: 'done', done: 1, total: 1 });
  return { vectors: set, path, records, kept: pairs.length, unscored };
}

function recordExample(r: GenerationRecord): ExtractExample {
  return { messages: [{ role: 'system', content: r.system }, { role: 'user', content: r.user }], response: r.answer };
}

export interface PairedExample {
  pos: ExtractExample;
  neg: ExtractExample;
}

/**
 * Activations of paired pos/neg examples at the three positions of every layer, reduced by the
 * method: difference of means (streamed, memory flat in the number of pairs) or a direction from
 * the per-pair activations (held in memory: pairs x (L+1) x H floats per kind).
 */
export async function pairedVectors(
  model: SteerableModel,
  pairs: PairedExample[],
  opts: { batchSize: number; method: ExtractionMethod; onProgress?: (p: ExtractProgress) => void },
): Promise<{ vectors: Record<VectorKind, Float32Array[]>; explainedVariance?: Record<VectorKind, number[]> }> {
  const positions = VECTOR_KINDS.map((k) => POSITIONS[k]);
  const acc = Object.fromEntries(
    VECTOR_KINDS.map((k) => [k, { pos: new MeanAccumulator(`${k} pos`), neg: new MeanAccumulator(`${k} neg`) }]),
  ) as Record<VectorKind, { pos: MeanAccumulator; neg: MeanAccumulator }>;
  const keep = opts.method !== 'mean-diff';
  // rows[kind][polarity][pair] -> one Float32Array per layer
  const rows = Object.fromEntries(VECTOR_KINDS.map((k) => [k, { pos: [] as Float32Array[][], neg: [] as Float32Array[][] }])) as Record<VectorKind, { pos: Float32Array[][]; neg: Float32Array[][] }>;
  const examples = pairs.flatMap((p) => [p.pos, p.neg]);
  opts.onProgress?.({ stage: 'activations', done: 0, total: examples.length });
  const acts = await extractActivations(model, examples, {
    layers: 'all',
    positions,
    batchSize: opts.batchSize,
    onProgress: (d, t) => opts.onProgress?.({ stage: 'activations', done: d, total: t }),
  });
  acts.forEach((a, i) => {
    const pol = i % 2 === 0 ? 'pos' : 'neg';
    for (const kind of VECTOR_KINDS) {
      const at = a.at[positionKey(POSITIONS[kind])]!;
      acc[kind][pol].add(at);
      if (keep) rows[kind][pol].push(at);
    }
  });
  if (!keep) {
    const vectors = Object.fromEntries(VECTOR_KINDS.map((k) => {
      const p = acc[k].pos.mean();
      const n = acc[k].neg.mean();
      return [k, p.map((v, l) => sub(v, n[l]!))];
    })) as Record<VectorKind, Float32Array[]>;
    return { vectors };
  }
  const vectors = {} as Record<VectorKind, Float32Array[]>;
  const explainedVariance = {} as Record<VectorKind, number[]>;
  for (const k of VECTOR_KINDS) {
    const layers = rows[k].pos[0]!.length;
    const results = [];
    for (let l = 0; l < layers; l++) results.push(await directionFromPairs(opts.method, rows[k].pos.map((r) => r[l]!), rows[k].neg.map((r) => r[l]!)));
    vectors[k] = results.map((r) => r.vector);
    explainedVariance[k] = results.map((r) => r.explainedVariance ?? 1);
  }
  return { vectors, explainedVariance };
}

/** A persona-vector set for this model with our sidecar fields filled. */
export function vectorSet(
  model: SteerableModel,
  trait: string,
  vectors: Record<VectorKind, Float32Array[]>,
  extra: { counts: PersonaVectorSet['meta']['counts'] } & Record<string, unknown>,
): PersonaVectorSet {
  return {
    vectors,
    meta: {
      format: 'persona-steer/persona-vector@1',
      trait,
      model: { path: model.dir, modelType: model.config.modelType, numLayers: model.numLayers, hiddenSize: model.hiddenSize },
      layerConvention: LAYER_CONVENTION,
      kinds: [...VECTOR_KINDS],
      norms: {} as Record<VectorKind, number[]>,
      createdAt: new Date().toISOString(),
      ...extra,
    },
  };
}
