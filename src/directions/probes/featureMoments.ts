// Per-feature count, mean and sum of squared deviations over a set of rows, and their exact
// combination across disjoint sets (Chan, Golub & LeVeque's pairwise update). Cross-validation
// reads each fold's moments once and combines the other folds' for each training set, instead of
// two passes over every training set's rows.

export interface Moments {
  n: number;
  mean: Float64Array;
  /** Sum over the rows of (x - mean)^2, per feature. */
  m2: Float64Array;
}

/** Moments of rows `rows` of X [N, H] (all rows when null), two passes for accuracy. */
export function momentsOf(X: Float32Array, H: number, rows: Int32Array | null): Moments {
  const n = rows ? rows.length : X.length / H;
  const mean = new Float64Array(H);
  const m2 = new Float64Array(H);
  for (let i = 0; i < n; i++) {
    const off = (rows ? rows[i]! : i) * H;
    for (let h = 0; h < H; h++) mean[h] += X[off + h]!;
  }
  if (n > 0) for (let h = 0; h < H; h++) mean[h] /= n;
  for (let i = 0; i < n; i++) {
    const off = (rows ? rows[i]! : i) * H;
    for (let h = 0; h < H; h++) {
      const d = X[off + h]! - mean[h]!;
      m2[h] += d * d;
    }
  }
  return { n, mean, m2 };
}

/** The moments of the union of disjoint row sets, from theirs. */
export function combineMoments(parts: Moments[]): Moments {
  const H = parts[0]?.mean.length ?? 0;
  const mean = new Float64Array(H);
  const m2 = new Float64Array(H);
  let n = 0;
  for (const p of parts) {
    if (p.n === 0) continue;
    const total = n + p.n;
    const w = p.n / total;
    const cross = (n * p.n) / total;
    for (let h = 0; h < H; h++) {
      const delta = p.mean[h]! - mean[h]!;
      mean[h] += delta * w;
      m2[h] += p.m2[h]! + delta * delta * cross;
    }
    n = total;
  }
  return { n, mean, m2 };
}
