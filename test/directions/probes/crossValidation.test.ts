import { describe, expect, it } from 'vitest';
import { createRng } from '../../../src/generation/sampling.js';
import { crossValidate, stratifiedFolds } from '../../../src/directions/probes/crossValidation.js';
import { fitLogisticRegression, predictClasses } from '../../../src/directions/probes/logisticRegression.js';

function gaussian(seed: number): () => number {
  const rng = createRng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function clusters(n: number, H: number, K: number, separation: number, seed: number) {
  const g = gaussian(seed);
  const means = Array.from({ length: K }, () => Array.from({ length: H }, () => g() * separation));
  const X = new Float32Array(n * H);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % K;
    for (let h = 0; h < H; h++) X[i * H + h] = means[i % K]![h]! + g();
  }
  return { X, y };
}

describe('stratifiedFolds', () => {
  // Unbalanced classes: 50, 23, 7 samples, interleaved.
  const y = Int32Array.from({ length: 80 }, (_, i) => (i < 50 ? 0 : i < 73 ? 1 : 2)).reverse();

  it('spreads every class evenly over the folds and keeps fold sizes within one', async () => {
    const k = 5;
    const folds = stratifiedFolds(y, 3, k, 9);
    const count = (pred: (i: number) => boolean) => Array.from({ length: k }, (_, f) => y.reduce((a, _, i) => a + (folds[i] === f && pred(i) ? 1 : 0), 0));
    for (let c = 0; c < 3; c++) {
      const perFold = count((i) => y[i] === c);
      expect(Math.max(...perFold) - Math.min(...perFold)).toBeLessThanOrEqual(1);
      expect(perFold.reduce((a, b) => a + b, 0)).toBe(y.filter((v) => v === c).length);
    }
    const sizes = count(() => true);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it('is reproducible per seed and shuffles differently with another seed', async () => {
    expect(Array.from(stratifiedFolds(y, 3, 4, 1))).toEqual(Array.from(stratifiedFolds(y, 3, 4, 1)));
    expect(Array.from(stratifiedFolds(y, 3, 4, 1))).not.toEqual(Array.from(stratifiedFolds(y, 3, 4, 2)));
  });

  it('refuses more folds than the smallest class has samples, and fewer than 2', async () => {
    expect(() => stratifiedFolds(y, 3, 8, 0)).toThrow(/k = 8 folds but class 2 has only 7 sample/);
    expect(() => stratifiedFolds(y, 3, 1, 0)).toThrow(/k must be an integer >= 2/);
    expect(() => stratifiedFolds(new Int32Array([0, 3]), 3, 2, 0)).toThrow(/label 3 of sample 1/);
    // An absent class does not count as the smallest.
    expect(() => stratifiedFolds(y, 4, 7, 0)).not.toThrow();
  });
});

describe('crossValidate', () => {
  it('gives chance accuracy on shuffled labels over random features', async () => {
    const g = gaussian(3);
    const n = 600;
    const X = Float32Array.from({ length: n * 20 }, g);
    const rng = createRng(4);
    const y = Int32Array.from({ length: n }, () => Math.floor(rng() * 3));
    const r = await crossValidate(X, y, 3, { k: 5, seed: 1 });
    expect(r.foldAccuracies).toHaveLength(5);
    expect(Math.abs(r.mean - 1 / 3)).toBeLessThan(0.07);
  });

  it('gives accuracy 1 on separable classes, with a diagonal confusion matrix over all samples', async () => {
    const { X, y } = clusters(300, 6, 3, 5, 5);
    const r = await crossValidate(X, y, 3, { k: 3, seed: 2 });
    expect(r.mean).toBe(1);
    expect(r.std).toBe(0);
    expect(r.confusion).toEqual([[100, 0, 0], [0, 100, 0], [0, 0, 100]]);
  });

  it('equals fitting each fold on copied training rows and scoring its test rows', async () => {
    const { X, y } = clusters(240, 5, 4, 0.6, 6);
    const H = 5;
    const r = await crossValidate(X, y, 4, { k: 4, seed: 3, C: 0.5, standardize: true, tol: 1e-8 });
    const confusion = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    let sum = 0;
    for (let f = 0; f < 4; f++) {
      const train = [...y.keys()].filter((i) => r.folds[i] !== f);
      const test = [...y.keys()].filter((i) => r.folds[i] === f);
      const pick = (idx: number[]) => Float32Array.from(idx.flatMap((i) => Array.from(X.subarray(i * H, (i + 1) * H))));
      const m = await fitLogisticRegression(pick(train), Int32Array.from(train, (i) => y[i]!), 4, { C: 0.5, standardize: true, tol: 1e-8 });
      const pred = predictClasses(m, pick(test));
      test.forEach((i, j) => confusion[y[i]!]![pred[j]!]!++);
      const acc = test.filter((i, j) => pred[j] === y[i]).length / test.length;
      expect(r.foldAccuracies[f]).toBeCloseTo(acc, 10);
      sum += acc;
    }
    expect(r.mean).toBeCloseTo(sum / 4, 10);
    expect(r.confusion).toEqual(confusion);
    const accFromConfusion = confusion.reduce((a, row, c) => a + row[c]!, 0) / y.length;
    expect(accFromConfusion).toBeCloseTo(r.mean, 1);
  });

  it('rejects folds that do not fit the data', async () => {
    const { X, y } = clusters(20, 2, 2, 1, 7);
    await expect(crossValidate(X, y, 2, { k: 11 })).rejects.toThrow(/class \d has only 10 sample/);
    await expect(crossValidate(X, y, 2, { folds: new Int32Array(19) })).rejects.toThrow(/19 fold indices for 20 samples/);
    await expect(crossValidate(X, y, 2, { folds: new Int32Array(20) })).rejects.toThrow(/at least 2 folds/);
    // Fold 1 of 0..2 is empty: refused before any fold is fitted.
    await expect(crossValidate(X, y, 2, { folds: Int32Array.from({ length: 20 }, (_, i) => (i % 2) * 2) })).rejects.toThrow(/^crossValidate: fold 1 has no samples$/);
  });
});
