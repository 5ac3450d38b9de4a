// Stratified k-fold cross-validation of logistic-regression probes. Folds are fitted one after
// another, each on the other folds' rows (indices into X, no float32 copy), so memory stays at one
// X plus one fit's float64 rows however many folds there are.

import { createRng } from '../../generation/sampling.js';
import { combineMoments, momentsOf } from './featureMoments.js';
import { checkData, fitRows, predictClasses, type Curvature, type LogRegModel, type LogRegOptions } from './logisticRegression.js';

export interface CrossValidateOptions extends LogRegOptions {
  /** Number of folds. Default 5. */
  k?: number;
  /** Seed of the shuffle that deals samples to folds. Default 0. */
  seed?: number;
  /** Fold index per sample, to reuse folds made elsewhere (overrides k and seed). */
  folds?: Int32Array;
  /**
   * Also fit on all rows (first, from `init` if given), returned as `model`; the folds then start
   * from it, its weights and its solver's curvature estimate (the same optima, as the objective is
   * convex, in fewer evaluations than from zero or from its weights alone).
   */
  refit?: boolean;
}

export interface CrossValidationResult {
  /** Test accuracy of each fold, in fold order. */
  foldAccuracies: number[];
  mean: number;
  /** Population standard deviation of the fold accuracies (numpy's default, ddof = 0). */
  std: number;
  /** [true class][predicted class], counts summed over the test folds. */
  confusion: number[][];
  /** Fold index per sample, as used. */
  folds: Int32Array;
  /** L-BFGS iterations and convergence per fold. */
  fits: { iterations: number; evaluations: number; converged: boolean; preconditioning: 'diagonal' | 'whiten' }[];
  /** With `refit`: the fit on all rows. */
  model?: LogRegModel;
}

/**
 * Deals samples to k folds so that each class is spread evenly: a class's shuffled samples go round
 * the folds in turn, and each class starts where the previous one stopped, so fold sizes also differ
 * by at most one. Classes with no samples are ignored.
 */
export function stratifiedFolds(y: Int32Array, numClasses: number, k: number, seed: number): Int32Array {
  if (!Number.isInteger(k) || k < 2) throw new Error(`stratifiedFolds: k must be an integer >= 2, got ${k}`);
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < y.length; i++) {
    const c = y[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`stratifiedFolds: label ${c} of sample ${i} is outside 0..${numClasses - 1}`);
    byClass[c]!.push(i);
  }
  const present = byClass.map((idx, c) => ({ c, n: idx.length })).filter((x) => x.n > 0);
  const smallest = present.reduce((a, b) => (b.n < a.n ? b : a), present[0] ?? { c: -1, n: 0 });
  if (k > smallest.n)
    throw new Error(`stratifiedFolds: k = ${k} folds but class ${smallest.c} has only ${smallest.n} sample(s); every fold needs one of each class`);
  const rng = createRng(seed);
  const folds = new Int32Array(y.length);
  let next = 0;
  for (const idx of byClass) {
    // Fisher-Yates with the seeded generator.
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    for (const i of idx) {
      folds[i] = next;
      next = (next + 1) % k;
    }
  }
  return folds;
}

/** Stratified k-fold accuracy of a multinomial logistic-regression probe on X [N, dim]. */
export async function crossValidate(X: Float32Array, y: Int32Array, numClasses: number, opts: CrossValidateOptions = {}): Promise<CrossValidationResult> {
  const dim = checkData(X, y, numClasses, 'crossValidate');
  const folds = opts.folds ?? stratifiedFolds(y, numClasses, opts.k ?? 5, opts.seed ?? 0);
  if (folds.length !== y.length) throw new Error(`crossValidate: ${folds.length} fold indices for ${y.length} samples`);
  let k = 0;
  for (const f of folds) {
    if (!Number.isInteger(f) || f < 0) throw new Error(`crossValidate: fold index ${f} is not a non-negative integer`);
    k = Math.max(k, f + 1);
  }
  if (k < 2) throw new Error('crossValidate: need at least 2 folds');
  const sizes = new Array<number>(k).fill(0);
  for (const f of folds) sizes[f]!++;
  const empty = sizes.indexOf(0);
  if (empty >= 0) throw new Error(`crossValidate: fold ${empty} has no samples`);

  // One float64 buffer serves every fit's rows.
  const scratch = new Float64Array((opts.refit ? y.length : y.length - Math.min(...sizes)) * dim);
  const testRows = Array.from({ length: k }, (_, f) => new Int32Array(sizes[f]!));
  const filled = new Array<number>(k).fill(0);
  folds.forEach((f, i) => (testRows[f]![filled[f]!++] = i));
  // Each fold's feature moments, read once: a training set's are the other folds' combined.
  const moments = testRows.map((rows) => momentsOf(X, dim, rows));
  // The refit's L-BFGS memory, which every fold starts from.
  const curvature: Curvature | undefined = opts.refit ? { pairs: [] } : undefined;
  const model = curvature ? await fitRows(X, dim, y, numClasses, null, opts, { scratch, curvature, moments: combineMoments(moments) }) : undefined;
  const init = model ?? opts.init;
  // Folds started from a model keep its conditioning (the folds' features are a subset of its rows)
  // instead of measuring their correlation again.
  const foldOpts = init ? { ...opts, init, precondition: (opts.precondition ?? 'auto') === 'auto' ? init.preconditioning : opts.precondition } : opts;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const foldAccuracies: number[] = [];
  const fits: CrossValidationResult['fits'] = [];
  for (let f = 0; f < k; f++) {
    const test = testRows[f]!;
    const nTest = test.length;
    const train = new Int32Array(y.length - nTest);
    for (let i = 0, a = 0; i < y.length; i++) if (folds[i] !== f) train[a++] = i;
    // Each fold starts from the refit's curvature, not from the fold before it (folds stay independent of their order).
    const fold = await fitRows(X, dim, y, numClasses, train, foldOpts, {
      scratch,
      curvature: curvature && { pairs: curvature.pairs },
      moments: combineMoments(moments.filter((_, j) => j !== f)),
    });
    const pred = predictClasses(fold, X, test);
    let correct = 0;
    for (let j = 0; j < nTest; j++) {
      const t = y[test[j]!]!;
      const p = pred[j]!;
      confusion[t]![p]!++;
      if (t === p) correct++;
    }
    foldAccuracies.push(correct / nTest);
    fits.push({ iterations: fold.iterations, evaluations: fold.evaluations, converged: fold.converged, preconditioning: fold.preconditioning });
  }
  const mean = foldAccuracies.reduce((a, b) => a + b, 0) / k;
  const std = Math.sqrt(foldAccuracies.reduce((a, b) => a + (b - mean) ** 2, 0) / k);
  return { foldAccuracies, mean, std, confusion, folds, fits, ...(model ? { model } : {}) };
}
