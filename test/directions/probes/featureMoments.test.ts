// Cross-validation builds each training set's feature moments from the other folds' (featureMoments.ts):
// they must equal the moments read from the training rows themselves, also where a naive sum of
// squares would cancel (features offset far from zero).

import { describe, expect, it } from 'vitest';
import { combineMoments, momentsOf } from '../../../src/directions/probes/featureMoments.js';
import { fitRows } from '../../../src/directions/probes/logisticRegression.js';
import { createRng } from '../../../src/generation/sampling.js';

const rng = createRng(5);
const N = 1000;
const H = 6;
// Feature h: offset 10^h (up to 1e5, where float32 spacing is ~0.008), spread 0.5.
const X = Float32Array.from({ length: N * H }, (_, j) => 10 ** (j % H) + (rng() - 0.5));

/** Mean and m2 of the rows, directly in float64 (the definition). */
function reference(rows: number[]) {
  const mean = Array.from({ length: H }, (_, h) => rows.reduce((a, i) => a + X[i * H + h]!, 0) / rows.length);
  const m2 = Array.from({ length: H }, (_, h) => rows.reduce((a, i) => a + (X[i * H + h]! - mean[h]!) ** 2, 0));
  return { mean, m2 };
}

describe('feature moments', () => {
  it('momentsOf reads the rows given (all when null) as the definition does', () => {
    const rows = Array.from({ length: 300 }, (_, i) => 3 * i + 1);
    const m = momentsOf(X, H, Int32Array.from(rows));
    const ref = reference(rows);
    expect(m.n).toBe(300);
    for (let h = 0; h < H; h++) {
      expect(Math.abs(m.mean[h]! - ref.mean[h]!)).toBeLessThan(1e-12 * 10 ** h);
      expect(Math.abs(m.m2[h]! / ref.m2[h]! - 1)).toBeLessThan(1e-9);
    }
    expect(momentsOf(X, H, null).n).toBe(N);
  });

  it('combining disjoint parts (one empty) gives the moments of their union', () => {
    const parts = [[0, 250], [250, 250], [250, 620], [620, 1000]].map(([a, b]) => Array.from({ length: b! - a! }, (_, i) => a! + i));
    const union = parts.slice(0, 3).flat();
    const combined = combineMoments(parts.slice(0, 3).map((r) => momentsOf(X, H, Int32Array.from(r))));
    const direct = momentsOf(X, H, Int32Array.from(union));
    expect(combined.n).toBe(union.length);
    for (let h = 0; h < H; h++) {
      expect(Math.abs(combined.mean[h]! - direct.mean[h]!)).toBeLessThan(1e-12 * 10 ** h);
      // At offset 1e5 the data's m2 is ~80: relative 1e-9 means no cancellation of the offset's square (1e10 per row).
      expect(Math.abs(combined.m2[h]! / direct.m2[h]! - 1)).toBeLessThan(1e-9);
    }
  });

  it('a fit refuses moments that are not of its rows', async () => {
    const y = Int32Array.from({ length: N }, (_, i) => i % 2);
    const wrong = momentsOf(X, H, Int32Array.from({ length: 10 }, (_, i) => i));
    await expect(fitRows(X, H, y, 2, null, {}, { moments: wrong })).rejects.toThrow(/moments of 10 rows x 6 features for a fit on 1000 x 6/);
  });
});
