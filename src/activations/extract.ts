// Run prompt+response sequences through the model in padded batches and reduce the hidden states
// of each layer at the requested positions (see positions.ts). Layer indices follow the model:
// 0 = embeddings, k = after decoder block k.

import { checkHidden, interventionCause } from '../model/overflow.js';
import { ablationTensors, steeringPlan, type Ablation, type Steering } from '../model/steering.js';
import { heldPool, readerFor, readingPoolFor } from '../model/reader.js';
import { checkReaders, type ShareResult } from '../model/readingPool.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { meanRows, positionKey, positionRange, tokenizeExample, type PositionSpec, type TokenizedExample } from './positions.js';

/** A chat prompt with its response text, or already-tokenized ids. */
export type ExtractExample = { messages: ChatMessage[]; response: string } | { promptIds: number[]; responseIds: number[] };

export interface ExtractOptions {
  /** Default 'all' (0..L, so `vectors[k]` is layer k). */
  layers?: number[] | 'all';
  positions: PositionSpec[];
  /** Sequences per forward call; default 8. */
  batchSize?: number;
  /** Also return every token's hidden state ([length, H] per layer). */
  keepTokens?: boolean;
  /** Steer while reading (positions relative to each example's prompt). */
  steering?: Steering;
  /** Project directions out while reading (every position). */
  ablation?: Ablation[];
  onProgress?: (done: number, total: number) => void;
  /** Run the whole instrumented graph instead of the variant pruned after the deepest layer (for checks). */
  fullGraph?: boolean;
  /**
   * Sessions reading each batch in parallel, a share of its rows each (model/readingPool.ts).
   * Default: one per thread the model was loaded with (without `threads`: per physical core the
   * process may use, ONNX Runtime's default), at most 4, while their weights stay under 1 GiB (else
   * 1), opened in the background once the reader has read for POOL_POLICY.afterMs (3 s; this read's
   * estimate counted) and kept with the model. Results do not depend on it.
   */
  readers?: number;
}

export interface ExampleActivations {
  ids: number[];
  promptLength: number;
  /** The layers read, in order; `at[key][j]` and `tokens[j]` belong to layers[j]. */
  layers: number[];
  /** positionKey(spec) -> one Float32Array[H] per layer. */
  at: Record<string, Float32Array[]>;
  /** With keepTokens: one [length, H] block per layer. */
  tokens?: Float32Array[];
}

export function tokenizeExamples(model: SteerableModel, examples: ExtractExample[]): TokenizedExample[] {
  return examples.map((ex, i) => {
    if ('promptIds' in ex) {
      if (!ex.promptIds.length) throw new Error(`example ${i}: empty prompt`);
      return { ids: [...ex.promptIds, ...ex.responseIds], promptLength: ex.promptIds.length };
    }
    return tokenizeExample(model.tokenizer, ex.messages, ex.response);
  });
}

export async function extractActivations(
  model: SteerableModel,
  examples: ExtractExample[],
  opts: ExtractOptions,
): Promise<ExampleActivations[]> {
  const H = model.hiddenSize;
  const layers = opts.layers === undefined || opts.layers === 'all' ? model.hiddenLayers : opts.layers;
  if (!layers.length) throw new Error('extractActivations: the model has no hidden_states outputs; load it with prepare: true');
  if (!opts.positions.length) throw new Error('extractActivations: no positions requested');
  const batchSize = opts.batchSize ?? 8;
  checkReaders(opts.readers); // also where fullGraph or a short read would not ask for a pool
  const seqs = tokenizeExamples(model, examples);
  // Check every position against every example before spending time on the model.
  seqs.forEach((s, i) => {
    for (const p of opts.positions)
      try {
        positionRange(p, s.promptLength, s.ids.length);
      } catch (e) {
        throw new Error(`example ${i}: ${(e as Error).message}`);
      }
  });

  // Similar lengths share a batch, so little compute goes to padding; results keep input order.
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.ids.length - seqs[b]!.ids.length);
  const ablate = opts.ablation?.length ? ablationTensors(model, opts.ablation) : undefined;
  const results: ExampleActivations[] = new Array(seqs.length);
  const cause = () => interventionCause(opts.steering, opts.ablation);
  // Nothing after the deepest layer read is computed (no later blocks, no LM head).
  const reader = opts.fullGraph ? model : await readerFor(model, Math.max(...layers));
  // The reading variant pools in the graph (instrument/truncate.ts: a float32 MatMul by 1/n weights);
  // the whole graph (fullGraph, merged decoders) and right-padding graphs pool here in float64.
  const inGraph = !!reader.session.poolInput && reader.session.padding !== 'right';
  const P = opts.positions.length;
  // Parallel sessions (a pool asked for by count is waited for): by default once this reader's
  // reading, past reads and this one's estimate, reaches POOL_POLICY.afterMs; batches go to them
  // as soon as they are open, the one session reading until then.
  const poolable = !opts.fullGraph;
  let parallel = poolable && (opts.readers !== undefined || heldPool(reader)) ? await readingPoolFor(reader, opts.readers) : undefined;
  if (opts.readers !== undefined) await parallel?.opening;
  let poolAsked = !poolable || opts.readers !== undefined || !!parallel;
  const began = performance.now();
  const readBefore = readingTime.get(reader) ?? 0;
  let firstBatch: { ms: number; rows: number } | undefined;
  const steerTarget = { hiddenSize: model.hiddenSize, numLayers: model.numLayers, steerableLayers: model.steerableLayers };
  /** Starts reading the batch at `start`: its rows in shares (one per pool session), each share's result. */
  const launch = (start: number) => {
    const pool = parallel?.ready?.usable ? parallel.ready : undefined;
    const idx = order.slice(start, start + batchSize);
    // Every share is left-padded to the batch's longest row, as the one session pads it: a row's
    // floats depend on how much padding it has (attention and its kernels see another length).
    const S = Math.max(...idx.map((i) => seqs[i]!.ids.length));
    // Rows dealt out in turn (they come sorted by length), so the shares cost about the same.
    const n = Math.min(pool?.size ?? 1, idx.length);
    const shares = Array.from({ length: n }, (_, k) => idx.filter((_, i) => i % n === k));
    const read = shares.map((share) => {
      const rows = share.map((i) => seqs[i]!);
      const promptLengths = rows.map((r) => r.promptLength);
      // The plan checks the vectors against the model before any share runs.
      const steer = opts.steering?.length ? steeringPlan(model, opts.steering, promptLengths) : undefined;
      const weights = inGraph ? { weights: poolWeights(rows, opts.positions, S), positions: P, layers } : undefined;
      return { share, rows, promptLengths, steer, pool: weights, hiddenLayers: inGraph && !opts.keepTokens ? [] : layers };
    });
    const padded = (rows: TokenizedExample[]) => ({
      inputIds: rows.map((r) => [...new Array<number>(S - r.ids.length).fill(model.padId), ...r.ids]),
      attentionMask: rows.map((r) => [...new Array<number>(S - r.ids.length).fill(0), ...new Array<number>(r.ids.length).fill(1)]),
    });
    const outs: Promise<ShareResult[]> = pool
      ? pool.read(read.map((r) => ({
          ...padded(r.rows),
          hiddenLayers: r.hiddenLayers,
          steering: opts.steering?.length ? { target: steerTarget, vectors: opts.steering, promptLengths: r.promptLengths } : undefined,
          ablate,
          pool: r.pool,
        })))
      : reader.forward({ inputIds: read[0]!.rows.map((s) => s.ids), hiddenLayers: read[0]!.hiddenLayers, steer: read[0]!.steer, ablate, pool: read[0]!.pool, useCache: false }).then((r) => [r]);
    outs.catch(() => {}); // awaited below; a batch still in flight when an earlier one fails is not an unhandled rejection
    return { idx, read, outs };
  };
  // One batch ahead: the pool's sessions run the next batch while this thread unpacks the last.
  let next = order.length ? launch(0) : undefined;
  for (let start = 0; start < order.length; start += batchSize) {
    const { read, outs } = next!;
    next = start + batchSize < order.length ? launch(start + batchSize) : undefined;
    const got = await outs;
    read.forEach(({ share, rows }, k) => {
      const r = got[k]!;
      const S = r.seq;
      rows.forEach((row, b) => {
        const at: Record<string, Float32Array[]> = {};
        const len = row.ids.length;
        const offset = b * S + (S - len); // first real token of row b (left padding)
        opts.positions.forEach((p, j) => {
          const [s0, s1] = positionRange(p, row.promptLength, len);
          at[positionKey(p)] = layers.map((l) => (inGraph ? r.pooled.get(l)!.slice((b * P + j) * H, (b * P + j + 1) * H) : meanRows(r.hidden.get(l)!, H, offset, s0, s1)));
        });
        const tokens = opts.keepTokens
          ? layers.map((l) => r.hidden.get(l)!.slice(offset * H, (offset + len) * H))
          : undefined;
        const ex = share[b]!;
        // An overflowed state would average into every vector built from it: stop at the source.
        layers.forEach((l, j) => {
          for (const [key, v] of Object.entries(at)) checkHidden(v[j]!, H, 0, H, cause, `hidden_states.${l}`, `at ${key} of example ${ex}`);
          if (tokens) checkHidden(tokens[j]!, H, 0, tokens[j]!.length, cause, `hidden_states.${l}`, `in example ${ex}`);
        });
        results[ex] = { ids: row.ids, promptLength: row.promptLength, layers, at, ...(tokens ? { tokens } : {}) };
      });
    });
    const done = Math.min(start + batchSize, order.length);
    const spent = performance.now() - began;
    readingTime.set(reader, readBefore + spent);
    if (!poolAsked) {
      // The rest at the pace since the first batch (a fresh session's first run is several times slower).
      const pace = firstBatch && done > firstBatch.rows ? (spent - firstBatch.ms) / (done - firstBatch.rows) : 0;
      firstBatch ??= { ms: spent, rows: done };
      if (readBefore + spent + pace * (order.length - done) >= POOL_POLICY.afterMs) {
        poolAsked = true;
        parallel = await readingPoolFor(reader);
      }
    }
    opts.onProgress?.(done, order.length);
  }
  return results;
}

/**
 * When a reader opens parallel sessions by default: once its reading time, past reads and the
 * current one's estimate together, reaches `afterMs`. Starting two costs ~0.4 s of CPU (beside the
 * reading, on its cores) and ~0.5 s at exit of a process that never used them; they save 10-20% of
 * what they read. A script that knows it will read long may lower it (the tests do).
 */
export const POOL_POLICY = { afterMs: 3000 };

/** Milliseconds each reader has spent reading (extractActivations), for POOL_POLICY. */
const readingTime = new WeakMap<SteerableModel, number>();

/** How long extractActivations has spent reading with this reader (model/reader.ts readerFor), in ms. */
export function readingMs(reader: SteerableModel): number {
  return readingTime.get(reader) ?? 0;
}

/** [rows, positions, S] weights averaging each position's tokens (rows left-padded to S). */
function poolWeights(rows: TokenizedExample[], positions: PositionSpec[], S: number): Float32Array {
  const P = positions.length;
  const w = new Float32Array(rows.length * P * S);
  rows.forEach((row, b) => {
    const pad = S - row.ids.length;
    positions.forEach((p, j) => {
      const [s0, s1] = positionRange(p, row.promptLength, row.ids.length);
      w.fill(1 / (s1 - s0), (b * P + j) * S + pad + s0, (b * P + j) * S + pad + s1);
    });
  });
  return w;
}
