// The matmul roofline of `npm run bench`: what this machine's matmuls do on the work an extraction
// batch needs. ProjectionChain is a forward pass's projections and nothing else (ONNX Runtime
// MatMul, weights as initializers, so prepacked as in our models); bench-torch.py times the same
// chain with F.linear, and the faster of the two, timed over as many passes as the extraction run
// beside it reads batches, is the roofline that run is held to. ortMatmulGflops gives the rate at a
// large square shape (information).

import * as ort from 'onnxruntime-node';
import { floatTensor, graph, model, node, valueInfo } from '../src/onnx/build.js';
import type { SteerableModel } from '../src/model/steerableModel.js';

export type Shape = [number, number, number];
export const shapeKey = ([M, K, N]: Shape) => `${M}x${K}x${N}`;

/** A session over a graph of MatMuls, `threads` intra-op threads (ONNX Runtime's default spinning). */
function matmulSession(g: ReturnType<typeof graph>, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(Buffer.concat(model(g, [{ domain: '', version: 17 }]).parts), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
}

/** Best-of-5 GFLOP/s of ORT MatMul at each shape, `threads` intra-op threads. */
export async function ortMatmulGflops(shapes: Shape[], threads: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [M, K, N] of shapes) {
    const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i));
    const g = graph({ name: 'mm', nodes: [node({ op: 'MatMul', inputs: ['a', 'w'], outputs: ['c'] })], initializers: [floatTensor('w', [K, N], w)], inputs: [valueInfo('a', 1, [M, K])], outputs: [valueInfo('c', 1, [M, N])] });
    const s = await matmulSession(g, threads);
    const a = new ort.Tensor('float32', Float32Array.from({ length: M * K }, (_, i) => Math.cos(i)), [M, K]);
    await s.run({ a });
    const n = Math.max(1, Math.min(100, Math.round(2e8 / (2 * M * K * N)))); // ~0.2 GFLOP per timing, as the torch side
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await s.run({ a });
      best = Math.min(best, (performance.now() - t0) / n);
    }
    out[shapeKey([M, K, N])] = (2 * M * K * N) / (best / 1000) / 1e9;
    await s.release();
  }
  return out;
}

/** Dimensions of the projection chain: `layers` blocks of hidden H, q = heads x head_dim, kv, ffn F. */
export interface ChainDims {
  H: number;
  q: number;
  kv: number;
  F: number;
  layers: number;
}

export function chainDims(m: SteerableModel): ChainDims {
  const c = m.config;
  return {
    H: c.hiddenSize,
    q: c.numHeads * c.headDim,
    kv: c.numKvHeads * c.headDim,
    F: Number((c.raw as { intermediate_size?: number }).intermediate_size ?? 4 * c.hiddenSize),
    layers: m.numLayers,
  };
}

/** FLOPs of one pass of the chain over `rows` rows: q, k, v, o, gate, up, down in every block. */
export const chainFlops = (d: ChainDims, rows: number) => 2 * rows * d.layers * (2 * d.H * d.q + 2 * d.H * d.kv + 3 * d.H * d.F);

/**
 * A decoder's projections as one graph: per block, x -> q -> o = h; h -> k, v, up (outputs, so
 * that they are computed; never fetched); h -> gate -> down = the next block's x. Every block has
 * weights of its own (uniform, variance 1/fan-in, so values stay O(1) and no denormals slow the
 * kernels), streamed from memory as a model's are.
 */
export class ProjectionChain {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly dims: ChainDims,
    private readonly out: string,
  ) {}

  static async create(d: ChainDims, threads: number): Promise<ProjectionChain> {
    let seed = 0x9e3779b9;
    const weight = (name: string, K: number, N: number) => {
      const w = new Float32Array(K * N);
      const a = Math.sqrt(3 / K);
      for (let i = 0; i < w.length; i++) {
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        w[i] = ((seed >>> 0) / 2 ** 32 - 0.5) * 2 * a;
      }
      return floatTensor(name, [K, N], w);
    };
    const nodes = [];
    const initializers = [];
    const outputs = [];
    const mm = (x: string, w: string, y: string) => node({ op: 'MatMul', inputs: [x, w], outputs: [y] });
    let x = 'x';
    for (let l = 0; l < d.layers; l++) {
      const shapes: [string, number, number][] = [['q', d.H, d.q], ['o', d.q, d.H], ['k', d.H, d.kv], ['v', d.H, d.kv], ['gate', d.H, d.F], ['up', d.H, d.F], ['down', d.F, d.H]];
      for (const [n, K, N] of shapes) initializers.push(weight(`${n}.${l}`, K, N));
      nodes.push(mm(x, `q.${l}`, `q_out.${l}`), mm(`q_out.${l}`, `o.${l}`, `h.${l}`));
      for (const n of ['k', 'v', 'up']) {
        nodes.push(mm(`h.${l}`, `${n}.${l}`, `${n}_out.${l}`));
        outputs.push(valueInfo(`${n}_out.${l}`, 1, ['rows', n === 'up' ? d.F : d.kv]));
      }
      nodes.push(mm(`h.${l}`, `gate.${l}`, `gate_out.${l}`), mm(`gate_out.${l}`, `down.${l}`, `x.${l + 1}`));
      x = `x.${l + 1}`;
    }
    outputs.unshift(valueInfo(x, 1, ['rows', d.H]));
    const g = graph({ name: 'projections', nodes, initializers, inputs: [valueInfo('x', 1, ['rows', d.H])], outputs });
    const session = await matmulSession(g, threads);
    return new ProjectionChain(session, d, x);
  }

  private readonly warm = new Set<number>();

  /**
   * GFLOP/s of `passes` passes over `rows` rows back to back. Only the first call at a row count
   * runs an untimed pass first, as an extraction run is timed: warmed once, then after idle gaps.
   */
  async gflops(rows: number, passes: number): Promise<number> {
    const x = new ort.Tensor('float32', Float32Array.from({ length: rows * this.dims.H }, (_, i) => Math.cos(i)), [rows, this.dims.H]);
    if (!this.warm.has(rows)) {
      await this.session.run({ x }, [this.out]);
      this.warm.add(rows);
    }
    const t0 = performance.now();
    for (let i = 0; i < passes; i++) await this.session.run({ x }, [this.out]);
    return (chainFlops(this.dims, rows) * passes) / ((performance.now() - t0) / 1000) / 1e9;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
