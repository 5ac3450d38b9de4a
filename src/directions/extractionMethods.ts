// Directions from paired activations (pos_i, neg_i), one layer at a time, besides the persona-vectors
// difference of means:
//   pca-diff      first principal component of the differences pos_i - neg_i, centred as
//                 scikit-learn's PCA centres (repeng's and activation-steering's "pca_diff");
//   pca-center    first principal component of all activations centred by their overall mean
//                 (activation-steering's "pca_center");
//   pca-pairwise  each pair centred on its midpoint, i.e. the uncentred first component of the
//                 differences (repeng's "pca_center", activation-steering's "pca_pairwise");
//   logistic      the weight of an L2 logistic regression (C = 1) separating pos from neg.
// PCA and regression give a unit direction with an arbitrary sign: the sign is chosen so that pos
// projects above neg in most pairs (repeng's rule), and the direction is scaled to the norm of the
// mean difference at that layer, so a steering coefficient means the same magnitude whichever
// method made the vector; only the direction differs.

import { fitLogisticRegression } from './probes/logisticRegression.js';
import { dot, norm, sub } from './meanAccumulator.js';

export const EXTRACTION_METHODS = ['mean-diff', 'pca-diff', 'pca-center', 'pca-pairwise', 'logistic'] as const;
export type ExtractionMethod = (typeof EXTRACTION_METHODS)[number];

export interface MethodResult {
  vector: Float32Array;
  /** PCA methods: variance ratio of the first component. */
  explainedVariance?: number;
  /** Share of pairs whose pos projects above its neg. */
  pairAccuracy: number;
}

/** pos[i] and neg[i] are one pair's activations at this layer ([H] each). */
export async function directionFromPairs(method: ExtractionMethod, pos: Float32Array[], neg: Float32Array[]): Promise<MethodResult> {
  if (pos.length !== neg.length || !pos.length) throw new Error(`directionFromPairs: need the same non-zero number of pos and neg rows (${pos.length} vs ${neg.length})`);
  const H = pos[0]!.length;
  const n = pos.length;
  const meanDiff = new Float32Array(H);
  for (let i = 0; i < n; i++) for (let j = 0; j < H; j++) meanDiff[j]! += (pos[i]![j]! - neg[i]![j]!) / n;
  if (method === 'mean-diff') return { vector: meanDiff, pairAccuracy: pairAccuracy(meanDiff, pos, neg) };

  let dir: Float32Array;
  let explainedVariance: number | undefined;
  if (method === 'logistic') {
    const X = new Float32Array(2 * n * H);
    const y = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      X.set(pos[i]!, 2 * i * H);
      X.set(neg[i]!, (2 * i + 1) * H);
      y[2 * i] = 1;
    }
    const m = await fitLogisticRegression(X, y, 2);
    dir = sub(m.weight.subarray(H, 2 * H), m.weight.subarray(0, H));
  } else {
    const rows = method === 'pca-center' ? [...pos, ...neg] : pos.map((p, i) => sub(p, neg[i]!));
    const r = firstComponent(rows, method !== 'pca-pairwise');
    dir = r.vector;
    explainedVariance = r.ratio;
  }
  const u = norm(dir);
  const scale = norm(meanDiff) / (u || 1);
  const vector = dir.map((x) => x * scale);
  // repeng's sign rule: pos should project above neg in most pairs.
  let above = 0;
  let below = 0;
  for (let i = 0; i < n; i++) {
    const d = dot(pos[i]!, vector) - dot(neg[i]!, vector);
    if (d > 0) above++;
    else if (d < 0) below++;
  }
  if (below > above) for (let j = 0; j < H; j++) vector[j] = -vector[j]!;
  return { vector, explainedVariance, pairAccuracy: pairAccuracy(vector, pos, neg) };
}

function pairAccuracy(v: Float32Array, pos: Float32Array[], neg: Float32Array[]): number {
  let ok = 0;
  for (let i = 0; i < pos.length; i++) if (dot(pos[i]!, v) > dot(neg[i]!, v)) ok++;
  return ok / pos.length;
}

/**
 * Top eigenvector of the (centred or raw) second-moment matrix of `rows`, by power iteration on the
 * rows themselves (O(n H) per step, no H x H matrix), with its share of the total variance.
 */
export function firstComponent(rows: Float32Array[], center: boolean, maxIter = 500, tol = 1e-10): { vector: Float32Array; ratio: number } {
  const H = rows[0]!.length;
  const n = rows.length;
  const mu = new Float64Array(H);
  if (center) for (const r of rows) for (let j = 0; j < H; j++) mu[j]! += r[j]! / n;
  const centred = rows.map((r) => Float64Array.from(r, (x, j) => x - mu[j]!));
  const total = centred.reduce((s, r) => s + r.reduce((a, x) => a + x * x, 0), 0);
  // Start from the mean row plus a fixed spread, so the start is never orthogonal to the answer by design.
  let v = Float64Array.from({ length: H }, (_, j) => 1 + ((j * 7919) % 13) / 13);
  let lambda = 0;
  for (let it = 0; it < maxIter; it++) {
    const w = new Float64Array(H);
    for (const r of centred) {
      let p = 0;
      for (let j = 0; j < H; j++) p += r[j]! * v[j]!;
      for (let j = 0; j < H; j++) w[j]! += p * r[j]!;
    }
    const wn = Math.hypot(...w);
    if (wn === 0) break;
    for (let j = 0; j < H; j++) w[j]! /= wn;
    let delta = 0;
    for (let j = 0; j < H; j++) delta += (w[j]! - v[j]!) ** 2;
    v = w;
    const prev = lambda;
    lambda = wn;
    if (delta < tol || Math.abs(lambda - prev) <= tol * lambda) break;
  }
  return { vector: Float32Array.from(v), ratio: total > 0 ? lambda / total : 0 };
}
