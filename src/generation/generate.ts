// Our own generation loop: prefill the (left-padded) prompts, then one token per step through the
// KV cache, with steering, ablation, streaming and optional per-step hidden-state capture.
// `fullRecompute` reruns the whole sequence every step instead (slow; the tests use it to prove
// the cache path computes the same thing).

import { checkHidden, checkLogits, interventionCause, OverflowError } from '../model/overflow.js';
import { ablationTensors, steeringPlan, type Ablation, type Steering } from '../model/steering.js';
import { KvBuffers } from '../model/kvBuffers.js';
import { KvSlots, slotsAllowed, slotsWork } from '../model/kvSlots.js';
import type { KVCache, SteerableModel, SteerInput } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { createRng, sampleLoaded, validateSampling, type SamplingOptions } from './sampling.js';

export interface GenerateOptions {
  /** Default 64. */
  maxNewTokens?: number;
  /** Absent = greedy. */
  sampling?: SamplingOptions;
  /** Tokens that end a row; default the model's eos ids. The stop token is not returned. */
  stopIds?: number[];
  steering?: Steering;
  /** A ready steer plan instead of `steering` (e.g. one per row, or one that changes between steps). */
  steerPlan?: SteerInput;
  ablation?: Ablation[];
  /** Asked after each token a row keeps; true ends that row there (finish 'length'): per-row limits, cancelled rows. */
  stopRow?: (row: number, tokens: number[]) => boolean;
  /**
   * Layers whose hidden state to record at every step, at the position being fed: step 0 = the
   * last prompt token (what monitoring projects), step t = generated token t-1.
   */
  captureLayers?: number[];
  /**
   * Called after every step with each row's new token (-1 for rows already finished) and, for
   * captureLayers, this step's [batch, hidden] state per layer (what `hidden` collects), so that
   * monitors can follow the residual stream live; `logits` is this step's [batch, vocab] block.
   */
  onToken?: (e: { step: number; tokens: number[]; hidden: Map<number, Float32Array>; logits: Float32Array }) => void;
  /** No cache: rerun prompt + generated tokens every step. */
  fullRecompute?: boolean;
  /** Keep each step's next-token logits ([batch, vocab] per step). */
  keepLogits?: boolean;
  /**
   * With this, a row whose logits or captured states overflow ends there alone (reported here,
   * no token for it from then on) and the other rows go on: rows of a batch never mix, so one
   * row's overflow leaves the others exact. Without it the whole call throws.
   */
  rowFailed?: (row: number, error: OverflowError) => void;
}

export interface StepTiming {
  /** Milliseconds of the whole step (forward, sampling, bookkeeping; not the onToken callback). */
  totalMs: number;
  /** Milliseconds inside session.run. */
  runMs: number;
}

export interface GenerateResult {
  /** Generated token ids per row, stop token excluded. */
  tokens: number[][];
  text: string[];
  finishReason: ('stop' | 'length')[];
  /** layer -> one [batch, hidden] block per step (see captureLayers). */
  hidden: Map<number, Float32Array[]>;
  /** With keepLogits: one [batch, vocab] block per step. */
  logits: Float32Array[];
  timings: { steps: StepTiming[]; totalMs: number; runMs: number };
}

export async function generate(model: SteerableModel, prompts: number[][], opts: GenerateOptions = {}): Promise<GenerateResult> {
  const batch = prompts.length;
  if (!batch) throw new Error('generate: no prompts');
  prompts.forEach((p, b) => {
    if (!p.length) throw new Error(`generate: prompt ${b} is empty`);
  });
  const maxNew = opts.maxNewTokens ?? 64;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${maxNew}`);
  if (opts.sampling) validateSampling(opts.sampling);
  const stop = new Set(opts.stopIds ?? model.config.eosTokenIds);
  const H = model.hiddenSize;

  const steer = opts.steerPlan ?? (opts.steering?.length ? steeringPlan(model, opts.steering, prompts.map((p) => p.length)) : undefined);
  const ablate = opts.ablation?.length ? ablationTensors(model, opts.ablation) : undefined;
  const cause = () => interventionCause(opts.steering, opts.ablation, !!opts.steerPlan);
  const capture = opts.captureLayers ?? [];
  const seed = opts.sampling?.seed ?? 0;
  const rowSeeds = opts.sampling?.rowSeeds;
  if (rowSeeds && rowSeeds.length !== batch) throw new Error(`generate: sampling.rowSeeds has ${rowSeeds.length} seeds for ${batch} prompts`);
  const rngs = prompts.map((_, b) => createRng(rowSeeds?.[b] ?? (seed + Math.imul(b, 0x9e3779b1)) >>> 0));
  const penalty = (opts.sampling?.repetitionPenalty ?? 1) !== 1;
  const seen = penalty ? prompts.map((p) => new Set(p)) : [];

  const tokens: number[][] = prompts.map(() => []);
  const fed: number[][] = prompts.map(() => []); // everything fed after the prompt (recompute path)
  const done: boolean[] = prompts.map(() => false);
  const finishReason: ('stop' | 'length')[] = prompts.map(() => 'length');
  const hidden = new Map<number, Float32Array[]>(capture.map((l) => [l, []]));
  const logits: Float32Array[] = [];
  const steps: StepTiming[] = [];

  let cache: KVCache | undefined;
  let feed: number[][] = prompts;
  // A graph without cache inputs cannot continue from a cache: recompute every step.
  const recompute = opts.fullRecompute || model.session.cache.length === 0;
  // Shared past/present buffers hold the longest prompt plus every token this call may add.
  const cacheCapacity = Math.max(...prompts.map((p) => p.length)) + maxNew;
  // The cache stays in buffers this loop owns; each step fetches only its new columns, which go into
  // fixed slots where the graph's masking allows it (nothing moves), else are appended.
  const kvBuffers = !recompute && maxNew > 0 && slotsAllowed(model, cacheCapacity) && (await slotsWork(model)) ? new KvSlots(cacheCapacity) : new KvBuffers(cacheCapacity);
  const start = performance.now();
  for (let step = 0; step < maxNew; step++) {
    const t0 = performance.now();
    const r = recompute
      ? await model.forward({
          inputIds: prompts.map((p, b) => p.concat(fed[b]!)),
          steer,
          ablate,
          hiddenLayers: capture,
          lastLogitsOnly: true,
          useCache: false,
        })
      : await model.forward({ inputIds: feed, cache, steer, ablate, hiddenLayers: capture, lastLogitsOnly: true, cacheCapacity, kvBuffers });
    cache = r.cache;
    const stepHidden = new Map<number, Float32Array>();
    for (const l of capture) {
      const h = lastColumn(r.hidden.get(l)!, batch, r.seq, H);
      hidden.get(l)!.push(h);
      stepHidden.set(l, h);
    }
    if (opts.keepLogits) logits.push(r.logits);

    const V = r.vocab;
    const next: number[] = new Array(batch).fill(-1);
    for (let b = 0; b < batch; b++) {
      if (done[b]) continue;
      // The handler knows its rows by number: no row in the message it gets.
      const where = `at step ${step}${batch > 1 && !opts.rowFailed ? `, row ${b}` : ''}`;
      // Overflowed activations would sample arbitrary tokens (often a stop token: answers ""); stop
      // instead. The check leaves the row in the logits kernel, and the draw reads it there.
      let max: number;
      try {
        max = checkLogits(r.logits, b * V, (b + 1) * V, cause, where);
        for (const l of capture) checkHidden(r.hidden.get(l)!, H, ((b + 1) * r.seq - 1) * H, (b + 1) * r.seq * H, cause, `hidden_states.${l}`, where);
      } catch (e) {
        if (!opts.rowFailed || !(e instanceof OverflowError)) throw e;
        done[b] = true;
        opts.rowFailed(b, e);
        continue;
      }
      const tok = sampleLoaded(max, opts.sampling, rngs[b]!, penalty ? seen[b] : undefined);
      next[b] = tok;
      if (stop.has(tok)) {
        done[b] = true;
        finishReason[b] = 'stop';
      } else {
        tokens[b]!.push(tok);
        if (penalty) seen[b]!.add(tok);
        if (opts.stopRow?.(b, tokens[b]!)) done[b] = true;
      }
    }
    // Finished rows keep receiving a (masked-in, ignored) filler so the batch stays rectangular.
    feed = next.map((t) => [t < 0 ? model.padId : t]);
    for (let b = 0; b < batch; b++) fed[b]!.push(feed[b]![0]!);
    steps.push({ totalMs: performance.now() - t0, runMs: r.runMs });
    opts.onToken?.({ step, tokens: next, hidden: stepHidden, logits: r.logits });
    if (done.every(Boolean)) break;
  }
  const totalMs = performance.now() - start;
  return {
    tokens,
    text: tokens.map((t) => model.tokenizer.decode(t)),
    finishReason,
    hidden,
    logits,
    timings: { steps, totalMs, runMs: steps.reduce((a, s) => a + s.runMs, 0) },
  };
}

/** Chat-template each conversation (with the assistant header) and generate the replies. */
export async function generateChat(
  model: SteerableModel,
  conversations: ChatMessage[][],
  opts: GenerateOptions = {},
): Promise<GenerateResult> {
  const prompts = conversations.map((c) => model.tokenizer.encodeChat(c, { addGenerationPrompt: true }));
  return generate(model, prompts, opts);
}

/** Continue raw text prompts (base models): each text is encoded as it is, with the tokenizer's BOS. */
export async function generateText(model: SteerableModel, texts: string[], opts: GenerateOptions = {}): Promise<GenerateResult> {
  return generate(model, texts.map((t) => model.tokenizer.encodeRaw(t)), opts);
}

/** [batch, seq, H] -> [batch, H] at the last column. */
function lastColumn(x: Float32Array, batch: number, seq: number, H: number): Float32Array {
  const out = new Float32Array(batch * H);
  for (let b = 0; b < batch; b++) out.set(x.subarray((b * seq + seq - 1) * H, (b * seq + seq) * H), b * H);
  return out;
}
