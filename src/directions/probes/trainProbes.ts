// One probe per layer: stratified k-fold cross-validated accuracy (mean, spread, confusion matrix)
// to say where the attribute is readable, then a refit on all rows that becomes the probe file.

import type { ActivationStore } from '../../activations/store.js';
import { crossValidate } from './crossValidation.js';
import type { LogRegOptions } from './logisticRegression.js';

export interface ProbeTrainOptions extends LogRegOptions {
  /** Folds (default 5). */
  k?: number;
  /** Fold assignment seed (default 0). */
  seed?: number;
  /** Default: every layer in the store. */
  layers?: number[];
  /** Store rows to train on (labels[i] belongs to rows[i]); default every row in order. */
  rows?: Int32Array;
  onLayer?: (layer: number, result: LayerProbe) => void;
}

export interface LayerProbe {
  layer: number;
  cv: { foldAccuracies: number[]; mean: number; std: number; confusion: number[][] };
  /** Refit on all rows, raw hidden-state space: [C, H] and [C]. */
  weight: Float32Array;
  bias: Float32Array;
  /** Class means of the training rows: [C, H] (what centroid interventions push along). */
  centroids: Float32Array;
  iterations: number;
  converged: boolean;
}

/** `labels[i]` = class index of store row i (or of store row opts.rows[i]). */
export async function trainLayerProbes(store: ActivationStore, labels: Int32Array, numClasses: number, opts: ProbeTrainOptions = {}): Promise<LayerProbe[]> {
  const n = opts.rows?.length ?? store.rows;
  if (labels.length !== n) throw new Error(`${store.dir}: ${n} rows of activations for ${labels.length} labels`);
  if (opts.rows?.some((r) => r < 0 || r >= store.rows)) throw new Error(`${store.dir}: row index out of range 0..${store.rows - 1}`);
  const k = opts.k ?? 5;
  const seed = opts.seed ?? 0;
  const fit = { C: opts.C, standardize: opts.standardize, maxIter: opts.maxIter, tol: opts.tol };
  const out: LayerProbe[] = [];
  for (const layer of opts.layers ?? store.layers) {
    // One layer in memory at a time: [N, H].
    const X = opts.rows ? gatherRows(store.readLayer(layer), store.hiddenSize, opts.rows) : store.readLayer(layer);
    // The fit on all rows first; the folds start from it (the same optima, as the objective is
    // convex, in fewer iterations).
    const cv = await crossValidate(X, labels, numClasses, { k, seed, ...fit, refit: true });
    const m = cv.model!;
    const result: LayerProbe = {
      layer,
      cv: { foldAccuracies: cv.foldAccuracies, mean: cv.mean, std: cv.std, confusion: cv.confusion },
      weight: m.weight,
      bias: m.bias,
      centroids: classMeans(X, labels, numClasses, store.hiddenSize),
      iterations: m.iterations,
      converged: m.converged,
    };
    opts.onLayer?.(layer, result);
    out.push(result);
  }
  return out;
}

function gatherRows(X: Float32Array, H: number, rows: Int32Array): Float32Array {
  const out = new Float32Array(rows.length * H);
  rows.forEach((r, i) => out.set(X.subarray(r * H, (r + 1) * H), i * H));
  return out;
}

function classMeans(X: Float32Array, labels: Int32Array, C: number, H: number): Float32Array {
  const sum = new Float64Array(C * H);
  const n = new Float64Array(C);
  labels.forEach((y, i) => {
    n[y]!++;
    for (let h = 0; h < H; h++) sum[y * H + h]! += X[i * H + h]!;
  });
  return Float32Array.from(sum, (v, j) => v / Math.max(1, n[Math.floor(j / H)]!));
}
