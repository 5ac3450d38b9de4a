// Next-token choice from one row of logits: greedy, or seeded sampling with temperature, top-k,
// top-p (nucleus) and an optional repetition penalty, in Hugging Face's order
// (penalty -> temperature -> top-k -> top-p). The passes over the vocabulary run in the SIMD
// logits kernel (kernels/logits.ts); probabilities are float32 exp values summed in float64.

import { BUCKETS, LogitsKernel } from '../kernels/logits.js';

export interface SamplingOptions {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens (0 / undefined = off). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). */
  topP?: number;
  /** > 1 discourages tokens already in the sequence (CTRL / HF convention). 1 = off. */
  repetitionPenalty?: number;
  /** PRNG seed; the same seed and inputs give the same tokens. Default 0. */
  seed?: number;
  /**
   * One seed per batch row. Each row then samples from its own stream, so a row's tokens do not
   * depend on which other rows share its batch (what makes batched, resumable runs reproducible).
   * Default: derived from `seed` and the row index.
   */
  rowSeeds?: number[];
}

export type Rng = () => number;

/** sfc32 seeded through splitmix32: small, fast, good enough for sampling, reproducible. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/**
 * A stable 32-bit seed for one named sample (FNV-1a of the key, mixed with a base seed), so a
 * run's answers are the same however they are batched, resumed or reordered.
 */
export function seedFromKey(base: number, key: string): number {
  let h = (0x811c9dc5 ^ base) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  let v = x[0]!;
  for (let i = 1; i < x.length; i++) {
    const y = x[i]!;
    if (y > v) {
      v = y;
      best = i;
    }
  }
  return best;
}

export function validateSampling(o: SamplingOptions): void {
  const t = o.temperature ?? 1;
  if (!(t >= 0) || !Number.isFinite(t)) throw new Error(`sampling: temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0))
    throw new Error(`sampling: topK must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new Error(`sampling: topP must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0))
    throw new Error(`sampling: repetitionPenalty must be > 0, got ${o.repetitionPenalty}`);
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topIndices(x: ArrayLike<number>, k: number): Int32Array {
  const n = x.length;
  k = Math.min(k, n);
  // Min-heap of the best k seen so far: O(n log k), no full sort of a 100k+ vocabulary.
  const heap = new Int32Array(k);
  let size = 0;
  const worse = (i: number, j: number) => x[i]! < x[j]! || (x[i] === x[j] && i > j);
  const down = (p: number) => {
    for (;;) {
      let m = p;
      const l = 2 * p + 1;
      const r = l + 1;
      if (l < size && worse(heap[l]!, heap[m]!)) m = l;
      if (r < size && worse(heap[r]!, heap[m]!)) m = r;
      if (m === p) return;
      [heap[p], heap[m]] = [heap[m]!, heap[p]!];
      p = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (size < k) {
      let c = size++;
      heap[c] = i;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(heap[c]!, heap[p]!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    } else if (worse(heap[0]!, i)) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((i, j) => (x[j]! - x[i]!) || i - j);
}

/**
 * The candidate tokens and their renormalised probabilities after top-k / top-p, most likely
 * first. `logits` are already penalised and divided by the temperature.
 */
export function nucleus(logits: Float32Array, topK = 0, topP = 1): { ids: Int32Array; probs: Float64Array } {
  const V = logits.length;
  const kernel = LogitsKernel.get();
  kernel.load(logits);
  const zAll = kernel.softmax(kernel.scan().max);
  const e = kernel.e;
  // Normaliser over the whole vocabulary, or over the top-k when top-k is on (HF renormalises).
  let k = topK > 0 ? Math.min(topK, V) : Math.min(V, 64);
  for (;;) {
    const ids = topK > 0 ? withTies(logits, topIndices(logits, k)) : topIndices(logits, k);
    let z = zAll;
    if (topK > 0) {
      z = 0;
      for (const i of ids) z += e[i]!;
    }
    const probs = Float64Array.from(ids, (i) => e[i]! / z);
    // Keep token j while the mass before it is < p (the token that crosses p stays).
    let keep = 0;
    let mass = 0;
    while (keep < ids.length && (keep === 0 || mass < topP)) mass += probs[keep++]!;
    if (mass >= topP || keep === V || topK > 0) {
      const kept = probs.subarray(0, keep);
      const total = kept.reduce((a, b) => a + b, 0);
      return { ids: ids.subarray(0, keep), probs: kept.map((p) => p / total) };
    }
    k = Math.min(V, k * 4); // the nucleus is wider than k: look further
  }
}

/**
 * The top-k ids plus every other token tied with the k-th score, in id order: HF's top-k keeps all
 * tokens scoring at least the k-th (`scores < topk(...)[..., -1]` are removed), not exactly k.
 */
function withTies(logits: Float32Array, ids: Int32Array): Int32Array {
  if (!ids.length || ids.length === logits.length) return ids;
  const last = logits[ids[ids.length - 1]!]!;
  const have = new Set(ids);
  const extra: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] === last && !have.has(i)) extra.push(i);
  return extra.length ? Int32Array.from([...ids, ...extra]) : ids;
}

/**
 * Choose the next token of one row. `context` = tokens already in the row (for the repetition
 * penalty).
 */
export function sampleToken(logits: Float32Array, opts: SamplingOptions | undefined, rng: Rng, context?: Iterable<number>): number {
  const kernel = LogitsKernel.get();
  kernel.load(logits);
  return sampleLoaded(kernel.scan().max, opts, rng, context);
}

/**
 * sampleToken for the row the logits kernel holds now, loaded as it is (no temperature), `max` its
 * scan's max: for a caller that has just loaded and scanned the row to check it (generate), so
 * that a decode step copies and scans its logits once. The penalty and the temperature are applied
 * to the kernel's copy.
 */
export function sampleLoaded(max: number, opts: SamplingOptions | undefined, rng: Rng, context?: Iterable<number>): number {
  const temperature = opts?.temperature ?? (opts ? 1 : 0);
  const penalty = opts?.repetitionPenalty ?? 1;
  const kernel = LogitsKernel.get();
  const V = kernel.length;
  if (penalty !== 1 && context) {
    const x = kernel.x;
    for (const id of new Set(context)) {
      const l = x[id]!;
      x[id] = l > 0 ? l / penalty : l * penalty;
    }
    max = kernel.scan().max;
  }
  if (temperature === 0) return kernel.argmax(max);
  if (temperature !== 1) {
    kernel.divide(temperature);
    // Dividing by t > 0 keeps the order and float32 division is correctly rounded (as is this one,
    // in float64 then rounded: 53 bits are enough), so the quotient of the max is the new max.
    max = Math.fround(max / Math.fround(temperature));
  }
  const topK = opts?.topK ?? 0;
  const topP = opts?.topP ?? 1;
  if (topK > 0) {
    // Few candidates: the exact sorted nucleus is cheap.
    const { ids, probs } = nucleus(kernel.x.slice(0, V), topK, topP);
    return drawFrom(ids, probs, rng());
  }
  const z = normaliser(kernel, max, topP < 1);
  const total = topP >= 1 ? z : markNucleus(kernel, z, topP);
  return drawKept(kernel, V, rng() * total);
}

/** softmax over the loaded row (with its bucket masses for top-p): its normaliser (>= 1: the best token's own term is 1). */
function normaliser(kernel: LogitsKernel, max: number, buckets: boolean): number {
  const z = kernel.softmax(max, buckets);
  if (!(z >= 1 && z < Infinity)) throw new Error(`sampling: the logits are not finite (softmax normaliser ${z})`);
  return z;
}

function drawFrom(ids: Int32Array, probs: Float64Array, u: number): number {
  let total = 0;
  for (const p of probs) total += p;
  u *= total;
  for (let j = 0; j < ids.length; j++) {
    u -= probs[j]!;
    if (u < 0) return ids[j]!;
  }
  return ids[ids.length - 1]!;
}

/**
 * The same set as nucleus(x, 0, topP) without sorting the vocabulary: ids in vocabulary order,
 * probabilities normalised over the whole vocabulary (not renormalised to the nucleus).
 */
export function nucleusUnsorted(x: Float32Array, topP: number): { ids: Int32Array; probs: Float64Array } {
  const kernel = LogitsKernel.get();
  const V = kernel.load(x);
  const z = normaliser(kernel, kernel.scan().max, true);
  markNucleus(kernel, z, topP);
  const e = kernel.e;
  let kept = 0;
  for (let i = 0; i < V; i++) if (e[i]! > 0) kept++;
  const ids = new Int32Array(kept);
  const probs = new Float64Array(kept);
  let n = 0;
  for (let i = 0; i < V; i++)
    if (e[i]! > 0) {
      ids[n] = i;
      probs[n++] = e[i]! / z;
    }
  return { ids, probs };
}

/**
 * Leaves kernel.e = the nucleus's unnormalised probabilities (0 outside it) and returns their sum;
 * after softmax(max, true), whose bucket masses it starts from.
 * Tokens are ordered by key (distance below the best logit, kernels/logits.ts): whole 1/16-nat
 * buckets are kept while the mass before the next stays below p, then whole 1/8192-nat sub-buckets
 * of the bucket that crosses p, and only the sub-bucket that crosses p is sorted (by logit, ties by
 * id, as nucleus() orders them): a near-uniform 49k vocabulary puts thousands of tokens in one bucket
 * but few in one sub-bucket. One histogram pass (the buckets come with the softmax), one gather,
 * one cut; no sort of the vocabulary.
 */
function markNucleus(kernel: LogitsKernel, z: number, topP: number): number {
  const target = topP * z;
  const mass = kernel.bucketMass();
  let cum = 0;
  let c = 0;
  while (c < BUCKETS - 1 && cum + mass[c]! < target) cum += mass[c++]!;
  // Key range of the tokens to sort: the crossing sub-bucket, or the whole open last bucket.
  let lo = c * BUCKETS;
  let hi = 0x7fffffff;
  if (c < BUCKETS - 1) {
    const sub = kernel.subBucketMass(c);
    let s = 0;
    while (s < BUCKETS - 1 && cum + sub[s]! < target) cum += sub[s++]!;
    lo = hi = c * BUCKETS + s;
  }
  const x = kernel.x;
  const e = kernel.e;
  const crossing = Array.from(kernel.gather(lo, hi)).sort((a, b) => x[b]! - x[a]! || a - b);
  // cum < target on entry (every loop above stops before reaching it), so one token is always kept.
  const kept: number[] = [];
  const weights: number[] = [];
  for (const i of crossing) {
    if (cum >= target && kept.length) break;
    cum += e[i]!;
    kept.push(i);
    weights.push(e[i]!);
  }
  let total = kernel.cutFrom(lo);
  kept.forEach((i, j) => {
    e[i] = weights[j]!;
    total += weights[j]!;
  });
  return total;
}

/** Inverse-CDF draw over kernel.e (whatever is left of it) at t in [0, total). */
function drawKept(kernel: LogitsKernel, V: number, t: number): number {
  const i = kernel.draw(t);
  const e = kernel.e;
  if (i >= 0 && i < V && e[i]! > 0) return i;
  // Rounding left the draw past the last kept token (or on a zero lane just after it): that token.
  for (let j = Math.min(i < 0 ? V : i, V) - 1; j >= 0; j--) if (e[j]! > 0) return j;
  return kernel.argmax();
}
