// Multinomial logistic regression for linear probes: L-BFGS in TypeScript, the objective's matrix
// products in ONNX Runtime (./softmaxKernel.ts).
//
// Objective (the same minimiser as scikit-learn's LogisticRegression(C, solver='lbfgs'), multinomial):
//
//   C * sum_i CE(softmax(W x_i + b), y_i) + 0.5 * ||W||_F^2          (the bias is not penalised)
//
// The solver works on that objective divided by C*N (same minimiser, O(1) values and gradients
// whatever N is), with L-BFGS and a strong-Wolfe line search. One objective evaluation is two
// float64 matrix products over the fit's rows (logits, then gradient).
//
// Conditioning: the solver always works on centred, scaled (and, for correlated features of
// moderate H, decorrelated) coordinates, since hidden-state features differ in scale by orders of magnitude and L-BFGS
// then needs hundreds of iterations; the objective, hence the optimum, is unchanged. Memory: one
// float64 copy of the fit's rows, centred and scaled.
// Optional standardisation changes the objective instead (the penalty applies to the weights of
// standardised features, as with StandardScaler before scikit-learn). The returned model is in raw
// space either way, so a consumer adds N * weight[target] to a hidden state directly.
//
// Layout: X [N, H] row-major (Float32Array), weight [C, H] row-major, bias [C].

import { momentsOf, type Moments } from './featureMoments.js';
import { SoftmaxKernel } from './softmaxKernel.js';

export interface LogRegOptions {
  /** Inverse L2 strength, as in scikit-learn. Default 1. */
  C?: number;
  /** Fit on per-feature standardised features (training mean, population std; std 0 -> 1). Default false. */
  standardize?: boolean;
  /** L-BFGS iterations at most. Default 1000. */
  maxIter?: number;
  /**
   * Converged when the largest gradient component of objective / (C*N), in the solver's conditioned
   * coordinates, is at most tol, or the objective stops decreasing (relative change < 1e-12).
   * Default 1e-5 (1e-4 stopped early enough to move CV accuracy by points on N < H problems).
   */
  tol?: number;
  /** L-BFGS memory (pairs kept). Default 10. */
  memory?: number;
  /**
   * Start from this model instead of zero (same dim and classes), e.g. the fit on all data when
   * fitting cross-validation folds: the optimum is the same (the objective is convex), only the
   * number of iterations drops.
   */
  init?: LogRegModel;
  /**
   * How the solver conditions the problem (the optimum is the same either way): 'diagonal' centres
   * and scales each feature; 'whiten' also decorrelates features with a Cholesky factor of their
   * covariance, which costs about H/(4C) objective evaluations to set up and saves many iterations
   * on correlated features such as hidden states. 'auto' (default) whitens when H <= 60 * classes
   * and the features are correlated: the top eigenvalue of their correlation matrix is over
   * WHITEN_SPREAD times the mean one (hidden states of persona-tiny: L-BFGS iterations drop ~10x;
   * independent features: whitening costs time and saves none).
   */
  precondition?: 'diagonal' | 'whiten' | 'auto';
}

/** What prediction needs: any [C, H] weight and [C] bias (a fitted model, or one layer of a probe file). */
export type LinearClassifier = Pick<LogRegModel, 'numClasses' | 'dim' | 'weight' | 'bias'>;

export type StopReason = 'gradient' | 'no-progress' | 'max-iterations' | 'line-search';

export interface LogRegModel {
  numClasses: number;
  dim: number;
  /** [C, H] in raw feature space (standardisation folded in). */
  weight: Float32Array;
  /** [C]. A class with no training samples has bias -Infinity (probability 0) and a zero weight row. */
  bias: Float32Array;
  /** The standardisation the fit used, when it used one (already folded into weight and bias). */
  standardization?: { mean: Float32Array; scale: Float32Array };
  /** Classes that had no training samples. */
  emptyClasses: number[];
  iterations: number;
  /** Objective evaluations (passes over the data), line searches included. */
  evaluations: number;
  converged: boolean;
  stopReason: StopReason;
  /** How the solver conditioned the problem ('auto' resolved): folds started from this model reuse it. */
  preconditioning: 'diagonal' | 'whiten';
  /** Mean training cross-entropy at the solution. */
  loss: number;
  /** C * sum CE + 0.5 ||W||^2 at the solution (W in the space the fit was penalised in). */
  objective: number;
  /** Largest gradient component of objective / (C*N) at the solution (conditioned coordinates). */
  gradientMax: number;
}

const DEFAULTS = { C: 1, maxIter: 1000, tol: 1e-5, memory: 10 } as const;
/** Relative objective decrease below which further iterations only chase rounding. */
const FTOL = 1e-12;

/** Fits on all rows of X. X is [N, dim] row-major with N = y.length. */
export async function fitLogisticRegression(X: Float32Array, y: Int32Array, numClasses: number, opts: LogRegOptions = {}): Promise<LogRegModel> {
  const dim = checkData(X, y, numClasses, 'fitLogisticRegression');
  return fitRows(X, dim, y, numClasses, null, opts);
}

/** What cross-validation hands each of its fits besides the options. */
export interface FitContext {
  /** Reused for the fit's float64 rows when at least rows * dim long (one buffer for all folds). */
  scratch?: Float64Array;
  /**
   * The solver's curvature estimate, in and out: pairs of a fit on nearly the same rows (a
   * cross-validation fold's objective has nearly the Hessian of the fit on all rows) seed this
   * fit's L-BFGS memory, and the pairs this fit ends with are left here. Only the path to the
   * optimum changes, not the optimum or the stopping rule; pairs of another size are ignored.
   */
  curvature?: Curvature;
  /** The feature moments of exactly these rows, when known (else read from X). */
  moments?: Moments;
}

/**
 * Fits on the rows listed in `rows` (indices into X and y; X itself is not sliced): what
 * cross-validation uses. `rows === null` means all rows. Inputs are assumed validated.
 */
export async function fitRows(
  X: Float32Array,
  dim: number,
  y: Int32Array,
  numClasses: number,
  rows: Int32Array | null,
  opts: LogRegOptions = {},
  { scratch, curvature, moments }: FitContext = {},
): Promise<LogRegModel> {
  const C = opts.C ?? DEFAULTS.C;
  const maxIter = opts.maxIter ?? DEFAULTS.maxIter;
  const tol = opts.tol ?? DEFAULTS.tol;
  const memory = opts.memory ?? DEFAULTS.memory;
  if (!(C > 0) || !Number.isFinite(C)) throw new Error(`logistic regression: C must be a positive number, got ${opts.C}`);
  if (!Number.isInteger(maxIter) || maxIter < 0) throw new Error(`logistic regression: maxIter must be an integer >= 0, got ${opts.maxIter}`);
  if (!(tol > 0)) throw new Error(`logistic regression: tol must be > 0, got ${opts.tol}`);
  if (!Number.isInteger(memory) || memory < 1) throw new Error(`logistic regression: memory must be an integer >= 1, got ${opts.memory}`);
  const H = dim;
  const n = rows ? rows.length : y.length;
  if (n === 0) throw new Error('logistic regression: no training rows');

  // Classes without samples are left out of the fit: the objective's infimum has their bias at
  // -Infinity and their weights at 0 (see emptyClasses), which we set directly afterwards.
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < n; i++) counts[y[rows ? rows[i]! : i]!]!++;
  const present: number[] = [];
  for (let c = 0; c < numClasses; c++) if (counts[c]! > 0) present.push(c);
  if (present.length < 2)
    throw new Error(`logistic regression: need samples of at least two classes, got only class ${present.join(', ')} among ${n} rows`);
  const K = present.length;
  const local = new Int32Array(numClasses).fill(-1);
  present.forEach((c, k) => (local[c] = k));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = local[y[rows ? rows[i]! : i]!]!;

  if (moments && (moments.n !== n || moments.mean.length !== H)) throw new Error(`logistic regression: moments of ${moments.n} rows x ${moments.mean.length} features for a fit on ${n} x ${H}`);
  const stats = featureStats(moments ?? momentsOf(X, H, rows));
  const std = opts.standardize ? stats : null;
  const precondition = opts.precondition ?? 'auto';
  if (!['diagonal', 'whiten', 'auto'].includes(precondition)) throw new Error(`logistic regression: precondition must be diagonal, whiten or auto, got ${precondition}`);
  const whiten = precondition === 'whiten' ? 'always' : precondition === 'auto' && H <= 60 * K ? 'if-correlated' : 'never';
  const problem = await Problem.create(X, H, labels, rows, K, C, stats, std !== null, whiten, scratch);
  let theta0: Float64Array | undefined;
  if (opts.init) {
    const m0 = opts.init;
    if (m0.dim !== H || m0.numClasses !== numClasses)
      throw new Error(`logistic regression: init model is ${m0.numClasses} classes x ${m0.dim} features, the data ${numClasses} x ${H}`);
    theta0 = problem.fromRaw(present.map((c) => m0.weight.subarray(c * H, (c + 1) * H)), present.map((c) => m0.bias[c]!));
  }
  const result = await lbfgs(problem, maxIter, tol, memory, theta0, curvature?.pairs.filter((p) => p.s.length === problem.size));
  if (curvature) curvature.pairs = result.pairs;

  // Fold standardisation into raw-space weights and restore the full class list.
  problem.rawWeights(result.theta);
  const weight = new Float32Array(numClasses * H);
  const bias = new Float32Array(numClasses).fill(-Infinity);
  for (let k = 0; k < K; k++) {
    const c = present[k]!;
    for (let h = 0; h < H; h++) weight[c * H + h] = problem.wRaw[k * H + h]!;
    bias[c] = problem.bRaw[k]!;
  }
  const meanCE = result.f - problem.penalty(result.theta) / (2 * C * n);
  return {
    numClasses,
    dim: H,
    weight,
    bias,
    standardization: std ? { mean: Float32Array.from(std.mean), scale: Float32Array.from(std.scale) } : undefined,
    emptyClasses: [...Array(numClasses).keys()].filter((c) => counts[c] === 0),
    iterations: result.iterations,
    evaluations: result.evaluations,
    converged: result.reason === 'gradient' || result.reason === 'no-progress',
    stopReason: result.reason,
    preconditioning: problem.whitened ? 'whiten' : 'diagonal',
    loss: meanCE,
    objective: result.f * C * n,
    gradientMax: result.gmax,
  };
}

/** An L-BFGS memory carried from one fit to the next (see fitRows). */
export interface Curvature {
  /** Oldest first. */
  pairs: CurvaturePair[];
}

export interface CurvaturePair {
  /** Step taken, in the solver's coordinates. */
  s: Float64Array;
  /** Change of the gradient over it. */
  y: Float64Array;
}

/** Class probabilities [N, C] for X [N, dim]. */
export function predictProba(m: LinearClassifier, X: Float32Array, rows: Int32Array | null = null): Float32Array {
  const H = m.dim;
  const Cn = m.numClasses;
  if (X.length % H !== 0) throw new Error(`predictProba: X has ${X.length} values, not a multiple of the model's dim ${H}`);
  const n = rows ? rows.length : X.length / H;
  const out = new Float32Array(n * Cn);
  const z = new Float64Array(Cn);
  for (let i = 0; i < n; i++) {
    const off = (rows ? rows[i]! : i) * H;
    let max = -Infinity;
    for (let c = 0; c < Cn; c++) {
      let s = m.bias[c]!;
      if (s !== -Infinity) {
        const w = c * H;
        for (let h = 0; h < H; h++) s += m.weight[w + h]! * X[off + h]!;
      }
      z[c] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let c = 0; c < Cn; c++) sum += (z[c] = Math.exp(z[c]! - max));
    for (let c = 0; c < Cn; c++) out[i * Cn + c] = z[c]! / sum;
  }
  return out;
}

/** Most likely class per row (ties: lower class index). */
export function predictClasses(m: LinearClassifier, X: Float32Array, rows: Int32Array | null = null): Int32Array {
  const p = predictProba(m, X, rows);
  const Cn = m.numClasses;
  const out = new Int32Array(p.length / Cn);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < Cn; c++) if (p[i * Cn + c]! > p[i * Cn + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** Checks shapes, labels and finiteness; returns dim. `who` names the caller in messages. */
export function checkData(X: Float32Array, y: Int32Array, numClasses: number, who: string): number {
  if (!(X instanceof Float32Array)) throw new Error(`${who}: X must be a Float32Array`);
  if (!(y instanceof Int32Array)) throw new Error(`${who}: y must be an Int32Array`);
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new Error(`${who}: numClasses must be an integer >= 2, got ${numClasses}`);
  const n = y.length;
  if (n === 0) throw new Error(`${who}: no samples (y is empty)`);
  if (X.length === 0 || X.length % n !== 0)
    throw new Error(`${who}: X has ${X.length} values, not a positive multiple of the ${n} labels (expected [N, dim] row-major)`);
  const dim = X.length / n;
  for (let i = 0; i < n; i++) {
    const c = y[i]!;
    if (c < 0 || c >= numClasses) throw new Error(`${who}: label ${c} of sample ${i} is outside 0..${numClasses - 1}`);
  }
  for (let j = 0; j < X.length; j++)
    if (!Number.isFinite(X[j]!)) throw new Error(`${who}: X[${Math.floor(j / dim)}, ${j % dim}] is ${X[j]} (features must be finite)`);
  return dim;
}

interface FeatureStats {
  mean: Float64Array;
  /** Population variance. */
  variance: Float64Array;
  /** Population std, 0 -> 1. */
  scale: Float64Array;
}

/** Per-feature mean and population std from the rows' moments; std 0 -> 1. */
function featureStats({ n, mean, m2 }: Moments): FeatureStats {
  const variance = new Float64Array(mean.length);
  const scale = new Float64Array(mean.length);
  for (let h = 0; h < mean.length; h++) {
    variance[h] = m2[h]! / n;
    const s = Math.sqrt(variance[h]!);
    // Constant features carry nothing; scale 1 keeps them harmless (scikit-learn's StandardScaler does the same).
    scale[h] = s > 0 && Number.isFinite(s) ? s : 1;
  }
  return { mean, variance, scale };
}

/**
 * The scaled objective f(theta) = (1/N) sum_i CE_i + penalty / (2 C N) with theta = [V (K*H), c (K)].
 * The solver never sees raw weights: the features are centred and scaled once per fit,
 * u = (x - mean) * t (float64, the fit's one copy of its rows), the logits are A u + c with
 * A = V L^-T (A = V without whitening), and the raw-space model is W_raw[k,h] = A[k,h] * t[h],
 * b_raw = c - W_raw . mean. With standardisation t = 1/std and the penalty is ||A||^2 (the
 * standardised-space weights); without, t = 1/sqrt(var + 1/(C N)) and the penalty is
 * ||A t||^2 = ||W_raw||^2, so the minimiser is the raw-space one and only the conditioning changes
 * (L-BFGS needs far fewer iterations when feature scales differ by orders of magnitude, as
 * hidden-state dimensions do). The two products per evaluation run in ./softmaxKernel.ts.
 */
class Problem {
  readonly size: number;
  readonly wRaw: Float64Array;
  readonly bRaw: Float64Array;
  /** Raw weight per unit of A, per feature. */
  private readonly t: Float64Array;
  /** Penalty weight of A[k,h]^2, per feature. */
  private readonly penaltyWeight: Float64Array;
  /** Lower Cholesky factor L [H, H] of the scaled features' covariance, or null (no whitening). */
  private chol: Float64Array | null = null;
  /** Its transpose (row-major, so both triangular solves read memory in order). */
  private cholT: Float64Array | null = null;
  /** Scaled-space weights A = V L^-1 (A = V without whitening), [K, H]. */
  private readonly a: Float64Array;
  private readonly c: Float64Array;
  private kernel!: SoftmaxKernel;

  private constructor(
    private readonly H: number,
    private readonly n: number,
    private readonly K: number,
    private readonly C: number,
    private readonly stats: FeatureStats,
    standardize: boolean,
  ) {
    this.size = K * H + K;
    this.wRaw = new Float64Array(K * H);
    this.bRaw = new Float64Array(K);
    this.t = new Float64Array(H);
    this.penaltyWeight = new Float64Array(H);
    for (let h = 0; h < H; h++) {
      if (standardize) {
        this.t[h] = 1 / stats.scale[h]!;
        this.penaltyWeight[h] = 1;
      } else {
        const t = 1 / Math.sqrt(stats.variance[h]! + 1 / (C * n));
        this.t[h] = t;
        this.penaltyWeight[h] = t * t;
      }
    }
    this.a = new Float64Array(K * H);
    this.c = new Float64Array(K);
  }

  static async create(
    X: Float32Array,
    H: number,
    labels: Int32Array,
    rows: Int32Array | null,
    K: number,
    C: number,
    stats: FeatureStats,
    standardize: boolean,
    whiten: 'always' | 'if-correlated' | 'never',
    scratch?: Float64Array,
  ): Promise<Problem> {
    const n = labels.length;
    const p = new Problem(H, n, K, C, stats, standardize);
    const U = scratch && scratch.length >= n * H ? scratch.subarray(0, n * H) : new Float64Array(n * H);
    const { mean } = stats;
    const { t } = p;
    for (let i = 0; i < n; i++) {
      const off = (rows ? rows[i]! : i) * H;
      const o = i * H;
      for (let h = 0; h < H; h++) U[o + h] = (X[off + h]! - mean[h]!) * t[h]!;
    }
    p.kernel = await SoftmaxKernel.create(U, labels, K);
    const gram = whiten === 'never' ? null : await p.kernel.gram();
    if (gram && (whiten === 'always' || correlationSpread(gram, H) > WHITEN_SPREAD)) {
      const L = (p.chol = p.covarianceFactor(gram));
      const LT = (p.cholT = new Float64Array(H * H));
      for (let r = 0; r < H; r++) for (let q = 0; q <= r; q++) LT[q * H + r] = L[r * H + q]!;
    }
    return p;
  }

  /**
   * Cholesky factor of cov(u) + 4 diag(penaltyWeight) / (C N), from the Gram matrix UᵀU: the
   * Hessian in A is about 0.25 cov(u) (softmax curvature is at most 1/4) plus the penalty's
   * diag(penaltyWeight) / (C N).
   */
  private covarianceFactor(S: Float64Array): Float64Array {
    const { H, n } = this;
    const eps = 4 / (this.C * n);
    for (let p = 0; p < H; p++) {
      for (let q = 0; q <= p; q++) S[p * H + q] /= n;
      S[p * H + p] += eps * this.penaltyWeight[p]! + 1e-12;
    }
    // In-place Cholesky, lower triangle.
    for (let p = 0; p < H; p++) {
      for (let q = 0; q <= p; q++) {
        let v = S[p * H + q]!;
        for (let j = 0; j < q; j++) v -= S[p * H + j]! * S[q * H + j]!;
        if (p === q) S[p * H + p] = Math.sqrt(Math.max(v, 1e-300));
        else S[p * H + q] = v / S[q * H + q]!;
      }
      for (let q = p + 1; q < H; q++) S[p * H + q] = 0;
    }
    return S;
  }

  /** this.a = theta's weights mapped to the scaled space: solves L^T a_k = v_k per class. */
  private scaledWeights(theta: Float64Array): Float64Array {
    const { H, K, cholT: LT, a } = this;
    if (!LT) {
      a.set(theta.subarray(0, K * H));
      return a;
    }
    for (let k = 0; k < K; k++) {
      const o = k * H;
      for (let h = H - 1; h >= 0; h--) {
        const row = h * H;
        let v = theta[o + h]!;
        for (let j = h + 1; j < H; j++) v -= LT[row + j]! * a[o + j]!;
        a[o + h] = v / LT[row + h]!;
      }
    }
    return a;
  }

  /** Sets wRaw, bRaw to the raw-space equivalent of theta. */
  rawWeights(theta: Float64Array): void {
    const { H, K, t, stats, wRaw, bRaw } = this;
    const a = this.scaledWeights(theta);
    for (let k = 0; k < K; k++) {
      let b = theta[K * H + k]!;
      for (let h = 0; h < H; h++) {
        const wr = a[k * H + h]! * t[h]!;
        wRaw[k * H + h] = wr;
        b -= wr * stats.mean[h]!;
      }
      bRaw[k] = b;
    }
  }

  /** theta for raw-space weight rows and biases (inverse of rawWeights); non-finite biases start at 0. */
  fromRaw(weights: Float32Array[], biases: number[]): Float64Array {
    const { H, K, t, stats, chol: L } = this;
    const theta = new Float64Array(this.size);
    for (let k = 0; k < K; k++) {
      let b = Number.isFinite(biases[k]!) ? biases[k]! : 0;
      for (let h = 0; h < H; h++) {
        const w = weights[k]![h]!;
        theta[k * H + h] = w / t[h]!;
        b += w * stats.mean[h]!;
      }
      theta[K * H + k] = b;
      if (L) {
        // v = L^T a
        const o = k * H;
        for (let h = 0; h < H; h++) {
          let v = 0;
          for (let j = h; j < H; j++) v += L[j * H + h]! * theta[o + j]!;
          theta[o + h] = v;
        }
      }
    }
    return theta;
  }

  /** Penalty of theta's weights, sum_kh penaltyWeight[h] A[k,h]^2. */
  get whitened(): boolean {
    return this.chol !== null;
  }

  penalty(theta: Float64Array): number {
    const a = this.scaledWeights(theta);
    let p = 0;
    for (let k = 0; k < this.K; k++) for (let h = 0; h < this.H; h++) p += this.penaltyWeight[h]! * a[k * this.H + h]! ** 2;
    return p;
  }

  /** Returns f(theta) and writes its gradient into grad. */
  async evaluate(theta: Float64Array, grad: Float64Array): Promise<number> {
    const { H, K, n, c, penaltyWeight, chol: L } = this;
    const a = this.scaledWeights(theta);
    for (let k = 0; k < K; k++) c[k] = theta[K * H + k]!;
    const { ce, gradient, residualSum } = await this.kernel.evaluate(a, c);
    // dA = Rᵀ U / n + penalty term; then to V: dV = L^-1 dA.
    const invN = 1 / n;
    const reg = 1 / (this.C * n);
    let penalty = 0;
    for (let k = 0; k < K; k++) {
      for (let h = 0; h < H; h++) {
        const j = k * H + h;
        const v = a[j]!;
        const pw = penaltyWeight[h]!;
        penalty += pw * v * v;
        grad[j] = gradient[j]! * invN + reg * pw * v;
      }
      grad[K * H + k] = residualSum[k]! * invN;
      if (L) {
        const o = k * H;
        for (let h = 0; h < H; h++) {
          const row = h * H;
          let v = grad[o + h]!;
          for (let j = 0; j < h; j++) v -= L[row + j]! * grad[o + j]!;
          grad[o + h] = v / L[row + h]!;
        }
      }
    }
    return ce * invN + 0.5 * reg * penalty;
  }
}

/** Whiten when the correlation matrix's top eigenvalue exceeds this many times the mean one. */
const WHITEN_SPREAD = 10;

/**
 * Top eigenvalue of the correlation matrix of Gram matrix S [H, H] (lower triangle read), over the
 * mean eigenvalue (1): about (1 + sqrt(H/N))^2 for independent features, far more when a few
 * directions carry most of the variance. Power iteration from the all-ones vector.
 */
function correlationSpread(S: Float64Array, H: number): number {
  const d = new Float64Array(H);
  for (let p = 0; p < H; p++) d[p] = S[p * H + p]! > 0 ? 1 / Math.sqrt(S[p * H + p]!) : 0;
  let v = new Float64Array(H).fill(1 / Math.sqrt(H));
  let w = new Float64Array(H);
  let lambda = 0;
  for (let it = 0; it < 30; it++) {
    w.fill(0);
    for (let p = 0; p < H; p++) {
      const row = p * H;
      let acc = 0;
      for (let q = 0; q < p; q++) {
        const c = S[row + q]! * d[p]! * d[q]!;
        acc += c * v[q]!;
        w[q] += c * v[p]!;
      }
      w[p] += acc + (d[p]! > 0 ? v[p]! : 0);
    }
    let norm = 0;
    for (let p = 0; p < H; p++) norm += w[p]! * w[p]!;
    norm = Math.sqrt(norm);
    if (!(norm > 0)) return 0;
    const prev = lambda;
    lambda = norm;
    for (let p = 0; p < H; p++) w[p] /= norm;
    [v, w] = [w, v];
    if (Math.abs(lambda - prev) <= 1e-3 * lambda) break;
  }
  return lambda;
}

interface LbfgsResult {
  theta: Float64Array;
  f: number;
  gmax: number;
  iterations: number;
  evaluations: number;
  reason: StopReason;
  /** The stored curvature pairs, oldest first. */
  pairs: CurvaturePair[];
}

const maxAbs = (v: Float64Array) => {
  let m = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]!);
    if (a > m) m = a;
  }
  return m;
};
const dotp = (a: Float64Array, b: Float64Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

/**
 * L-BFGS (two-loop recursion) from theta0 (default 0) with a strong-Wolfe line search; `pairs0`
 * (oldest first) seeds its memory, e.g. with the curvature of a fit on a superset of the rows.
 */
async function lbfgs(problem: Problem, maxIter: number, tol: number, m: number, theta0?: Float64Array, pairs0: CurvaturePair[] = []): Promise<LbfgsResult> {
  const d = problem.size;
  let x: Float64Array = theta0 ?? new Float64Array(d);
  let g: Float64Array = new Float64Array(d);
  let xNew: Float64Array = new Float64Array(d);
  let gNew: Float64Array = new Float64Array(d);
  const dir = new Float64Array(d);
  const S = Array.from({ length: m }, () => new Float64Array(d));
  const Y = Array.from({ length: m }, () => new Float64Array(d));
  const rho = new Float64Array(m);
  const alpha = new Float64Array(m);
  let stored = 0;
  let head = 0; // next slot to overwrite
  // A pair keeps the inverse Hessian positive definite only when s'y is safely positive.
  const curvatureOk = (s: Float64Array, y: Float64Array, sy: number) => sy > 1e-12 * Math.sqrt(dotp(y, y) * dotp(s, s));
  for (const p of pairs0.filter((p) => curvatureOk(p.s, p.y, dotp(p.s, p.y))).slice(-m)) {
    S[head]!.set(p.s);
    Y[head]!.set(p.y);
    rho[head] = 1 / dotp(p.s, p.y);
    head = (head + 1) % m;
    stored++;
  }
  // The next pair is built here and swapped into the ring only when accepted, so a rejected one
  // never overwrites the oldest pair still in use.
  let sNext = new Float64Array(d);
  let yNext = new Float64Array(d);
  // The pairs in use, oldest first (this call's own buffers: nothing writes them after it returns).
  const pairs = (): CurvaturePair[] =>
    Array.from({ length: stored }, (_, t) => {
      const k = (head - stored + t + m) % m;
      return { s: S[k]!, y: Y[k]! };
    });

  let f = await problem.evaluate(x, g);
  let evaluations = 1;
  let gmax = maxAbs(g);
  let iterations = 0;
  let reason: StopReason = 'max-iterations';
  if (gmax <= tol) return { theta: x, f, gmax, iterations, evaluations, reason: 'gradient', pairs: pairs() };

  // One evaluation at x + a*dir, kept in xNew/gNew.
  const at = async (a: number): Promise<[number, number]> => {
    for (let j = 0; j < d; j++) xNew[j] = x[j]! + a * dir[j]!;
    const fa = await problem.evaluate(xNew, gNew);
    evaluations++;
    return [fa, dotp(gNew, dir)];
  };

  while (iterations < maxIter) {
    // Two-loop recursion: dir = -H g.
    for (let j = 0; j < d; j++) dir[j] = -g[j]!;
    for (let t = 0; t < stored; t++) {
      const s = (head - 1 - t + m) % m;
      alpha[s] = rho[s]! * dotp(S[s]!, dir);
      const ys = Y[s]!;
      const a = alpha[s]!;
      for (let j = 0; j < d; j++) dir[j] -= a * ys[j]!;
    }
    if (stored > 0) {
      const last = (head - 1 + m) % m;
      const gamma = dotp(S[last]!, Y[last]!) / dotp(Y[last]!, Y[last]!);
      for (let j = 0; j < d; j++) dir[j] *= gamma;
    }
    for (let t = stored - 1; t >= 0; t--) {
      const s = (head - 1 - t + m) % m;
      const beta = rho[s]! * dotp(Y[s]!, dir);
      const ss = S[s]!;
      const coef = alpha[s]! - beta;
      for (let j = 0; j < d; j++) dir[j] += coef * ss[j]!;
    }
    let slope = dotp(g, dir);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information gone stale): restart from steepest descent.
      stored = 0;
      for (let j = 0; j < d; j++) dir[j] = -g[j]!;
      slope = dotp(g, dir);
    }
    // First step: a unit step along -g can be far too long; scale it to length 1.
    const a0 = stored === 0 ? Math.min(1, 1 / Math.sqrt(-slope)) : 1;
    const step = await wolfeSearch(at, f, slope, a0);
    if (step === null) {
      reason = 'line-search';
      break;
    }
    iterations++;
    const fNew = step;
    // Curvature pair; skipped when s'y is not safely positive.
    for (let j = 0; j < d; j++) {
      sNext[j] = xNew[j]! - x[j]!;
      yNext[j] = gNew[j]! - g[j]!;
    }
    const sy = dotp(sNext, yNext);
    if (curvatureOk(sNext, yNext, sy)) {
      [S[head], sNext] = [sNext, S[head]!];
      [Y[head], yNext] = [yNext, Y[head]!];
      rho[head] = 1 / sy;
      head = (head + 1) % m;
      stored = Math.min(stored + 1, m);
    }
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    const fOld = f;
    f = fNew;
    gmax = maxAbs(g);
    if (gmax <= tol) {
      reason = 'gradient';
      break;
    }
    if ((fOld - f) / Math.max(Math.abs(fOld), Math.abs(f), 1) <= FTOL) {
      reason = 'no-progress';
      break;
    }
  }
  return { theta: x, f, gmax, iterations, evaluations, reason, pairs: pairs() };
}

/**
 * Strong-Wolfe line search (Nocedal & Wright, algorithms 3.5 and 3.6, cubic interpolation with
 * bisection as a safeguard). `at(a)` evaluates phi(a) and phi'(a) and leaves that point's state
 * behind, so on success the caller's xNew/gNew hold the accepted point. Returns phi(a) or null.
 */
async function wolfeSearch(at: (a: number) => Promise<[number, number]>, f0: number, slope0: number, a1: number): Promise<number | null> {
  const c1 = 1e-4;
  const c2 = 0.9;
  const sufficient = (a: number, fa: number) => fa <= f0 + c1 * a * slope0;
  const curvature = (da: number) => Math.abs(da) <= -c2 * slope0;

  let aPrev = 0;
  let fPrev = f0;
  let dPrev = slope0;
  let a = a1;
  for (let it = 0; it < 30; it++) {
    const [fa, da] = await at(a);
    if (!Number.isFinite(fa) || !sufficient(a, fa) || (it > 0 && fa >= fPrev)) return zoom(aPrev, fPrev, dPrev, a, fa, da);
    if (curvature(da)) return fa;
    if (da >= 0) return zoom(a, fa, da, aPrev, fPrev, dPrev);
    aPrev = a;
    fPrev = fa;
    dPrev = da;
    a *= 2;
  }
  return null;

  async function zoom(lo: number, flo: number, dlo: number, hi: number, fhi: number, dhi: number): Promise<number | null> {
    for (let j = 0; j < 40; j++) {
      const w = Math.abs(hi - lo);
      let a = cubicMin(lo, flo, dlo, hi, fhi, dhi);
      const left = Math.min(lo, hi);
      if (!Number.isFinite(a) || a < left + 0.1 * w || a > left + 0.9 * w) a = (lo + hi) / 2;
      const [fa, da] = await at(a);
      if (!Number.isFinite(fa) || !sufficient(a, fa) || fa >= flo) {
        hi = a;
        fhi = fa;
        dhi = da;
      } else {
        if (curvature(da)) return fa;
        if (da * (hi - lo) >= 0) {
          hi = lo;
          fhi = flo;
          dhi = dlo;
        }
        lo = a;
        flo = fa;
        dlo = da;
      }
      if (w < 1e-16 * Math.max(1, Math.abs(lo))) break;
    }
    // No point met both conditions; accept lo when it decreased the objective (Armijo holds there).
    if (lo > 0 && flo < f0) return (await at(lo))[0];
    return null;
  }
}

/** Minimiser of the cubic through (a, fa, da) and (b, fb, db); NaN when it has none. */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  if (!Number.isFinite(fb) || !Number.isFinite(db)) return NaN;
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (disc < 0) return NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  return b - ((b - a) * (db + d2 - d1)) / (db - da + 2 * d2);
}
