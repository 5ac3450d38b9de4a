// The matmul roofline of `npm run bench`: what ONNX Runtime's MatMul (a one-node graph, the weight
// an initializer, so prepacked as in our models) does on this machine, at a large square shape and
// at the shapes one extraction batch multiplies. Paired with torch's F.linear at the same shapes
// (scripts/bench-torch.py), the best of both is the machine's matmul throughput.

import * as ort from 'onnxruntime-node';
import { floatTensor, graph, model, node, valueInfo } from '../src/onnx/build.js';
import type { SteerableModel } from '../src/model/steerableModel.js';

export type Shape = [number, number, number];
export const shapeKey = ([M, K, N]: Shape) => `${M}x${K}x${N}`;

/** The projections of one decoder block at M rows ([M, K] x [K, N] each) and how often each occurs. */
export function blockShapes(m: SteerableModel, M: number): { shape: Shape; count: number }[] {
  const c = m.config;
  const F = Number((c.raw as { intermediate_size?: number }).intermediate_size ?? 4 * c.hiddenSize);
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return [
    { shape: [M, H, q], count: 1 },
    { shape: [M, H, kv], count: 2 },
    { shape: [M, q, H], count: 1 },
    { shape: [M, H, F], count: 2 },
    { shape: [M, F, H], count: 1 },
  ];
}

/** Best-of-5 GFLOP/s of ORT MatMul at each shape, `threads` intra-op threads. */
export async function ortMatmulGflops(shapes: Shape[], threads: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [M, K, N] of shapes) {
    const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i));
    const g = graph({ name: 'mm', nodes: [node({ op: 'MatMul', inputs: ['a', 'w'], outputs: ['c'] })], initializers: [floatTensor('w', [K, N], w)], inputs: [valueInfo('a', 1, [M, K])], outputs: [valueInfo('c', 1, [M, N])] });
    const s = await ort.InferenceSession.create(Buffer.concat(model(g, [{ domain: '', version: 17 }]).parts), {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
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

/**
 * GFLOP/s the block projections of `rows` rows would reach at the given per-shape rates (the
 * time of each shape at its rate, summed): the roofline for the FLOPs an extraction needs.
 */
export function sameShapeRoofline(m: SteerableModel, rows: number, rate: (key: string) => number): number {
  let flops = 0;
  let seconds = 0;
  for (const { shape, count } of blockShapes(m, rows)) {
    const f = 2 * shape[0] * shape[1] * shape[2] * count;
    flops += f;
    seconds += f / (rate(shapeKey(shape)) * 1e9);
  }
  return flops / seconds / 1e9;
}
