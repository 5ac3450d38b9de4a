// The PyTorch CPU eager baseline of `npm run bench`: the same weights (dumped from our ONNX file)
// run by scripts/bench-torch.py with forward hooks, checked equal to our hidden states to 1e-5,
// and timed on the same workloads as ours, one run per request so that the bench interleaves its
// runs with ours (a shared machine's load then falls on both alike). Used by scripts/bench.ts;
// needs a python3 with torch (/usr/bin/python3 first), and says plainly when there is none.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extractActivations } from '../src/activations/extract.js';
import { generate } from '../src/generation/generate.js';
import { loadModel as readOnnx } from '../src/model/instrument/prepare.js';
import type { SteerableModel } from '../src/model/steerableModel.js';
import type { TensorView } from '../src/onnx/read.js';
import { JsonLineProcess } from './bench-process.js';
import { chainFlops, type ChainDims } from './bench-roofline.js';

/** The interpreters tried, in order; PERSONA_BENCH_PYTHON (colon-separated) replaces them. */
export function pythonCandidates(): string[] {
  return process.env.PERSONA_BENCH_PYTHON ? process.env.PERSONA_BENCH_PYTHON.split(':') : ['/usr/bin/python3', 'python3'];
}

/** A python3 that imports torch and numpy, or why there is none (naming every interpreter tried). */
export function findTorch(candidates = pythonCandidates()): { python: string; version: string } | { skipped: string } {
  const tried: string[] = [];
  for (const python of candidates) {
    if (python.startsWith('/') && !existsSync(python)) {
      tried.push(`${python}: not found`);
      continue;
    }
    const r = spawnSync(python, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, version: r.stdout.trim() };
    tried.push(`${python}: ${(r.stderr || r.error?.message || 'failed').trim().split('\n').pop()}`);
  }
  return { skipped: `no python3 with torch (${tried.join('; ')})` };
}

function tensorFloats(t: TensorView, onnxPath: string): Float32Array {
  if (t.dataType !== 1) throw new Error(`${t.name}: only float32 weights are dumped`);
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (t.raw) return new Float32Array(Uint8Array.prototype.slice.call(t.raw).buffer, 0, n); // own, aligned copy
  if (t.values) return Float32Array.from(t.values);
  if (t.external) {
    const buf = Buffer.alloc(n * 4);
    const fd = openSync(join(dirname(onnxPath), t.external.location), 'r');
    readSync(fd, buf, 0, n * 4, t.external.offset);
    closeSync(fd);
    return new Float32Array(buf.buffer, buf.byteOffset, n);
  }
  throw new Error(`${t.name}: no data`);
}

/**
 * The Llama weights of an ONNX file under HF names ([in, out] layout): initializers already named
 * so, and the anonymous ones (onnx::MatMul_123) named by the MatMul node that reads them.
 */
export function dumpLlamaWeights(onnxPath: string, out: string): void {
  const g = readOnnx(onnxPath).graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const named = new Map<string, TensorView>();
  for (const t of g.initializers) if (/^(model\.|lm_head\.)/.test(t.name) && t.dataType === 1) named.set(t.name, t);
  for (const n of g.nodes) {
    const m = /layers\.(\d+)\/(self_attn|mlp)\/(\w+_proj)\/MatMul/.exec(n.name);
    const w = n.opType === 'MatMul' ? inits.get(n.inputs[1]!) : undefined;
    if (m && w) named.set(`model.layers.${m[1]}.${m[2]}.${m[3]}.weight`, w);
  }
  const tensors: { name: string; dims: number[]; offset: number }[] = [];
  const parts: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of named) {
    const data = tensorFloats(t, onnxPath);
    tensors.push({ name, dims: t.dims, offset });
    parts.push(data);
    offset += data.length;
  }
  writeFileSync(join(out, 'weights.bin'), Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
  writeFileSync(join(out, 'weights.json'), JSON.stringify({ tensors }));
}

export interface TorchWorkload {
  name: string;
  kind: 'extract' | 'decode';
  ids?: number[][];
  prompt?: number[];
  tokens?: number;
  layer?: number;
  vector?: number[];
  coeff?: number;
}

export interface TorchHeader {
  torch: string;
  rssBeforeLoadMb: number;
  rssAfterLoadMb: number;
  /** The BLAS library whose own thread count is set with torch's (OpenBLAS ignores torch's), or null. */
  blasThreads: string | null;
  /** max |ours - torch| / max |torch| over every layer of the check batch. */
  checkRelErr: number;
}

/** One timed run: wall and CPU milliseconds (per batch for extraction, per token for decode). */
export interface Timed {
  ms: number;
  cpuMs: number;
  /** Extraction: the run's first batch alone, the one after the idle gap between runs. */
  firstMs?: number;
}

/**
 * The baseline as a running process on `model`'s weights: loaded once and checked against our
 * hidden states, then one request per run (run, matmul), answered in order.
 */
export class TorchWorker {
  private constructor(
    private readonly lines: JsonLineProcess,
    private readonly dir: string,
    readonly workloads: TorchWorkload[],
  ) {}

  header!: TorchHeader;

  static async start(python: string, model: SteerableModel, sourceOnnx: string, workloads: TorchWorkload[]): Promise<TorchWorker> {
    const dir = mkdtempSync(join(tmpdir(), 'bench-torch-'));
    dumpLlamaWeights(sourceOnnx, dir);
    const c = model.config;
    const raw = c.raw as { rms_norm_eps?: number; rope_theta?: number };
    const checkIds = [Array.from({ length: 24 }, (_, t) => 3 + ((t * 37) % (c.vocabSize - 3)))];
    const job = {
      config: { numLayers: c.numLayers, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, eps: raw.rms_norm_eps ?? 1e-5, ropeTheta: raw.rope_theta ?? 10000 },
      checkIds,
      workloads,
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    const w = new TorchWorker(JsonLineProcess.start(python, [join(import.meta.dirname, 'bench-torch.py'), dir, join(dir, 'job.json')], 'bench-torch.py'), dir, workloads);
    try {
      const head = (await w.lines.next()) as Omit<TorchHeader, 'checkRelErr'>;
      // Same hidden states: every layer of the check batch, read from the full graph.
      const ours = await model.forward({ inputIds: checkIds, hiddenLayers: 'all', useCache: false });
      const check = readFileSync(join(dir, 'check.bin'));
      const theirs = new Float32Array(check.buffer.slice(check.byteOffset, check.byteOffset + check.byteLength));
      const per = checkIds[0]!.length * model.hiddenSize;
      let err = 0;
      let scale = 0;
      for (const l of model.hiddenLayers) {
        const a = ours.hidden.get(l)!;
        for (let i = 0; i < per; i++) {
          err = Math.max(err, Math.abs(a[i]! - theirs[l * per + i]!));
          scale = Math.max(scale, Math.abs(theirs[l * per + i]!));
        }
      }
      w.header = { ...head, checkRelErr: err / scale };
      return w;
    } catch (e) {
      await w.close();
      throw e;
    }
  }

  /** One timed run of workload `name` at `threads` threads, `batches` extraction batches back to back (the first run of each pair warms up). */
  run(name: string, threads: number, batches = 1): Promise<Timed> {
    const i = this.workloads.findIndex((w) => w.name === name);
    if (i < 0) throw new Error(`no workload ${name}`);
    return this.lines.ask({ op: 'run', workload: i, threads, batches }) as Promise<Timed>;
  }

  /** Best-of-5 GFLOP/s of F.linear at each [M, K, N]. */
  async matmul(shapes: [number, number, number][], threads: number): Promise<Record<string, number>> {
    return ((await this.lines.ask({ op: 'matmul', shapes, threads })) as { gflops: Record<string, number> }).gflops;
  }

  /** GFLOP/s of the projection chain (bench-roofline.ts) over `rows` rows, `passes` passes back to back. */
  async chain(dims: ChainDims, rows: number, passes: number, threads: number): Promise<number> {
    const { ms } = (await this.lines.ask({ op: 'chain', dims, rows, passes, threads })) as { ms: number };
    return chainFlops(dims, rows) / (ms / 1000) / 1e9;
  }

  async close(): Promise<void> {
    await this.lines.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Start, check and stop: the hidden-state check and memory only (what the baseline test needs). */
export async function runTorch(python: string, model: SteerableModel, sourceOnnx: string): Promise<TorchHeader> {
  const w = await TorchWorker.start(python, model, sourceOnnx, []);
  await w.close();
  return w.header;
}

/** Our side of a workload: wall and CPU ms (extraction: per batch; decode: per token). */
export async function runOurs(model: SteerableModel, w: TorchWorkload, batches = 1): Promise<Timed> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let per = 1;
  let firstMs: number | undefined;
  if (w.kind === 'extract') {
    // `batches` copies of the batch as one dataset, read as extraction reads one.
    const batch = w.ids!.map((row) => ({ promptIds: row.slice(0, 1), responseIds: row.slice(1) }));
    per = batches;
    const onProgress = () => (firstMs ??= performance.now() - t0);
    await extractActivations(model, Array.from({ length: batches }, () => batch).flat(), { positions: ['response-mean'], batchSize: batch.length, onProgress });
  } else {
    per = w.tokens!;
    await generate(model, [w.prompt!], {
      maxNewTokens: w.tokens!,
      stopIds: [],
      steering: [{ layer: w.layer!, vector: Float32Array.from(w.vector!), coeff: w.coeff!, positions: 'all' }],
    });
  }
  const c = process.cpuUsage(c0);
  return { ms: (performance.now() - t0) / per, cpuMs: (c.user + c.system) / 1000 / per, ...(firstMs === undefined ? {} : { firstMs }) };
}
