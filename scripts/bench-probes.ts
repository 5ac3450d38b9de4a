// Probe fits vs scikit-learn, side by side in one run: for each feature set, 5-fold stratified CV
// accuracy (the same folds on both sides) and a fit on all data, timed on both sides, plus the
// largest difference of the full fit's predicted probabilities. scikit-learn runs as a process
// answering one timed repetition per request, and the two sides' repetitions alternate (5 pairs),
// so that the minutes-long drift of a shared 2-core machine falls on both; the time ratio is the
// median of the pairs' ratios. Goal: accuracy within 1 point of scikit-learn's
// LogisticRegression(lbfgs, same C), in less time.
//
//   npx tsx scripts/bench-probes.ts [--quick]      (also called by scripts/bench.ts)
//
// Feature sets: Gaussian class clusters with uneven feature scales (H = 160 and 1024), and hidden
// states of models/persona-tiny read at the last token of " I think the age of this user is".
// scikit-learn runs in /usr/bin/python3 (or python3); without it the bench says so and skips.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRng } from '../src/generation/sampling.js';
import { crossValidate, stratifiedFolds, type CrossValidationResult } from '../src/directions/probes/crossValidation.js';
import { predictProba, type LogRegModel } from '../src/directions/probes/logisticRegression.js';
import { progress } from '../src/cli/util.js';
import { JsonLineProcess } from './bench-process.js';
import { inTurn, median } from './bench-pairs.js';

interface FeatureSet {
  name: string;
  X: Float32Array;
  y: Int32Array;
  numClasses: number;
  standardize: boolean;
}

const C = 1;
const K_FOLDS = 5;
const MAX_ITER = 1000;
/** Interleaved timing pairs per feature set. */
const PAIRS = 5;

function log(msg: string) {
  process.stderr.write(msg + '\n');
}

/** A python3 that imports scikit-learn, or the reason there is none. */
function findPython(): { python: string } | { skipped: string } {
  const tried: string[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
    if (python.startsWith('/') && !existsSync(python)) {
      tried.push(`${python}: not found`);
      continue;
    }
    const r = spawnSync(python, ['-c', 'import sklearn, numpy; print(sklearn.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python };
    tried.push(`${python}: ${(r.stderr || r.error?.message || 'failed').trim().split('\n').pop()}`);
  }
  return { skipped: `no python3 with scikit-learn (${tried.join('; ')})` };
}

/**
 * Gaussian clusters: class means at random directions, isotropic noise, then each feature scaled
 * by a factor in [0.05, 20] and shifted, as hidden states are (standardisation matters there).
 */
function gaussianClusters(name: string, n: number, H: number, numClasses: number, separation: number, standardize: boolean, seed: number): FeatureSet {
  const rng = createRng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const means = Array.from({ length: numClasses }, () => Float64Array.from({ length: H }, () => (gauss() * separation) / Math.sqrt(H)));
  const scale = Float64Array.from({ length: H }, () => 0.05 * 400 ** rng());
  const shift = Float64Array.from({ length: H }, () => 3 * gauss());
  const X = new Float32Array(n * H);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % numClasses;
    y[i] = c;
    for (let h = 0; h < H; h++) X[i * H + h] = (means[c]![h]! + gauss()) * scale[h]! + shift[h]!;
  }
  return { name, X, y, numClasses, standardize };
}

/** Last-token hidden states of persona-tiny on world conversations, labelled by age (neutral included). */
async function tinyModelAge(n: number, layers: number[]): Promise<FeatureSet[]> {
  const { loadModel, extractActivations } = await import('../src/index.js');
  const { generateConversation } = await import('../src/world/conversation.js');
  const { ATTRIBUTE_CLASSES, NEUTRAL_CLASS } = await import('../src/world/demographics.js');
  const classes = [...ATTRIBUTE_CLASSES.age, NEUTRAL_CLASS] as string[];
  const model = await loadModel('models/persona-tiny');
  try {
    const convs = Array.from({ length: n }, (_, i) => generateConversation(1000 + i));
    const examples = convs.map((c) => {
      // Drop the last assistant reply; the reading suffix stands in its place.
      const messages = c.messages.at(-1)?.role === 'assistant' ? c.messages.slice(0, -1) : c.messages;
      return { messages, response: ' I think the age of this user is' };
    });
    const t0 = performance.now();
    const acts = await extractActivations(model, examples, {
      layers,
      positions: [{ index: -1 }],
      batchSize: 16,
      onProgress: progress('  persona-tiny activations'),
    });
    log(`  read ${n} conversations in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const H = model.hiddenSize;
    const y = Int32Array.from(convs, (c) => classes.indexOf(c.labels.age));
    return layers.flatMap((layer, j) => {
      const X = new Float32Array(n * H);
      acts.forEach((a, i) => X.set(a.at['index:-1']![j]!, i * H));
      return [false, true].map((standardize) => ({ name: `persona-tiny age, layer ${layer}`, X, y, numClasses: classes.length, standardize }));
    });
  } finally {
    await model.dispose();
  }
}

// One request per line: {"op": "rep"} times one repetition (the folds, then the fit on all rows)
// and answers its seconds; {"op": "finish"} writes the last full fit's probabilities and answers
// its objective; {"op": "quit"} or end of input exits.
const PYTHON_SIDE = String.raw`
import json, sys, time, warnings
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("ignore", ConvergenceWarning)
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
n, H = meta["n"], meta["dim"]
X = np.fromfile(d + "/X.f32", dtype=np.float32).reshape(n, H)
y = np.fromfile(d + "/y.i32", dtype=np.int32)
folds = np.fromfile(d + "/folds.i32", dtype=np.int32)
def model():
    lr = LogisticRegression(C=meta["C"], max_iter=meta["max_iter"])
    return make_pipeline(StandardScaler(), lr) if meta["standardize"] else lr
def iters(m):
    return int((m[-1] if meta["standardize"] else m).n_iter_[0])
def rep():
    t0 = time.perf_counter()
    accs, its = [], []
    for f in range(int(folds.max()) + 1):
        tr, te = folds != f, folds == f
        m = model().fit(X[tr], y[tr])
        accs.append(float((m.predict(X[te]) == y[te]).mean()))
        its.append(iters(m))
    t1 = time.perf_counter()
    m = model().fit(X, y)
    t2 = time.perf_counter()
    return {"cv": accs, "cv_iters": its, "cv_s": t1 - t0, "full_s": t2 - t1, "full_iters": iters(m)}, m
def finish(m):
    # Columns for every class index, zeros for classes absent from y.
    P = np.zeros((n, meta["classes"]), dtype=np.float32)
    P[:, m.classes_] = m.predict_proba(X)
    P.tofile(d + "/proba.f32")
    # The objective C * sum CE + 0.5 ||W||^2 at sklearn's full fit (W in the penalised space), to see who got closer to the optimum.
    lr = m[-1] if meta["standardize"] else m
    Z = m[0].transform(X) if meta["standardize"] else X.astype(np.float64)
    logits = Z @ lr.coef_.T + lr.intercept_
    lse = np.logaddexp.reduce(logits, axis=1)
    ce = float((lse - logits[np.arange(n), np.searchsorted(m.classes_, y)]).sum())
    return {"full_objective": meta["C"] * ce + 0.5 * float((lr.coef_ ** 2).sum())}
print(json.dumps({"ready": True}), flush=True)
last = None
for line in sys.stdin:
    op = json.loads(line)["op"]
    if op == "rep":
        answer, last = rep()
    elif op == "finish":
        answer = finish(last)
    else:
        break
    print(json.dumps(answer), flush=True)
`;

interface SklearnRep {
  cv: number[];
  cv_iters: number[];
  cv_s: number;
  full_s: number;
  full_iters: number;
}

/**
 * Both sides timed in `pairs` interleaved pairs (alternating which goes first), so that the
 * machine's drift between minutes falls on both: our side is crossValidate with refit, as
 * trainLayerProbes runs it (the fit on all rows, then the folds started from it), scikit-learn's
 * the folds, then its fit on all rows.
 */
async function benchOne(python: string, set: FeatureSet, dir: string, pairs: number): Promise<Record<string, unknown>> {
  const n = set.y.length;
  const dim = set.X.length / n;
  const folds = stratifiedFolds(set.y, set.numClasses, K_FOLDS, 1);
  writeFileSync(join(dir, 'X.f32'), new Uint8Array(set.X.buffer, set.X.byteOffset, set.X.byteLength));
  writeFileSync(join(dir, 'y.i32'), new Uint8Array(set.y.buffer, set.y.byteOffset, set.y.byteLength));
  writeFileSync(join(dir, 'folds.i32'), new Uint8Array(folds.buffer, folds.byteOffset, folds.byteLength));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ n, dim, classes: set.numClasses, C, max_iter: MAX_ITER, standardize: set.standardize }));

  const opts = { C, maxIter: MAX_ITER, standardize: set.standardize };
  let full!: LogRegModel;
  let cv!: CrossValidationResult;
  const oursRep = async () => {
    const t0 = performance.now();
    cv = await crossValidate(set.X, set.y, set.numClasses, { ...opts, folds, refit: true });
    full = cv.model!;
    return (performance.now() - t0) / 1000;
  };
  const sk = JsonLineProcess.start(python, ['-c', PYTHON_SIDE, dir], 'the scikit-learn side');
  const ours: number[] = [];
  const theirs: SklearnRep[] = [];
  let skObjective: number;
  try {
    await sk.next();
    for (let p = 0; p < pairs; p++) {
      const [o, t] = await inTurn(p, oursRep, () => sk.ask({ op: 'rep' }) as Promise<SklearnRep>);
      ours.push(o);
      theirs.push(t);
    }
    skObjective = ((await sk.ask({ op: 'finish' })) as { full_objective: number }).full_objective;
  } finally {
    await sk.close();
  }
  const skLast = theirs.at(-1)!;
  const skProba = new Float32Array(readFileSync(join(dir, 'proba.f32')).buffer.slice(0));
  const proba = predictProba(full, set.X);
  let maxProbaDiff = 0;
  for (let j = 0; j < proba.length; j++) maxProbaDiff = Math.max(maxProbaDiff, Math.abs(proba[j]! - skProba[j]!));

  const skMean = skLast.cv.reduce((a, b) => a + b, 0) / skLast.cv.length;
  const total = (r: SklearnRep) => r.full_s + r.cv_s;
  const ratios = ours.map((s, p) => s / total(theirs[p]!));
  const timeRatio = median(ratios);
  return {
    set: set.name,
    n,
    dim,
    classes: set.numClasses,
    standardize: set.standardize,
    cvAccuracyOurs: cv.mean,
    cvAccuracySklearn: skMean,
    diffPoints: 100 * (cv.mean - skMean),
    pairs,
    secondsOurs: median(ours),
    secondsSklearn: median(theirs.map(total)),
    timeRatio,
    timeRatioRange: [Math.min(...ratios), Math.max(...ratios)],
    secondsSklearnCv: median(theirs.map((r) => r.cv_s)),
    secondsSklearnFull: median(theirs.map((r) => r.full_s)),
    itersOurs: [...cv.fits.map((f) => f.iterations), full.iterations],
    evaluationsOurs: [...cv.fits.map((f) => f.evaluations), full.evaluations],
    objectiveOurs: full.objective,
    objectiveSklearn: skObjective,
    itersSklearn: [...skLast.cv_iters, skLast.full_iters],
    convergedOurs: cv.fits.every((f) => f.converged) && full.converged,
    maxProbaDiff,
    ok: Math.abs(cv.mean - skMean) <= 0.01 && timeRatio < 1,
  };
}

export async function benchProbes(options: { quick?: boolean } = {}): Promise<Record<string, unknown>> {
  const found = findPython();
  if ('skipped' in found) {
    console.log(`\nprobes vs scikit-learn: SKIPPED, ${found.skipped}`);
    return { skipped: found.skipped };
  }
  const q = options.quick ?? false;
  const sets: FeatureSet[] = [
    gaussianClusters('gaussian 4 classes', q ? 800 : 3000, 160, 4, 2.2, false, 11),
    gaussianClusters('gaussian 4 classes', q ? 800 : 3000, 160, 4, 2.2, true, 11),
    gaussianClusters('gaussian 3 classes', q ? 800 : 3000, 1024, 3, 2.2, true, 12),
  ];
  if (existsSync('models/persona-tiny')) {
    log('reading persona-tiny hidden states ...');
    sets.push(...(await tinyModelAge(q ? 300 : 1500, [2])));
  } else log('models/persona-tiny not found: model features skipped');

  // Warm-up: let V8 compile the solver's loops before anything is timed (numpy's are compiled already).
  const warm = gaussianClusters('warm-up', 400, 64, 3, 2, true, 99);
  for (const standardize of [false, true]) await crossValidate(warm.X, warm.y, warm.numClasses, { standardize, k: 3 });

  const dir = mkdtempSync(join(tmpdir(), 'bench-probes-'));
  const rows: Record<string, unknown>[] = [];
  try {
    for (const set of sets) {
      log(`${set.name}${set.standardize ? ', standardised' : ''} ...`);
      rows.push(await benchOne(found.python, set, dir, q ? 1 : PAIRS));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pad = (s: unknown, w: number) => String(s).padEnd(w);
  const pct = (x: unknown) => (100 * (x as number)).toFixed(2);
  console.log(`\nprobes vs scikit-learn (LogisticRegression lbfgs, C=${C}, max_iter=${MAX_ITER}; ${K_FOLDS}-fold CV on the same folds + full fit; time: median of ${q ? 1 : PAIRS} interleaved pairs, ratio [range])`);
  console.log(pad('feature set', 36) + pad('N x H', 12) + pad('std', 5) + pad('ours %', 8) + pad('sk %', 8) + pad('diff', 7) + pad('ours s', 8) + pad('sk s', 8) + pad('ratio', 18) + pad('max |dp|', 10) + pad('obj-sk', 10) + 'met');
  for (const r of rows)
    console.log(
      pad(r.set, 36) + pad(`${r.n}x${r.dim}`, 12) + pad(r.standardize ? 'yes' : 'no', 5) + pad(pct(r.cvAccuracyOurs), 8) + pad(pct(r.cvAccuracySklearn), 8) +
        pad((r.diffPoints as number).toFixed(2), 7) + pad((r.secondsOurs as number).toFixed(2), 8) + pad((r.secondsSklearn as number).toFixed(2), 8) +
        pad(`${(r.timeRatio as number).toFixed(2)} [${(r.timeRatioRange as number[]).map((x) => x.toFixed(2)).join('-')}]`, 18) + pad((r.maxProbaDiff as number).toExponential(1), 10) + pad(((r.objectiveOurs as number) - (r.objectiveSklearn as number)).toExponential(1), 10) + (r.ok ? 'yes' : 'NO'),
    );
  return { python: found.python, C, folds: K_FOLDS, maxIter: MAX_ITER, results: rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  benchProbes({ quick: process.argv.includes('--quick') })
    .then((r) => console.log(JSON.stringify(r, null, 1)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
