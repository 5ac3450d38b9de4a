// Next-token choice from one row of logits: greedy, or seeded sampling with temperature, top-k,
// top-p (nucleus) and an optional repetition penalty, in Hugging Face's order
// (penalty -> temperature -> top-k -> top-p).

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
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  // Normaliser over the whole vocabulary, or over the top-k when top-k is on (HF renormalises).
  let k = topK > 0 ? Math.min(topK, V) : Math.min(V, 64);
  for (;;) {
    const ids = topIndices(logits, k);
    let z = 0;
    if (topK > 0) for (const i of ids) z += expNeg(max - logits[i]!);
    else for (let i = 0; i < V; i++) z += expNeg(max - logits[i]!);
    const probs = Float64Array.from(ids, (i) => expNeg(max - logits[i]!) / z);
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
 * Choose the next token of one row. `context` = tokens already in the row (for the repetition
 * penalty). `scratch` (length V) avoids an allocation per call.
 */
export function sampleToken(
  logits: Float32Array,
  opts: SamplingOptions | undefined,
  rng: Rng,
  context?: Iterable<number>,
  scratch?: Float32Array,
): number {
  const temperature = opts?.temperature ?? (opts ? 1 : 0);
  const penalty = opts?.repetitionPenalty ?? 1;
  let x = logits;
  if (penalty !== 1 && context) {
    x = scratch && scratch.length === logits.length ? scratch : new Float32Array(logits.length);
    x.set(logits);
    for (const id of new Set(context)) {
      const l = x[id]!;
      x[id] = l > 0 ? l / penalty : l * penalty;
    }
  }
  if (temperature === 0) return argmax(x);
  if (temperature !== 1) {
    const y = scratch && scratch.length === logits.length ? scratch : new Float32Array(logits.length);
    for (let i = 0; i < x.length; i++) y[i] = x[i]! / temperature;
    x = y;
  }
  const topK = opts?.topK ?? 0;
  const topP = opts?.topP ?? 1;
  if (topK === 0 && topP >= 1) return sampleSoftmax(x, rng());
  if (topK > 0) {
    // Few candidates: the exact sorted nucleus is cheap.
    const { ids, probs } = nucleus(x, topK, topP);
    return drawFrom(ids, probs, rng());
  }
  return sampleNucleus(x, topP, rng());
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

const BUCKETS = 512;
const PER_NAT = 16;
/** Tokens more than this many nats below the best have probability < 1e-17: no exp needed. */
const CUTOFF = 40;
/** e^(-k/16), k = 0 .. CUTOFF * 16: the bucket part of expNeg. */
const EXP_TABLE = Float64Array.from({ length: CUTOFF * PER_NAT + 1 }, (_, k) => Math.exp(-k / 16));

/**
 * e^(-d) for d >= 0, 0 beyond CUTOFF nats: a table entry for the 1/16-nat step times a degree-6
 * Taylor polynomial for the rest (relative error < 1e-12), half the time of Math.exp, which was the
 * largest remaining cost of a draw over a 49k vocabulary. Every sampling path uses it, so the sorted
 * and the sort-free nucleus see identical probabilities.
 */
export function expNeg(d: number): number {
  if (d > CUTOFF) return 0;
  const b = (d * PER_NAT) | 0;
  const r = d - b / PER_NAT;
  return EXP_TABLE[b]! * (1 - r * (1 - r * (1 / 2 - r * (1 / 6 - r * (1 / 24 - r * (1 / 120 - r / 720))))));
}
/** A draw skips whole blocks of 2^BLOCK_BITS tokens by their kept mass. */
const BLOCK_BITS = 10;
const BLOCK = 1 << BLOCK_BITS;
/** Sub-buckets splitting the bucket that crosses p (1/16 nat each) before anything is sorted. */
const SUB_BUCKETS = 512;
/**
 * The same set as nucleus(x, 0, topP) without sorting the vocabulary: bucket tokens by
 * log-probability (O(V)), keep whole buckets from the top while their mass stays below p, and
 * sort only the bucket that crosses p. Ids come back in vocabulary order, probabilities normalised
 * over the whole vocabulary (not renormalised to the nucleus).
 */
export function nucleusUnsorted(x: Float32Array, topP: number): { ids: Int32Array; probs: Float64Array } {
  const { e, bucket, cross, z } = nucleusMark(x, topP);
  let kept = 0;
  for (let i = 0; i < x.length; i++) if (bucket[i]! < cross) kept++;
  const ids = new Int32Array(kept);
  const probs = new Float64Array(kept);
  let n = 0;
  for (let i = 0; i < x.length; i++)
    if (bucket[i]! < cross) {
      ids[n] = i;
      probs[n++] = e[i]! / z;
    }
  return { ids, probs };
}

/**
 * Marks the nucleus: token i is in it iff bucket[i] < cross (work arrays, valid until next call).
 * Three passes over the vocabulary (max; exp and bucket; the crossing bucket's members) and one
 * over the crossing bucket, whose members are split again into sub-buckets so that only the
 * members of the one sub-bucket that crosses p are sorted (a near-uniform 49k vocabulary put
 * thousands of tokens in one bucket, and sorting them was the largest cost of a draw).
 */
function nucleusMark(x: Float32Array, topP: number): { e: Float64Array; bucket: Int32Array; cross: number; mass: number; z: number; blocks: Float64Array } {
  const V = x.length;
  const { e, bucket, members } = scratch(V);
  const mass = new Float64Array(BUCKETS);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (x[i]! > max) max = x[i]!;
  let z = 0;
  for (let i = 0; i < V; i++) {
    const d = max - x[i]!;
    if (d > CUTOFF) {
      e[i] = 0;
      bucket[i] = BUCKETS - 1;
      continue;
    }
    // expNeg(d), inlined to share the bucket index.
    const b = (d * PER_NAT) | 0;
    const r = d - b / PER_NAT;
    const p = EXP_TABLE[b]! * (1 - r * (1 - r * (1 / 2 - r * (1 / 6 - r * (1 / 24 - r * (1 / 120 - r / 720))))));
    e[i] = p;
    z += p;
    const k = b < BUCKETS - 1 ? b : BUCKETS - 1;
    bucket[i] = k;
    mass[k]! += p;
  }
  const target = topP * z;
  let cum = 0;
  let cross = 0;
  while (cross < BUCKETS - 1 && cum + mass[cross]! < target) cum += mass[cross++]!;
  // One pass: the crossing bucket's members, and the mass already kept per block of BLOCK tokens
  // (so a draw can skip whole blocks). The members are then split into sub-buckets by distance
  // from the best (finer slices of the bucket's 1/16 nat: nearer the best = more likely).
  const blocks = new Float64Array(Math.ceil(V / BLOCK));
  let n = 0;
  for (let i = 0; i < V; i++) {
    const b = bucket[i]!;
    if (b === cross) members[n++] = i;
    else if (b < cross) blocks[i >> BLOCK_BITS]! += e[i]!;
  }
  const sub = new Float64Array(SUB_BUCKETS);
  const subOf = (i: number) => {
    const s = ((max - x[i]! - cross / PER_NAT) * PER_NAT * SUB_BUCKETS) | 0;
    return s < 0 ? 0 : s >= SUB_BUCKETS ? SUB_BUCKETS - 1 : s;
  };
  for (let j = 0; j < n; j++) sub[subOf(members[j]!)]! += e[members[j]!]!;
  let crossSub = 0;
  // Whole sub-buckets are taken while the mass before the next one stays below p (at least one token).
  while (crossSub < SUB_BUCKETS - 1 && cum + sub[crossSub]! < target) cum += sub[crossSub++]!;
  const last: number[] = [];
  for (let j = 0; j < n; j++) {
    const i = members[j]!;
    const s = subOf(i);
    if (s < crossSub) {
      bucket[i] = -1;
      blocks[i >> BLOCK_BITS]! += e[i]!;
    } else if (s === crossSub) last.push(i);
  }
  // The crossing sub-bucket, most likely first (ties: lower id), until the mass reaches p; taken
  // ones are moved to bucket -1 so "bucket < cross" marks the whole nucleus.
  last.sort((a, b) => e[b]! - e[a]! || a - b);
  // cum < target holds on entry (every loop above stops before reaching it), so one token is always kept.
  for (let j = 0; j < last.length && cum < target; j++) {
    cum += e[last[j]!]!;
    bucket[last[j]!] = -1;
    blocks[last[j]! >> BLOCK_BITS]! += e[last[j]!]!;
  }
  return { e, bucket, cross, mass: cum, z, blocks };
}

/** Inverse-CDF draw from the nucleus without materialising it. */
function sampleNucleus(x: Float32Array, topP: number, u: number): number {
  const { e, bucket, cross, mass, blocks } = nucleusMark(x, topP);
  let t = u * mass;
  // Whole blocks first, then the tokens of the block where the draw lands, in vocabulary order.
  for (let k = 0; k < blocks.length; k++) {
    if (t >= blocks[k]!) {
      t -= blocks[k]!;
      continue;
    }
    const end = Math.min(x.length, (k + 1) << BLOCK_BITS);
    for (let i = k << BLOCK_BITS; i < end; i++)
      if (bucket[i]! < cross) {
        t -= e[i]!;
        if (t < 0) return i;
      }
  }
  // Rounding left t >= 0 after the last kept token: that token.
  for (let i = x.length - 1; i >= 0; i--) if (bucket[i]! < cross) return i;
  return argmax(x);
}

/** Inverse-CDF draw from softmax(x) over the whole vocabulary: O(V), one exp per token, no sort. */
function sampleSoftmax(x: Float32Array, u: number): number {
  const V = x.length;
  const { e } = scratch(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (x[i]! > max) max = x[i]!;
  let z = 0;
  for (let i = 0; i < V; i++) {
    z += e[i] = expNeg(max - x[i]!);
  }
  let t = u * z;
  for (let i = 0; i < V; i++) {
    t -= e[i]!;
    if (t < 0) return i;
  }
  return argmax(x);
}

// Per-vocabulary-size work arrays, reused across calls (sampling is synchronous, so no sharing).
let work: { e: Float64Array; bucket: Int32Array; members: Int32Array } | undefined;
function scratch(V: number): { e: Float64Array; bucket: Int32Array; members: Int32Array } {
  if (!work || work.e.length !== V) work = { e: new Float64Array(V), bucket: new Int32Array(V), members: new Int32Array(V) };
  return work;
}
