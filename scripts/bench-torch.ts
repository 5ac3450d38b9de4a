// The PyTorch CPU eager baseline of `npm run bench`: the same weights (dumped from our ONNX file)
// run by scripts/bench-torch.py with forward hooks, checked equal to our hidden states to 1e-5,
// and timed on the same workloads as ours. Used by scripts/bench.ts; needs a python3 with torch
// (/usr/bin/python3 first), and says plainly when there is none.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, openSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extractActivations } from '../src/activations/extract.js';
import { generate } from '../src/generation/generate.js';
import { loadModel as readOnnx } from '../src/model/instrument/prepare.js';
import type { SteerableModel } from '../src/model/steerableModel.js';
import type { TensorView } from '../src/onnx/read.js';

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A python3 that imports torch and numpy, or why there is none. */
export function findTorch(): { python: string; version: string } | { skipped: string } {
  const tried: string[] = [];
  for (const python of ['/usr/bin/python3', 'python3']) {
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

export interface TorchResult {
  torch: string;
  rssBeforeLoadMb: number;
  rssAfterLoadMb: number;
  workloads: Record<string, { ms: number; threads: number }>;
  threadsTried: Record<string, Record<string, number>>;
  matmulGflops: Record<string, number>;
  /** max |ours - torch| / max |torch| over every layer of the check batch. */
  checkRelErr: number;
}

/** Run the baseline on `model`'s weights; checks its hidden states against ours first. */
export async function runTorch(
  python: string,
  model: SteerableModel,
  sourceOnnx: string,
  workloads: TorchWorkload[],
  opts: { reps: number; threads: number[]; roofline?: boolean },
): Promise<TorchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-torch-'));
  try {
    dumpLlamaWeights(sourceOnnx, dir);
    const c = model.config;
    const raw = c.raw as { rms_norm_eps?: number; rope_theta?: number };
    const checkIds = [Array.from({ length: 24 }, (_, t) => 3 + ((t * 37) % (c.vocabSize - 3)))];
    const job = {
      config: { numLayers: c.numLayers, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, eps: raw.rms_norm_eps ?? 1e-5, ropeTheta: raw.rope_theta ?? 10000 },
      checkIds,
      workloads,
      reps: opts.reps,
      threads: opts.threads,
      rooflineN: opts.roofline === false ? 0 : 1024,
    };
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job));
    const r = spawnSync(python, [join(import.meta.dirname, 'bench-torch.py'), dir, join(dir, 'job.json')], { encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`bench-torch.py failed: ${r.stderr.trim().split('\n').slice(-5).join('\n')}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<TorchResult, 'checkRelErr'>;
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
    return { ...out, checkRelErr: err / scale };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Our side of a workload, in ms (extraction: per batch; decode: per token). */
export async function runOurs(model: SteerableModel, w: TorchWorkload): Promise<number> {
  if (w.kind === 'extract') {
    const examples = w.ids!.map((row) => ({ promptIds: row.slice(0, 1), responseIds: row.slice(1) }));
    const t0 = performance.now();
    await extractActivations(model, examples, { positions: ['response-mean'], batchSize: w.ids!.length });
    return performance.now() - t0;
  }
  const g = await generate(model, [w.prompt!], {
    maxNewTokens: w.tokens!,
    stopIds: [],
    steering: [{ layer: w.layer!, vector: Float32Array.from(w.vector!), coeff: w.coeff!, positions: 'all' }],
  });
  return g.timings.totalMs / w.tokens!;
}
