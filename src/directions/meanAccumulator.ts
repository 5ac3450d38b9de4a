// Running per-layer mean of activation vectors, in float64 so thousands of samples don't lose
// precision, without keeping the samples themselves.

import { norm } from '../model/overflow.js';

export class MeanAccumulator {
  private sums: Float64Array[] | null = null;
  count = 0;

  constructor(readonly label = '') {}

  add(perLayer: Float32Array[]): void {
    if (!this.sums) this.sums = perLayer.map((v) => new Float64Array(v.length));
    if (perLayer.length !== this.sums.length) {
      throw new Error(`${this.label || 'mean'}: got ${perLayer.length} layers, expected ${this.sums.length}`);
    }
    perLayer.forEach((v, l) => {
      const s = this.sums![l]!;
      if (v.length !== s.length) throw new Error(`${this.label || 'mean'}: layer ${l} has size ${v.length}, expected ${s.length}`);
      for (let i = 0; i < v.length; i++) s[i]! += v[i]!;
    });
    this.count++;
  }

  mean(): Float32Array[] {
    if (!this.sums || this.count === 0) throw new Error(`${this.label || 'mean'}: no samples`);
    return this.sums.map((s) => Float32Array.from(s, (x) => x / this.count));
  }
}

export function sub(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new Error(`vector sizes differ: ${a.length} vs ${b.length}`);
  return a.map((x, i) => x - b[i]!);
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

// The L2 norm is model/overflow.ts's (it checks residual norms with it), re-exported for directions.
export { norm };

/** Scalar projection a·v/|v| (the paper's monitoring and screening measure). */
export function projection(a: Float32Array, v: Float32Array): number {
  const n = norm(v);
  return n === 0 ? 0 : dot(a, v) / n;
}

export function cosine(a: Float32Array, b: Float32Array): number {
  const n = norm(a) * norm(b);
  return n === 0 ? 0 : dot(a, b) / n;
}
