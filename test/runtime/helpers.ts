// Shared helpers for the runtime tests: fixtures loaded through our own loader, error measures.

import { makeFixture, type Fixture, type FixtureKind } from '../fixtures/index.js';
import { createRng } from '../../src/generation/sampling.js';
import { loadModel, type LoadOptions } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';

export async function fixtureModel(kind: FixtureKind, opts: LoadOptions = {}): Promise<{ fx: Fixture; model: SteerableModel }> {
  const fx = await makeFixture(kind);
  const model = await loadModel(fx.dir, { threads: 1, ...opts });
  return { fx, model };
}

/** max |a - b| / max |b|: one number per tensor, robust to entries near zero. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let e = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    e = Math.max(e, Math.abs(a[i]! - b[i]!));
    n = Math.max(n, Math.abs(b[i]!));
  }
  return e / (n || 1);
}

export function maxAbsErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

export function randomVector(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng() * 2 - 1) * scale);
}

/** Rows [start, end) of sequence row b of a [batch, seq, width] block. */
export function rows(x: Float32Array, b: number, seq: number, width: number, start: number, end: number): Float32Array {
  return x.subarray((b * seq + start) * width, (b * seq + end) * width);
}

/** Measured maxima, printed once per file so the report can quote them. */
export const measured: Record<string, number> = {};
export function record(name: string, v: number): void {
  measured[name] = Math.max(measured[name] ?? 0, v);
}
