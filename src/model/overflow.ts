// Overflow guard. A steered residual whose squared norm passes the float32 maximum cannot be
// normalised: RMSNorm / LayerNorm square it to Infinity, the block outputs zero, the final norm
// hands the LM head zeros, every logit is equal and greedy decoding picks token 0 (answers "",
// exit 0). In float16 graphs the values themselves turn Infinity and the logits NaN. Generation
// and extraction check what they read and stop, saying what was applied to the residual.

import { LogitsKernel } from '../kernels/logits.js';
import type { Ablation, Steering } from './steering.js';

/** Above this L2 norm a float32 sum of squares overflows (sqrt of the float32 maximum, about 1.8e19). */
export const MAX_RESIDUAL_NORM = 2 ** 64;

/**
 * Largest steering coefficient (or probe strength) the CLI and the server accept. Useful
 * coefficients are in the single digits; beyond this a number is a typo, and with any vector of
 * ordinary norm the float32 activations overflow.
 */
export const MAX_COEFF = 1e6;

export interface Cause {
  text: string;
  /** What to do about it. */
  hint: string;
}

export class OverflowError extends Error {
  override name = 'OverflowError';
  constructor(
    message: string,
    /** What went wrong and where, without the cause ("made the logits degenerate at step 0 (...)"). */
    readonly what: string,
  ) {
    super(message);
  }
}

/** A number in three significant digits: 8.55e+21, 1e+20, 2, 0.5. */
export function short(x: number): string {
  if (Math.abs(x) >= 1e6) return x.toExponential(2).replace(/\.?0+e/, 'e');
  return String(Number(x.toPrecision(3)));
}

export function norm(v: ArrayLike<number>, from = 0, to = v.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/**
 * What was done to the residual stream, as the subject of an error: "steering at layer 2 (coeff
 * 2, |v| 1e+20)", "steering at layers 2 (...), 3 (...)", "the steering plan", "the model itself (no steering)".
 */
export function interventionCause(steering?: Steering, ablation?: Ablation[], plan = false): Cause {
  const parts: string[] = [];
  if (steering?.length) {
    const items = steering.map((s) => `${s.layer} (coeff ${short(s.coeff)}, |v| ${short(norm(s.vector))})`);
    parts.push(`steering at layer${items.length > 1 ? 's' : ''} ${items.join(', ')}`);
  } else if (plan) parts.push('the steering plan');
  if (ablation?.length) parts.push(`ablation at layer${ablation.length > 1 ? 's' : ''} ${ablation.map((a) => a.layer).join(', ')}`);
  return parts.length
    ? { text: parts.join(' with '), hint: 'use a smaller coefficient or a vector of ordinary norm' }
    : { text: 'the model itself (no steering)', hint: 'the model overflows on this input (a float16 export? try its float32 weights)' };
}

/**
 * One row of next-token logits must be finite and not all equal (all equal = the LM head was fed
 * zeros). Leaves the row in the logits kernel and returns its max, for sampleLoaded.
 */
export function checkLogits(logits: Float32Array, from: number, to: number, cause: () => Cause, where: string): number {
  const kernel = LogitsKernel.get();
  kernel.load(logits, from, to);
  const { min, max, finite } = kernel.scan();
  if (!finite)
    for (let i = from; i < to; i++) if (!Number.isFinite(logits[i]!)) fail(cause, `made the logits non-finite ${where} (value ${logits[i]})`);
  if (to - from > 1 && min === max)
    fail(cause, `made the logits degenerate ${where} (every token scores ${min}: the residual stream overflowed float32 before the final norm)`);
  return max;
}

/** Hidden-state vectors (rows of H values in data[from, to)) must be finite and normalisable in float32. */
export function checkHidden(data: Float32Array, H: number, from: number, to: number, cause: () => Cause, what: string, where: string): void {
  for (let r = from; r < to; r += H) {
    const n = norm(data, r, r + H);
    if (!Number.isFinite(n)) fail(cause, `made ${what} non-finite ${where}`);
    if (n >= MAX_RESIDUAL_NORM) fail(cause, `made ${what} overflow ${where} (|h| ${short(n)}; a float32 norm layer overflows above ${short(MAX_RESIDUAL_NORM)})`);
  }
}

function fail(cause: () => Cause, what: string): never {
  const c = cause();
  throw new OverflowError(`${c.text} ${what}; ${c.hint}`, what);
}
