// A decode loop's KV cache in buffers this module owns: each step appends the new columns (the
// `<present>.new` outputs, instrument/cacheColumns.ts) to the cache it continues, in place, so a
// step allocates nothing and moves the cache once within one buffer, where fetching present.N.*
// made ONNX Runtime's binding allocate a fresh buffer per tensor and copy the whole cache into it.
//
// Caches are [batch, heads, past, dim] (the 'kv' layout), float32 or float16, fed back to the graph
// as views of these buffers. Appending moves rows b*heads+h >= 1 right by their share of the new
// columns (from the last row back, so nothing is overwritten before it is moved; row 0 stays), so
// continuing from a cache consumes it: a KvBuffers serves one chain of calls (one generation),
// which is how generate() uses it.

import * as ort from 'onnxruntime-node';

type Floats = Float32Array | Uint16Array;

/**
 * Columns to allocate for a cache of `need`: half as many again (at least 32 more), so a growing
 * cache reallocates a few times per generation, not every step; no more than `limit` (the longest
 * the chain will reach) while that suffices.
 */
export function roomFor(need: number, limit?: number): number {
  const room = Math.max(Math.ceil(need * 1.5), need + 32);
  return limit && need <= limit ? Math.min(limit, room) : room;
}

export class KvBuffers {
  /** Per cache input: the buffer its cache lives in, and how many columns that cache has. */
  private readonly buffers: (Floats | undefined)[] = [];
  private readonly columns: number[] = [];

  /** `maxColumns`: the longest cache this chain will reach, if known (buffers grow past it only if it is exceeded). */
  constructor(private readonly maxColumns?: number) {}

  /**
   * The cache of input `i` after this call: `past` ([B, h, L, d], or none at prefill) followed by
   * `fresh` ([B, h, S, d]) along the sequence axis, as a tensor over this object's buffer.
   */
  append(i: number, past: ort.Tensor | undefined, fresh: ort.Tensor): ort.Tensor {
    const [B, h, S, d] = fresh.dims as [number, number, number, number];
    const L = past?.dims[2] ?? 0;
    if (past && (past.dims[0] !== B || past.dims[1] !== h || past.dims[3] !== d))
      throw new Error(`KV cache ${i}: past [${past.dims}] does not continue with new columns [${fresh.dims}]`);
    const src = fresh.data as Floats;
    const old = past?.data as Floats | undefined;
    const rows = B * h;
    const rowOld = L * d;
    const rowNew = S * d;
    const n = rows * (rowOld + rowNew);
    let buf = this.buffers[i];
    const ours = !!old && !!buf && old.buffer === buf.buffer;
    if (ours && L !== this.columns[i])
      throw new Error(`KV cache ${i}: this cache was continued already (its buffer moved on); a KvBuffers serves one chain of calls`);
    const inPlace = ours && buf!.length >= n;
    if (!inPlace) {
      if (!buf || buf.length < n || !(buf instanceof src.constructor)) {
        const cols = roomFor(L + S, this.maxColumns);
        buf = src instanceof Float32Array ? new Float32Array(rows * cols * d) : new Uint16Array(rows * cols * d);
      }
      // A past from elsewhere, or one that outgrew its buffer: copy its rows into the new layout.
      if (old && rowOld) for (let r = 0; r < rows; r++) buf.set(old.subarray(r * rowOld, (r + 1) * rowOld), r * (rowOld + rowNew));
      this.buffers[i] = buf;
    } else for (let r = rows - 1; r >= 1; r--) buf!.copyWithin(r * (rowOld + rowNew), r * rowOld, (r + 1) * rowOld);
    const out = buf!;
    for (let r = 0; r < rows; r++) {
      const o = r * (rowOld + rowNew) + rowOld;
      const s = r * rowNew;
      for (let j = 0; j < rowNew; j++) out[o + j] = src[s + j]!;
    }
    this.columns[i] = L + S;
    const view = out.subarray(0, n);
    return view instanceof Float32Array ? new ort.Tensor('float32', view, [B, h, L + S, d]) : new ort.Tensor('float16', view, [B, h, L + S, d]);
  }
}
