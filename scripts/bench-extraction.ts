// Extraction and decode against their budgets, for scripts/bench.ts:
//   - ORT runs the whole graph whatever is fetched (fetching hidden_states.1 alone costs the same),
//     so extraction reads from a graph pruned after the deepest layer (model/reader.ts): what that
//     saves at all layers (no LM head) and at one layer (that layer's share of the model);
//   - mean pooling's share of an extraction batch;
//   - the PyTorch CPU eager baseline (scripts/bench-torch.py, forward hooks, same weights, equal to
//     1e-5), both sides at their fastest thread count: toolkit speed / PyTorch speed per workload,
//     memory after load (fresh processes) and extraction throughput against the matmul roofline.

import { execFileSync } from 'node:child_process';
import { extractActivations } from '../src/activations/extract.js';
import { meanRows } from '../src/activations/positions.js';
import { loadModel } from '../src/model/load.js';
import type { SteerableModel } from '../src/model/steerableModel.js';
import { findTorch, median, runOurs, runTorch, type TorchResult, type TorchWorkload } from './bench-torch.js';

export interface Row {
  metric: string;
  a: number;
  b: number;
  ratio: number;
  goal: string;
  ok: boolean;
}

const ids = (batch: number, seq: number, vocab: number) =>
  Array.from({ length: batch }, (_, b) => Array.from({ length: seq }, (_, t) => 3 + ((b * 131 + t * 17) % (vocab - 3))));
const examplesOf = (rows: number[][]) => rows.map((r) => ({ promptIds: r.slice(0, 1), responseIds: r.slice(1) }));

/** Matmul FLOPs of one forward over `tokens` tokens in rows of `seq`, blocks 1..layers, no LM head. */
export function forwardFlops(m: SteerableModel, tokens: number, seq: number, layers = m.numLayers): number {
  const c = m.config;
  const F = Number((c.raw as { intermediate_size?: number }).intermediate_size ?? 4 * c.hiddenSize);
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const H = c.hiddenSize;
  const proj = 2 * (H * q + 2 * H * kv + q * H + 3 * H * F);
  const attn = 2 * 2 * q * ((seq + 1) / 2); // QK^T and AV over the causal half
  return tokens * layers * (proj + attn);
}

/** Truncation and pooling rows on an already loaded instrumented model. */
export async function benchTruncation(model: SteerableModel, reps: number, log: (s: string) => void): Promise<Row[]> {
  const x = ids(8, 64, model.config.vocabSize);
  const ex = examplesOf(x);
  const all = model.hiddenLayers;
  const fetchAll = () => model.forward({ inputIds: x, hiddenLayers: 'all', useCache: false });
  const fetchOne = () => model.forward({ inputIds: x, hiddenLayers: [1], useCache: false });
  const cut = (layers: number[], fullGraph = false) => () => extractActivations(model, ex, { positions: ['response-mean'], layers, batchSize: 8, fullGraph });
  const jobs: [string, () => Promise<unknown>][] = [
    ['fetch all', fetchAll],
    ['fetch 1', fetchOne],
    ['extract all full graph', cut(all, true)],
    ['extract all pruned', cut(all)],
    ['extract layer 1 pruned', cut([1])],
  ];
  log(`truncation: 8x64, ${reps} interleaved reps ...`);
  const t: Record<string, number[]> = {};
  for (const [, f] of jobs) await f(); // warm-up, builds the pruned variants
  for (let r = 0; r < reps; r++)
    for (const [name, f] of jobs) {
      const t0 = performance.now();
      await f();
      (t[name] ??= []).push(performance.now() - t0);
    }
  // Pooling's share: the same reductions extractActivations does, on one batch's hidden states.
  const out = await fetchAll();
  const pool: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let b = 0; b < 8; b++) for (const l of all) meanRows(out.hidden.get(l)!, model.hiddenSize, b * 64, 1, 64);
    pool.push(performance.now() - t0);
  }
  const m = (k: string) => median(t[k]!);
  const share = forwardFlops(model, 512, 64, 1) / forwardFlops(model, 512, 64);
  return [
    { metric: 'forward: fetch hidden_states.1 only / fetch all', a: m('fetch 1'), b: m('fetch all'), ratio: m('fetch 1') / m('fetch all'), goal: '~1 (ORT)', ok: true },
    { metric: 'extract all layers: pruned / full graph', a: m('extract all pruned'), b: m('extract all full graph'), ratio: m('extract all pruned') / m('extract all full graph'), goal: '< 1', ok: m('extract all pruned') < m('extract all full graph') },
    { metric: `extract layer 1 / all layers (FLOP share ${share.toFixed(3)})`, a: m('extract layer 1 pruned'), b: m('extract all pruned'), ratio: m('extract layer 1 pruned') / m('extract all pruned'), goal: `<= ${(2 * share + 0.02).toFixed(2)}`, ok: m('extract layer 1 pruned') / m('extract all pruned') <= 2 * share + 0.02 },
    { metric: 'mean pooling share of an 8x64 extraction', a: median(pool), b: m('extract all pruned'), ratio: median(pool) / m('extract all pruned'), goal: '<= 0.03', ok: median(pool) / m('extract all pruned') <= 0.03 },
  ];
}

/** RSS (MB) of a fresh node process before and after loadModel (instrumented, cached). */
function ourLoadRss(dir: string, threads: number): { before: number; after: number } {
  const code = `const { loadModel } = await import(${JSON.stringify(new URL('../src/model/load.ts', import.meta.url).href)});
globalThis.gc(); const before = process.memoryUsage().rss;
const m = await loadModel(${JSON.stringify(dir)}, { threads: ${threads} });
globalThis.gc(); console.log(JSON.stringify({ before: before / 2 ** 20, after: process.memoryUsage().rss / 2 ** 20 }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { before: number; after: number };
}

export interface TorchModelSpec {
  label: string;
  dir: string;
  onnx: string;
  extract: [number, number][];
}

/** Toolkit / PyTorch rows for each model; both sides tuned over `threads`. */
export async function benchAgainstTorch(specs: TorchModelSpec[], opts: { reps: number; threads: number[]; decodeTokens: number }, log: (s: string) => void): Promise<{ rows: Row[]; skipped?: string; torch?: Record<string, TorchResult> }> {
  const found = findTorch();
  if ('skipped' in found) return { rows: [], skipped: found.skipped };
  const rows: Row[] = [];
  const raw: Record<string, TorchResult> = {};
  for (const spec of specs) {
    const probe = await loadModel(spec.dir, { threads: 1 });
    const V = probe.config.vocabSize;
    const H = probe.hiddenSize;
    const work: TorchWorkload[] = spec.extract.map(([b, s]) => ({ name: `extract ${b}x${s}`, kind: 'extract' as const, ids: ids(b, s, V) }));
    work.push({ name: 'steered decode', kind: 'decode', prompt: ids(1, 32, V)[0]!, tokens: opts.decodeTokens, layer: Math.max(1, Math.floor(probe.numLayers / 2)), vector: Array.from({ length: H }, (_, i) => Math.sin(i)), coeff: 4 });
    log(`${spec.label}: PyTorch eager baseline (threads ${opts.threads.join('/')}) ...`);
    const torch = await runTorch(found.python, probe, spec.onnx, work, { reps: opts.reps, threads: opts.threads });
    raw[spec.label] = torch;
    rows.push({ metric: `${spec.label}: hidden states vs PyTorch, max rel. err`, a: torch.checkRelErr, b: NaN, ratio: torch.checkRelErr, goal: '<= 1e-5', ok: torch.checkRelErr <= 1e-5 });
    const flops = new Map(work.map((w) => [w.name, w.ids ? forwardFlops(probe, w.ids.length * w.ids[0]!.length, w.ids[0]!.length) : 0]));
    await probe.dispose();
    log(`${spec.label}: ours (threads ${opts.threads.join('/')}) ...`);
    const ours = new Map<string, number>();
    for (const threads of opts.threads) {
      const model = await loadModel(spec.dir, { threads });
      for (const w of work) {
        await runOurs(model, w);
        const ts: number[] = [];
        for (let r = 0; r < (w.kind === 'decode' ? Math.max(3, opts.reps >> 1) : opts.reps); r++) ts.push(await runOurs(model, w));
        ours.set(w.name, Math.min(ours.get(w.name) ?? Infinity, median(ts)));
      }
      await model.dispose();
    }
    const roof = Math.max(...Object.values(torch.matmulGflops));
    for (const w of work) {
      const a = ours.get(w.name)!;
      const b = torch.workloads[w.name]!.ms;
      rows.push({ metric: `${spec.label}: ${w.name} speed, toolkit / PyTorch`, a, b, ratio: b / a, goal: '>= 1.5', ok: b / a >= 1.5 });
      if (flops.get(w.name)) {
        const gflops = flops.get(w.name)! / (a / 1000) / 1e9;
        rows.push({ metric: `${spec.label}: ${w.name} GFLOP/s / matmul roofline`, a: gflops, b: roof, ratio: gflops / roof, goal: '>= 0.90', ok: gflops / roof >= 0.9 });
      }
    }
    const best = opts.threads[opts.threads.length - 1]!;
    const mem = ourLoadRss(spec.dir, best);
    const oursMb = mem.after - mem.before;
    const torchMb = torch.rssAfterLoadMb - torch.rssBeforeLoadMb;
    rows.push({ metric: `${spec.label}: RSS added by load MB, toolkit / PyTorch`, a: oursMb, b: torchMb, ratio: oursMb / torchMb, goal: '<= 1.10', ok: oursMb / torchMb <= 1.1 });
    rows.push({ metric: `${spec.label}: RSS after load MB (runtimes incl.)`, a: mem.after, b: torch.rssAfterLoadMb, ratio: mem.after / torch.rssAfterLoadMb, goal: '<= 1.10', ok: mem.after / torch.rssAfterLoadMb <= 1.1 });
  }
  return { rows, torch: raw };
}
