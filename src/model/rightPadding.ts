// Right-padded rows for graphs whose attention takes each row's length from the mask's row sums
// (see instrument/attention.ts). forward() builds its blocks left-padded (every row ends in the
// last column); this moves row b's tokens to columns [0, count_b) for the run and moves what
// comes back to where the caller expects it. Columns that are pads on the way back are zeros.

import { halfToFloat } from '../io/fp16.js';
import type { BatchInputs } from './inputs.js';
import type { LayerTensor } from './steerableModel.js';

export interface RightLayout {
  /** Left pads of row b in this call: its tokens move `shift[b]` columns to the left. */
  shift: Int32Array;
  /** Tokens of row b in this call. */
  count: Int32Array;
  /** [batch, seq] ids with each row's tokens first. */
  ids: BigInt64Array;
  /** [batch, seq] position ids in that layout (0 on pads). */
  positionIds: Int32Array;
  /** [batch, total] mask: row b's cached and new tokens as one run of ones from column 0. */
  mask: Uint8Array;
  /** False when no row is padded (the layout equals the left-padded one). */
  moved: boolean;
}

/**
 * The right-padded form of left-padded inputs x. `pastTokens[b]` = tokens row b already has in the
 * cache, stored from column 0 by the kernel; `total` = mask columns (cached + new).
 */
export function rightLayout(x: BatchInputs, pastTokens: ArrayLike<number> | undefined, total: number, where: string): RightLayout {
  const { batch, seq } = x;
  const shift = new Int32Array(batch);
  const count = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let pads = 0;
    while (pads < seq && !x.mask[b * seq + pads]) pads++;
    for (let s = pads; s < seq; s++)
      if (!x.mask[b * seq + s])
        throw new Error(`${where} takes right-padded rows (its attention reads row lengths from the mask), so attentionMask row ${b} cannot have zeros between tokens`);
    shift[b] = pads;
    count[b] = seq - pads;
    if (pastTokens && pads && seq > 1)
      throw new Error(`${where}: continuing a cache with rows of different lengths is not possible on this graph (row ${b} has ${count[b]} of ${seq} tokens); feed rows of equal length`);
  }
  const moved = shift.some((p) => p > 0);
  const ids = moved ? new BigInt64Array(batch * seq) : x.ids;
  const positionIds = moved ? new Int32Array(batch * seq) : x.positionIds;
  if (moved)
    for (let b = 0; b < batch; b++) {
      const from = b * seq + shift[b]!;
      ids.set(x.ids.subarray(from, (b + 1) * seq), b * seq);
      positionIds.set(x.positionIds.subarray(from, (b + 1) * seq), b * seq);
    }
  const mask = new Uint8Array(batch * total);
  for (let b = 0; b < batch; b++) mask.fill(1, b * total, b * total + (pastTokens?.[b] ?? 0) + count[b]!);
  return { shift, count, ids, positionIds, mask, moved };
}

/** A steer tensor built for left-padded columns, moved to the right-padded ones. */
export function steerToRight(t: LayerTensor, r: RightLayout, seq: number): LayerTensor {
  const [rows, cols, H] = t.dims;
  if (!r.moved || cols === 1) return t;
  const batch = r.shift.length;
  const data = new Float32Array(batch * seq * H);
  for (let b = 0; b < batch; b++) {
    const src = (rows === 1 ? 0 : b) * seq + r.shift[b]!;
    data.set(t.data.subarray(src * H, (src + r.count[b]!) * H), b * seq * H);
  }
  return { data, dims: [batch, seq, H] };
}

/**
 * A [batch, seq, width] output of the right-padded run as float32 in left-padded columns; with
 * lastOnly, each row's last token ([batch, width]).
 */
export function outputToLeft(data: Float32Array | Uint16Array, r: RightLayout, seq: number, width: number, lastOnly: boolean): Float32Array {
  const batch = r.shift.length;
  const slice = (start: number, end: number) => (data instanceof Float32Array ? data.subarray(start, end) : halfToFloat(data, start, end));
  const out = new Float32Array(batch * (lastOnly ? 1 : seq) * width);
  for (let b = 0; b < batch; b++) {
    const n = r.count[b]!;
    if (lastOnly) out.set(slice((b * seq + n - 1) * width, (b * seq + n) * width), b * width);
    else out.set(slice(b * seq * width, (b * seq + n) * width), (b * seq + r.shift[b]!) * width);
  }
  return out;
}
