// The ONNX float64 graph behind every probe fit, against the definitions computed in plain loops.

import { describe, expect, it } from 'vitest';
import { createRng } from '../../../src/generation/sampling.js';
import { SoftmaxKernel } from '../../../src/directions/probes/softmaxKernel.js';

describe('SoftmaxKernel', () => {
  it.each([
    [1, 1, 2],
    [3, 5, 2],
    [7, 1, 4],
    [50, 33, 7],
    [200, 16, 32],
  ] as const)('n=%i H=%i K=%i: cross-entropy, gradient, residual sums and Gram matrix to 1e-12', async (n, H, K) => {
    const rng = createRng(n * 1000 + H * 10 + K);
    const U = Float64Array.from({ length: n * H }, () => (rng() - 0.5) * 10);
    const y = Int32Array.from({ length: n }, () => Math.floor(rng() * K));
    const A = Float64Array.from({ length: K * H }, () => rng() - 0.5);
    const c = Float64Array.from({ length: K }, () => rng());
    const kernel = await SoftmaxKernel.create(U, y, K);
    const got = await kernel.evaluate(A, c);

    let ce = 0;
    const G = new Float64Array(K * H);
    const rs = new Float64Array(K);
    for (let i = 0; i < n; i++) {
      const z = Array.from({ length: K }, (_, k) => {
        let s = c[k]!;
        for (let h = 0; h < H; h++) s += A[k * H + h]! * U[i * H + h]!;
        return s;
      });
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
      ce += lse - z[y[i]!]!;
      for (let k = 0; k < K; k++) {
        const r = Math.exp(z[k]! - lse) - (k === y[i] ? 1 : 0);
        rs[k] += r;
        for (let h = 0; h < H; h++) G[k * H + h] += r * U[i * H + h]!;
      }
    }
    expect(Math.abs(got.ce - ce) / Math.max(1, ce)).toBeLessThan(1e-12);
    for (let j = 0; j < K * H; j++) expect(Math.abs(got.gradient[j]! - G[j]!)).toBeLessThan(1e-12 * Math.max(1, Math.abs(G[j]!)) * n);
    for (let k = 0; k < K; k++) expect(Math.abs(got.residualSum[k]! - rs[k]!)).toBeLessThan(1e-12 * n);

    const S = await kernel.gram();
    for (let p = 0; p < H; p++)
      for (let q = 0; q < H; q++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += U[i * H + p]! * U[i * H + q]!;
        expect(Math.abs(S[p * H + q]! - s)).toBeLessThan(1e-12 * Math.max(1, Math.abs(s)));
      }
  });
});
