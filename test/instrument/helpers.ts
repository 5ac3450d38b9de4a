// Shared by the instrumentation tests: fixtures of every kind copied to a private folder (prepare
// writes next to the source), feeds for instrumented sessions, and small numeric helpers.

import * as ort from 'onnxruntime-node';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPositionIds, FIXTURE_KINDS, makeFixture, type Fixture } from '../fixtures/index.js';
import { FUSED_KINDS, makeFusedFixture, type FusedKind } from '../fixtures/fused/index.js';
import { emptyPast, int64, toF32, type Past } from '../fixtures/ortRun.js';
import { toHalf } from '../fixtures/fp16.js';
import type { ResidualDtype } from '../../src/model/instrument/residual.js';

export type AnyKind = (typeof FIXTURE_KINDS)[number] | FusedKind;
export const ALL_KINDS: AnyKind[] = [...FIXTURE_KINDS, ...FUSED_KINDS];

export async function fixture(kind: AnyKind): Promise<Fixture> {
  return (FUSED_KINDS as string[]).includes(kind)
    ? makeFusedFixture(kind as FusedKind)
    : makeFixture(kind as (typeof FIXTURE_KINDS)[number]);
}

const scratch: string[] = [];

/** Remove this file's scratch folders (call from afterAll). */
export function cleanupScratch(): void {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** A scratch folder under the OS temp dir, removed by cleanupScratch. */
export function scratchDir(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `persona-instrument-${tag}-`));
  scratch.push(dir);
  return dir;
}

/**
 * A private copy of a fixture folder (external data included): prepare writes next to the source.
 * Instrumented files other tests cached in the shared fixture folder are left behind.
 */
export function copyFixture(fx: Fixture): string {
  const dir = scratchDir(fx.kind);
  cpSync(fx.dir, dir, { recursive: true, filter: (src) => !/\.persona([.-][^/]*)?\.(onnx|json)$/.test(src) });
  return dir;
}

export function floatTensor(dtype: ResidualDtype, data: Float32Array, dims: number[]): ort.Tensor {
  return dtype === 'float16' ? new ort.Tensor('float16', toHalf(data), dims) : new ort.Tensor('float32', data, dims);
}

export interface RunOptions {
  mask?: number[][];
  positions?: number[][];
  past?: Past;
  /** steer.k / ablate.k tensors by name; every other added input is fed zeros [1,1,H]. */
  extra?: Record<string, ort.Tensor>;
}

export interface RunResult {
  logits: Float32Array;
  hidden: Float32Array[];
  present: Past;
}

/** One forward pass of an (instrumented) fixture model. */
export async function run(
  s: ort.InferenceSession,
  fx: Fixture,
  ids: number[][],
  dtype: ResidualDtype,
  hiddenSize: number,
  o: RunOptions = {},
): Promise<RunResult> {
  const mask = o.mask ?? ids.map((r) => r.map(() => 1));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64(ids),
    attention_mask: int64(mask),
    position_ids: int64(o.positions ?? defaultPositionIds(mask)),
    ...(o.past ?? emptyPast(fx, ids.length)),
  };
  if (s.inputNames.includes('use_cache_branch'))
    feeds.use_cache_branch = new ort.Tensor('bool', new Uint8Array([o.past ? 1 : 0]), [1]);
  for (const name of s.inputNames)
    if (/^(steer|ablate)\.\d+$/.test(name))
      feeds[name] = o.extra?.[name] ?? floatTensor(dtype, new Float32Array(hiddenSize), [1, 1, hiddenSize]);
  const out = await s.run(feeds);
  const hidden: Float32Array[] = [];
  for (let k = 0; out[`hidden_states.${k}`]; k++) hidden.push(toF32(out[`hidden_states.${k}`]!));
  const present: Past = {};
  for (const [name, t] of Object.entries(out))
    if (name.startsWith('present.')) present[name.replace('present.', 'past_key_values.')] = t;
  return { logits: toF32(out.logits!), hidden, present };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** max |a - b| / max |b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(b[i]!));
  return maxAbsDiff(a, b) / (m || 1);
}

/** Deterministic pseudo-random vector in [-scale, scale]. */
export function randomVector(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) / 2 ** 32 - 0.5) * 2 * scale;
  });
}

export function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** Rows [b, s, :] of a [B, S, H] array. */
export function row(a: Float32Array, S: number, H: number, b: number, s: number): Float32Array {
  return a.subarray((b * S + s) * H, (b * S + s + 1) * H);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += a[i]! * b[i]!;
  return d;
}
