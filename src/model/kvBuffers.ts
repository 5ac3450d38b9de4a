// A decode loop's KV cache in buffers this module owns: each step appends the new columns (the
// `<present>.new` outputs, instrument/cacheColumns.ts) to the cache it continues, writing into the
// other of two buffers per cache input, so a step allocates nothing and copies the cache once in
// place of ONNX Runtime handing back the whole present tensor in a fresh buffer.
//
// Continuing from a cache overwrites the buffer of the cache two steps back: a KvBuffers serves one
// chain of calls (one generation), which is how generate() uses it. Caches are [batch, heads, past,
// dim] (the 'kv' layout), float32 or float16, fed back to the graph as they are.

import * as ort from 'onnxruntime-node';

type Floats = Float32Array | Uint16Array;

export class KvBuffers {
  /** Per cache input: the two buffers writes alternate between. */
  private readonly slots: [Floats | undefined, Floats | undefined][] = [];

  /** `maxColumns`: the longest cache this chain will reach, if known (buffers never grow past it). */
  constructor(private readonly maxColumns?: number) {}

  /**
   * The cache of input `i` after this call: `past` ([B, h, L, d], or none at prefill) followed by
   * `fresh` ([B, h, S, d]) along the sequence axis, as a tensor over one of this object's buffers.
   */
  append(i: number, past: ort.Tensor | undefined, fresh: ort.Tensor): ort.Tensor {
    const [B, h, S, d] = fresh.dims as [number, number, number, number];
    const L = past?.dims[2] ?? 0;
    if (past && (past.dims[0] !== B || past.dims[1] !== h || past.dims[3] !== d))
      throw new Error(`KV cache ${i}: past [${past.dims}] does not continue with new columns [${fresh.dims}]`);
    const src = fresh.data as Floats;
    const old = past?.data as Floats | undefined;
    const slot = (this.slots[i] ??= [undefined, undefined]);
    // Write into the buffer `past` does not live in.
    const k = old && slot[0] && old.buffer === slot[0].buffer ? 1 : 0;
    const n = B * h * (L + S) * d;
    let buf = slot[k];
    if (!buf || buf.length < n || !(buf instanceof src.constructor)) {
      // Room for half as many columns again (at least 32 more, at most maxColumns), so a growing
      // cache reallocates a few times per generation, not every step.
      let cols = Math.max(Math.ceil((L + S) * 1.5), L + S + 32);
      if (this.maxColumns) cols = Math.min(cols, Math.max(this.maxColumns, L + S));
      const cap = B * h * cols * d;
      buf = slot[k] = src instanceof Float32Array ? new Float32Array(cap) : new Uint16Array(cap);
    }
    const rowOld = L * d;
    const rowNew = S * d;
    for (let r = 0; r < B * h; r++) {
      const o = r * (rowOld + rowNew);
      if (old && rowOld) buf.set(old.subarray(r * rowOld, (r + 1) * rowOld), o);
      buf.set(src.subarray(r * rowNew, (r + 1) * rowNew), o + rowOld);
    }
    const view = buf.subarray(0, n);
    return view instanceof Float32Array ? new ort.Tensor('float32', view, [B, h, L + S, d]) : new ort.Tensor('float16', view, [B, h, L + S, d]);
  }
}
