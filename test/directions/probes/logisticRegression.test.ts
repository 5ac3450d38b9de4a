import { describe, expect, it } from 'vitest';
import { createRng } from '../../../src/generation/sampling.js';
import {
  fitLogisticRegression,
  fitRows,
  predictClasses,
  predictProba,
  type Curvature,
  type LogRegModel,
} from '../../../src/directions/probes/logisticRegression.js';
import { crossValidate } from '../../../src/directions/probes/crossValidation.js';

// Everything the solver is checked against is recomputed here from the definitions, in plain
// float64 loops: the objective C * sum CE + 0.5 ||W||^2, its finite-difference gradient, and a
// Newton solve with the exact Hessian.

function gaussian(seed: number): () => number {
  const rng = createRng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** Class clusters with per-feature scales and offsets; overlapping unless `separation` is large. */
function clusters(n: number, H: number, K: number, separation: number, seed: number, scales?: number[]) {
  const g = gaussian(seed);
  const means = Array.from({ length: K }, () => Array.from({ length: H }, () => g() * separation));
  const X = new Float32Array(n * H);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % K;
    y[i] = c;
    for (let h = 0; h < H; h++) X[i * H + h] = (means[c]![h]! + g()) * (scales?.[h] ?? 1) + (scales ? h : 0);
  }
  return { X, y };
}

/** C * sum_i CE + 0.5 ||W||^2 with W [K,H], b [K] as plain arrays. */
function objective(X: ArrayLike<number>, y: Int32Array, W: number[], b: number[], K: number, C: number): number {
  const n = y.length;
  const H = X.length / n;
  let ce = 0;
  for (let i = 0; i < n; i++) {
    const z = b.map((bk, k) => {
      let s = bk;
      for (let h = 0; h < H; h++) s += W[k * H + h]! * X[i * H + h]!;
      return s;
    });
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0));
    ce += lse - z[y[i]!]!;
  }
  return C * ce + 0.5 * W.reduce((a, w) => a + w * w, 0);
}

/** Newton's method on the same objective, exact Hessian, Gaussian elimination; biases pinned to sum 0. */
function newtonSolve(X: ArrayLike<number>, y: Int32Array, K: number, C: number): { W: number[]; b: number[] } {
  const n = y.length;
  const H = X.length / n;
  const P = K * (H + 1); // per class: H weights then 1 bias
  const theta = new Array<number>(P).fill(0);
  for (let iter = 0; iter < 100; iter++) {
    const grad = new Array<number>(P).fill(0);
    const hess = Array.from({ length: P }, () => new Array<number>(P).fill(0));
    for (let i = 0; i < n; i++) {
      const x = [...Array.from({ length: H }, (_, h) => X[i * H + h]!), 1];
      const z = Array.from({ length: K }, (_, k) => x.reduce((a, v, j) => a + v * theta[k * (H + 1) + j]!, 0));
      const max = Math.max(...z);
      const e = z.map((v) => Math.exp(v - max));
      const s = e.reduce((a, v) => a + v, 0);
      const p = e.map((v) => v / s);
      for (let k = 0; k < K; k++)
        for (let j = 0; j <= H; j++) {
          grad[k * (H + 1) + j] += C * (p[k]! - (y[i] === k ? 1 : 0)) * x[j]!;
          for (let l = 0; l < K; l++)
            for (let m = 0; m <= H; m++)
              hess[k * (H + 1) + j]![l * (H + 1) + m] += C * ((k === l ? p[k]! : 0) - p[k]! * p[l]!) * x[j]! * x[m]!;
        }
    }
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < H; j++) {
        grad[k * (H + 1) + j] += theta[k * (H + 1) + j]!;
        hess[k * (H + 1) + j]![k * (H + 1) + j] += 1;
      }
      // The objective is flat along "all biases + t"; a tiny ridge there picks the sum-0 solution.
      hess[k * (H + 1) + H]![k * (H + 1) + H] += 1e-9;
    }
    const step = solveLinear(hess, grad);
    for (let j = 0; j < P; j++) theta[j] -= step[j]!;
    if (Math.max(...step.map(Math.abs)) < 1e-12) break;
  }
  const W: number[] = [];
  const b: number[] = [];
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < H; j++) W.push(theta[k * (H + 1) + j]!);
    b.push(theta[k * (H + 1) + H]!);
  }
  return { W, b };
}

function solveLinear(A: number[][], rhs: number[]): number[] {
  const n = rhs.length;
  const M = A.map((row, i) => [...row, rhs[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k] -= f * M[c]![k]!;
    }
  }
  return M.map((row, i) => row[n]! / row[i]!);
}

const centred = (b: ArrayLike<number>) => {
  const arr = Array.from(b);
  const m = arr.reduce((a, v) => a + v, 0) / arr.length;
  return arr.map((v) => v - m);
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
const accuracy = (m: LogRegModel, X: Float32Array, y: Int32Array) => predictClasses(m, X).reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0) / y.length;

describe('fitLogisticRegression', () => {
  it('stops where the objective gradient (finite differences of an independent objective) is ~0', async () => {
    const K = 3;
    const C = 0.7;
    const { X, y } = clusters(150, 6, K, 0.8, 1);
    const m = await fitLogisticRegression(X, y, K, { C, tol: 1e-9 });
    expect(m.converged).toBe(true);
    const W = Array.from(m.weight);
    const b = Array.from(m.bias);
    const fdGrad = (params: number[], j: number, set: (p: number[]) => number) => {
      const eps = 1e-5;
      const up = [...params];
      const down = [...params];
      up[j] += eps;
      down[j] -= eps;
      return (set(up) - set(down)) / (2 * eps);
    };
    let worst = 0;
    for (let j = 0; j < W.length; j++) worst = Math.max(worst, Math.abs(fdGrad(W, j, (w) => objective(X, y, w, b, K, C))));
    for (let k = 0; k < K; k++) worst = Math.max(worst, Math.abs(fdGrad(b, k, (bb) => objective(X, y, W, bb, K, C))));
    // Relative to the size of the objective's terms (C * N); at a random point it is order 1.
    expect(worst / (C * y.length)).toBeLessThan(1e-5);
    // Away from the optimum the same measurement is large (the check can fail).
    const moved = W.map((w, j) => w + (j % 2 ? 0.3 : -0.3));
    let away = 0;
    for (let j = 0; j < W.length; j++) away = Math.max(away, Math.abs(fdGrad(moved, j, (w) => objective(X, y, w, b, K, C))));
    expect(away / (C * y.length)).toBeGreaterThan(1e-3);
    expect(m.objective).toBeCloseTo(objective(X, y, W, b, K, C), 3);
  });

  it.each(['diagonal', 'whiten'] as const)('matches an exact Newton solve, on badly scaled raw features and standardised (%s preconditioning)', async (precondition) => {
    const K = 3;
    const C = 2;
    const scales = [0.01, 1, 100, 5];
    const { X, y } = clusters(90, 4, K, 1, 2, scales);
    const raw = await fitLogisticRegression(X, y, K, { C, tol: 1e-9, precondition });
    const ref = newtonSolve(X, y, K, C);
    expect(raw.converged).toBe(true);
    // Weights relative to the feature scale (a weight on a 0.01-scale feature is ~100x larger).
    for (let k = 0; k < K; k++)
      for (let h = 0; h < 4; h++) expect(Math.abs(raw.weight[k * 4 + h]! - ref.W[k * 4 + h]!) * scales[h]!).toBeLessThan(1e-4);
    expect(maxDiff(centred(raw.bias), centred(ref.b))).toBeLessThan(1e-4);

    // Standardised fit = the raw fit on features standardised by hand (population std).
    const n = y.length;
    const mean = [0, 1, 2, 3].map((h) => y.reduce((a, _, i) => a + X[i * 4 + h]!, 0) / n);
    const sd = [0, 1, 2, 3].map((h) => Math.sqrt(y.reduce((a, _, i) => a + (X[i * 4 + h]! - mean[h]!) ** 2, 0) / n));
    const Z = X.map((v, j) => (v - mean[j % 4]!) / sd[j % 4]!);
    const refStd = newtonSolve(Z, y, K, C);
    const std = await fitLogisticRegression(X, y, K, { C, tol: 1e-9, standardize: true, precondition });
    expect(maxDiff(std.standardization!.mean, mean)).toBeLessThan(1e-3);
    expect(maxDiff(std.standardization!.scale, sd)).toBeLessThan(1e-4 * Math.max(...sd));
    // Folded raw weights times the scale are the standardised-space weights.
    for (let k = 0; k < K; k++)
      for (let h = 0; h < 4; h++) expect(Math.abs(std.weight[k * 4 + h]! * sd[h]! - refStd.W[k * 4 + h]!)).toBeLessThan(1e-4);
    // Raw-space logits of the folded model equal standardised-space logits of the reference (up to a shift per row).
    const onRaw = predictProba(std, X);
    const zModel = { ...std, weight: Float32Array.from(refStd.W), bias: Float32Array.from(refStd.b), standardization: undefined };
    expect(maxDiff(onRaw, predictProba(zModel, Z))).toBeLessThan(1e-4);
    // Standardising changes the penalty, so it changes the solution (the test can tell them apart).
    expect(maxDiff(predictProba(raw, X), onRaw)).toBeGreaterThan(1e-3);
  });

  it('fitting with standardize equals fitting on standardised features, and handles a constant feature', async () => {
    const { X, y } = clusters(200, 5, 4, 0.7, 3, [3, 0.2, 10, 1, 0]);
    // Feature 4 is constant (scale 0, offset 4).
    const m = await fitLogisticRegression(X, y, 4, { standardize: true, tol: 1e-8 });
    expect(m.standardization!.scale[4]).toBe(1);
    expect(m.weight.every(Number.isFinite)).toBe(true);
    const { mean, scale } = m.standardization!;
    const Z = X.map((v, j) => (v - mean[j % 5]!) / scale[j % 5]!);
    const onZ = await fitLogisticRegression(Z, y, 4, { tol: 1e-8 });
    expect(maxDiff(predictProba(m, X), predictProba(onZ, Z))).toBeLessThan(1e-4);
    expect(Array.from(predictClasses(m, X))).toEqual(Array.from(predictClasses(onZ, Z)));
  });

  it('separates separable data perfectly, and probabilities are finite at large feature values', async () => {
    const { X, y } = clusters(300, 8, 4, 6, 4);
    const m = await fitLogisticRegression(X, y, 4);
    expect(accuracy(m, X, y)).toBe(1);
    const big = X.map((v) => v * 1e4);
    const p = predictProba(m, big);
    expect(p.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 300; i++) expect(p[i * 4]! + p[i * 4 + 1]! + p[i * 4 + 2]! + p[i * 4 + 3]!).toBeCloseTo(1, 5);
  });

  it('starting from another model reaches the same optimum', async () => {
    const { X, y } = clusters(200, 10, 3, 0.5, 5, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const cold = await fitLogisticRegression(X, y, 3, { tol: 1e-8 });
    const half = { X: X.subarray(0, 100 * 10), y: y.subarray(0, 100) };
    const start = await fitLogisticRegression(half.X, half.y, 3);
    const warm = await fitLogisticRegression(X, y, 3, { tol: 1e-8, init: start });
    expect(maxDiff(predictProba(cold, X), predictProba(warm, X))).toBeLessThan(1e-5);
    // Starting at the optimum maps it back exactly (no iterations needed).
    for (const precondition of ['diagonal', 'whiten'] as const)
      expect((await fitLogisticRegression(X, y, 3, { tol: 1e-6, init: cold, precondition })).iterations).toBeLessThanOrEqual(1);
    const diagonal = await fitLogisticRegression(X, y, 3, { tol: 1e-8, init: start, precondition: 'diagonal' });
    expect(maxDiff(predictProba(cold, X), predictProba(diagonal, X))).toBeLessThan(1e-5);
  });

  it('a fit seeded with curvature pairs reaches the unseeded optimum, leaves the seed untouched and ignores pairs of another size', async () => {
    const { X, y } = clusters(800, 30, 3, 0.4, 13, Array.from({ length: 30 }, (_, h) => 0.2 * 20 ** (h / 29)));
    const dim = 30;
    const full: Curvature = { pairs: [] };
    const init = await fitRows(X, dim, y, 3, null, { tol: 1e-9 }, { curvature: full });
    expect(full.pairs.length).toBe(10); // the memory, oldest first
    const seed = full.pairs.map((p) => ({ s: p.s.slice(), y: p.y.slice() }));
    const rows = Int32Array.from({ length: 800 }, (_, i) => i).filter((i) => i % 4 !== 1);
    const plain = await fitRows(X, dim, y, 3, rows, { tol: 1e-9, init });
    const mine: Curvature = { pairs: full.pairs };
    const seeded = await fitRows(X, dim, y, 3, rows, { tol: 1e-9, init }, { curvature: mine });
    expect(maxDiff(predictProba(plain, X), predictProba(seeded, X))).toBeLessThan(1e-5);
    expect(seeded.evaluations).toBeLessThan(plain.evaluations);
    // The seed object now holds the fold's own pairs; the pairs it was seeded with are unchanged, so
    // the next fold seeded from them starts where this one did.
    expect(mine.pairs).not.toBe(full.pairs);
    full.pairs.forEach((p, i) => {
      expect(p.s).toEqual(seed[i]!.s);
      expect(p.y).toEqual(seed[i]!.y);
    });
    // Pairs of another problem size (2 classes here: 2 * 31 parameters, not 3 * 31) are not used.
    const twoClass = Int32Array.from(y, (c) => Math.min(c, 1));
    const other = await fitRows(X, dim, twoClass, 2, null, { tol: 1e-9 }, { curvature: { pairs: full.pairs } });
    const otherPlain = await fitRows(X, dim, twoClass, 2, null, { tol: 1e-9 });
    expect(other.evaluations).toBe(otherPlain.evaluations);
    expect(Array.from(other.weight)).toEqual(Array.from(otherPlain.weight));
  });

  it('folds of a refit start from its curvature too: the same optima in fewer evaluations than from its weights alone', async () => {
    const { X, y } = clusters(1500, 40, 4, 0.4, 12, Array.from({ length: 40 }, (_, h) => 0.1 * 30 ** (h / 39)));
    for (const standardize of [false, true]) {
      const refit = await crossValidate(X, y, 4, { standardize, tol: 1e-8, refit: true });
      const full = await fitLogisticRegression(X, y, 4, { standardize, tol: 1e-8 });
      expect(maxDiff(predictProba(refit.model!, X), predictProba(full, X))).toBe(0);
      const weightsOnly = await crossValidate(X, y, 4, { standardize, tol: 1e-8, init: full });
      expect(refit.foldAccuracies).toEqual(weightsOnly.foldAccuracies);
      expect(refit.fits.every((f) => f.converged)).toBe(true);
      const evaluations = (r: typeof refit) => r.fits.reduce((a, f) => a + f.evaluations, 0);
      expect(evaluations(refit)).toBeLessThan(0.95 * evaluations(weightsOnly));
    }
  });

  it('a class without samples gets probability 0 and leaves the other classes as a fit without it', async () => {
    const { X, y } = clusters(120, 4, 2, 1, 6);
    const y3 = y.map((c) => (c === 1 ? 2 : 0)); // classes 0 and 2; class 1 empty
    const m = await fitLogisticRegression(X, y3, 3, { tol: 1e-8 });
    expect(m.emptyClasses).toEqual([1]);
    expect(m.bias[1]).toBe(-Infinity);
    expect(Array.from(m.weight.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    const p3 = predictProba(m, X);
    const p2 = predictProba(await fitLogisticRegression(X, y, 2, { tol: 1e-8 }), X);
    for (let i = 0; i < 120; i++) {
      expect(p3[i * 3 + 1]).toBe(0);
      expect(Math.abs(p3[i * 3 + 2]! - p2[i * 2 + 1]!)).toBeLessThan(1e-5);
    }
  });

  it("'auto' whitens correlated features only, reaches the same optimum either way, and folds keep the full fit's choice", async () => {
    const H = 24;
    const K = 3;
    const independent = clusters(600, H, K, 0.5, 7);
    // One shared factor carries most of the variance of every feature, as in hidden states.
    const g = gaussian(8);
    const correlated = clusters(600, H, K, 0.5, 9);
    for (let i = 0; i < 600; i++) {
      const f = 6 * g();
      for (let h = 0; h < H; h++) correlated.X[i * H + h] += f * (1 + h / H);
    }
    const auto = async (d: { X: Float32Array; y: Int32Array }) => fitLogisticRegression(d.X, d.y, K, { tol: 1e-8 });
    expect((await auto(independent)).preconditioning).toBe('diagonal');
    const whitened = await auto(correlated);
    expect(whitened.preconditioning).toBe('whiten');
    const diagonal = await fitLogisticRegression(correlated.X, correlated.y, K, { tol: 1e-8, precondition: 'diagonal' });
    expect(diagonal.preconditioning).toBe('diagonal');
    expect(maxDiff(predictProba(whitened, correlated.X), predictProba(diagonal, correlated.X))).toBeLessThan(1e-4);
    // What whitening is for: far fewer iterations on correlated features.
    expect(whitened.iterations * 3).toBeLessThan(diagonal.iterations);
    // Too many features for the classes (H > 60 per class): never whitened under 'auto'.
    const wide = clusters(200, 130, 2, 0.5, 10);
    for (let i = 0; i < 200; i++) {
      const f = 6 * g();
      for (let h = 0; h < 130; h++) wide.X[i * 130 + h] += f;
    }
    expect((await fitLogisticRegression(wide.X, wide.y, 2)).preconditioning).toBe('diagonal');
    // Folds started from a whitened fit are whitened too, and agree with cold folds.
    const warm = await crossValidate(correlated.X, correlated.y, K, { init: whitened, tol: 1e-8 });
    const cold = await crossValidate(correlated.X, correlated.y, K, { precondition: 'diagonal', tol: 1e-8 });
    expect(warm.fits.map((f) => f.preconditioning)).toEqual(Array(5).fill('whiten'));
    expect(cold.fits.map((f) => f.preconditioning)).toEqual(Array(5).fill('diagonal'));
    expect(warm.foldAccuracies).toEqual(cold.foldAccuracies);
    expect(Math.max(...warm.fits.map((f) => f.iterations))).toBeLessThan(Math.min(...cold.fits.map((f) => f.iterations)));
  });

  it('reports iterations and non-convergence honestly', async () => {
    const { X, y } = clusters(200, 10, 3, 0.5, 7);
    const m = await fitLogisticRegression(X, y, 3, { maxIter: 2 });
    expect(m.iterations).toBe(2);
    expect(m.converged).toBe(false);
    expect(m.stopReason).toBe('max-iterations');
  });

  it('rejects bad input with messages that say what is wrong', async () => {
    const X = new Float32Array(12);
    const y = new Int32Array([0, 1, 0, 1]);
    await expect(fitLogisticRegression(new Float32Array(10), y, 2)).rejects.toThrow(/10 values, not a positive multiple of the 4 labels/);
    await expect(fitLogisticRegression(X, new Int32Array([0, 1, 2, 0]), 2)).rejects.toThrow(/label 2 of sample 2 is outside 0..1/);
    await expect(fitLogisticRegression(X, new Int32Array([0, -1, 0, 1]), 2)).rejects.toThrow(/label -1 of sample 1/);
    const nan = X.slice();
    nan[7] = NaN;
    await expect(fitLogisticRegression(nan, y, 2)).rejects.toThrow(/X\[2, 1\] is NaN/);
    await expect(fitLogisticRegression(X, y, 1)).rejects.toThrow(/numClasses must be an integer >= 2/);
    await expect(fitLogisticRegression(X, new Int32Array([1, 1, 1, 1]), 3)).rejects.toThrow(/at least two classes.*only class 1/);
    await expect(fitLogisticRegression(X, y, 2, { C: 0 })).rejects.toThrow(/C must be a positive number/);
    await expect(fitLogisticRegression(X, new Int32Array(0), 2)).rejects.toThrow(/no samples/);
    const m = await fitLogisticRegression(Float32Array.from({ length: 12 }, (_, i) => i % 5), y, 2);
    expect(() => predictProba(m, new Float32Array(7))).toThrow(/not a multiple of the model's dim 3/);
  });
});
