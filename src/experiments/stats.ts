// Correlation with a confidence interval, for the monitoring and finetuning studies.

export interface Correlation {
  r: number;
  n: number;
  /** 95% interval from the Fisher z transform (null below 4 points). */
  ci: [number, number] | null;
}

export function pearson(x: number[], y: number[]): number {
  if (x.length !== y.length) throw new Error(`pearson: ${x.length} vs ${y.length} values`);
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx && syy ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Pearson r with the 95% Fisher-z interval: tanh(atanh(r) ± 1.96/sqrt(n-3)). */
export function correlation(x: number[], y: number[]): Correlation {
  const r = pearson(x, y);
  const n = x.length;
  if (n < 4 || !Number.isFinite(r)) return { r, n, ci: null };
  const z = Math.atanh(Math.max(-0.999999, Math.min(0.999999, r)));
  const h = 1.96 / Math.sqrt(n - 3);
  return { r, n, ci: [Math.tanh(z - h), Math.tanh(z + h)] };
}
