// A decode loop's KV cache in fixed slots, which move only when their buffer grows. KvBuffers
// (./kvBuffers.ts) keeps the cache contiguous, [B, h, used, d], so appending a column shifts every
// head row but the first: ~2/3 of the cache moved per step (0.4 ms of a 25 ms SmolLM2-135M step).
// Here each buffer is [B, h, capacity, d]; a step writes its new columns into the next free slots
// and feeds the whole buffer as the past, the free slots masked out in attention_mask. Attention is
// a masked sum over key slots, so which slot a key sits in does not matter, only that free slots
// are masked and the causal mask comes from column indices (every past slot precedes the new
// tokens), not from position_ids. Position ids still count real tokens (KVCache.tokens), so RoPE is
// unchanged. Buffers grow by half when full (one copy each time), so free slots stay under a third.
//
// That is true of Optimum / transformers.js decomposed attention, but a graph could build its
// causal mask from positions, or apply a sliding window by column distance; slotsWork() checks the
// first on the model itself (once per model) and `slotsAllowed` refuses windows shorter than the
// buffer. The cost: attention runs over the free slots too.

import * as ort from 'onnxruntime-node';
import type { KVCache, SteerableModel } from './steerableModel.js';
import { KvBuffers, roomFor } from './kvBuffers.js';

type Floats = Float32Array | Uint16Array;

/** What the next forward call continues from: the past tensors over the slot buffers and their mask. */
export interface SlotCache {
  past: ort.Tensor[];
  /** [batch, capacity]: 1 = a real cached token, 0 = a pad or a free slot. */
  mask: Uint8Array;
  capacity: number;
  /** Slots 0..used-1 are written (pads included); the rest are free. */
  used: number;
}

export class KvSlots {
  private buffers: Floats[] = [];
  private tensors: ort.Tensor[] = [];
  private mask = new Uint8Array(0);
  private capacity = 0;
  private used = 0;

  /** `capacity`: the most slots a generation will fill (prompt + new tokens); grows past it if exceeded. */
  constructor(private readonly wanted: number) {
    if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`KvSlots: capacity must be a positive integer, got ${wanted}`);
  }

  /**
   * After a call that fed `seq` new columns (their [B, seq] mask `fresh`, new key/value columns
   * `columns` [B, h, seq, d] per cache input) on top of `cache` (undefined at prefill): write them
   * into the next free slots. Continuing from a cache consumes it, as with KvBuffers.
   */
  store(cache: KVCache | undefined, columns: ort.Tensor[], fresh: Uint8Array, batch: number, seq: number): SlotCache {
    const past = cache?.used ?? 0;
    if (cache && (cache.used === undefined || cache.past[0]?.data !== this.tensors[0]?.data))
      throw new Error('KvSlots: this cache is not in these slots (one KvSlots serves one chain of calls, from its prefill)');
    if (past !== this.used) throw new Error('KvSlots: this cache was continued already (its slots moved on); a KvSlots serves one chain of calls');
    if (past + seq > this.capacity) this.grow(past + seq, batch, columns);
    const C = this.capacity;
    columns.forEach((t, i) => {
      const [B, h, S, d] = t.dims as [number, number, number, number];
      if (B !== batch || S !== seq) throw new Error(`KV cache ${i}: new columns [${t.dims}] do not fit ${batch} rows of ${seq} tokens`);
      const src = t.data as Floats;
      const buf = this.buffers[i]!;
      for (let r = 0; r < B * h; r++) buf.set(src.subarray(r * S * d, (r + 1) * S * d), (r * C + past) * d);
    });
    for (let b = 0; b < batch; b++) this.mask.set(fresh.subarray(b * seq, (b + 1) * seq), b * C + past);
    this.used = past + seq;
    return { past: this.tensors, mask: this.mask, capacity: C, used: this.used };
  }

  /**
   * Room for at least `need` slots (roomFor: half again, at most the capacity asked for). Growing as
   * the cache does, not allocating the whole generation's room at prefill, keeps free slots
   * (attention computed and masked for nothing, and memory) under a third of the buffer; each
   * growth copies the cache once.
   */
  private grow(need: number, batch: number, columns: ort.Tensor[]): void {
    const C = roomFor(need, this.wanted);
    const old = this.buffers;
    const oldC = this.capacity;
    this.buffers = columns.map((t, i) => {
      const [, h, , d] = t.dims as [number, number, number, number];
      const n = batch * h * C * d;
      const buf = t.data instanceof Uint16Array ? new Uint16Array(n) : new Float32Array(n);
      const prev = old[i];
      if (prev) for (let r = 0; r < batch * h; r++) buf.set(prev.subarray(r * oldC * d, r * oldC * d + this.used * d), r * C * d);
      return buf;
    });
    this.tensors = this.buffers.map((buf, i) => {
      const [, h, , d] = columns[i]!.dims as [number, number, number, number];
      return buf instanceof Uint16Array ? new ort.Tensor('float16', buf, [batch, h, C, d]) : new ort.Tensor('float32', buf, [batch, h, C, d]);
    });
    const mask = new Uint8Array(batch * C);
    for (let b = 0; b < batch; b++) mask.set(this.mask.subarray(b * oldC, b * oldC + this.used), b * C);
    this.mask = mask;
    this.capacity = C;
  }
}

/**
 * Whether a generation of `capacity` columns may keep its cache in slots on this model: the graph
 * exposes new columns (decomposed attention), pads on the left through the mask, and no sliding
 * window could cut keys that column distances in the slot layout put further back than they are.
 */
export function slotsAllowed(model: SteerableModel, capacity: number): boolean {
  const s = model.session;
  const window = model.config.slidingWindow;
  return (
    !!s.attentionMask &&
    s.padding === 'left' &&
    !s.sharedCache &&
    s.cache.length > 0 &&
    s.cache.every((c) => c.columns && c.layout !== 'packed') &&
    (window === undefined || window >= capacity + 1)
  );
}

const verified = new WeakMap<SteerableModel, Promise<boolean>>();

/**
 * Once per model: does a decode step over slots (free ones masked) give the logits of the same step
 * over the contiguous cache? False for a graph whose causal mask follows position ids (the new
 * token would not see itself) or that ignores the mask on past columns.
 */
export function slotsWork(model: SteerableModel): Promise<boolean> {
  let p = verified.get(model);
  if (!p) {
    // A check that fails (a runtime error, not a verdict) leaves this generation on the contiguous
    // cache and is tried again by the next one.
    p = checkSlots(model).catch(() => {
      verified.delete(model);
      return false;
    });
    verified.set(model, p);
  }
  return p;
}

async function checkSlots(model: SteerableModel): Promise<boolean> {
  const ids = [[1, 2, 3].map((t) => t % model.config.vocabSize)];
  const next = [[4 % model.config.vocabSize]];
  const plain = new KvBuffers();
  const slots = new KvSlots(8);
  const a = await model.forward({ inputIds: ids, lastLogitsOnly: true, kvBuffers: plain });
  const b = await model.forward({ inputIds: ids, lastLogitsOnly: true, kvBuffers: slots });
  const a2 = await model.forward({ inputIds: next, cache: a.cache, lastLogitsOnly: true, kvBuffers: plain });
  const b2 = await model.forward({ inputIds: next, cache: b.cache, lastLogitsOnly: true, kvBuffers: slots });
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a2.logits.length; i++) {
    scale = Math.max(scale, Math.abs(a2.logits[i]!));
    diff = Math.max(diff, Math.abs(a2.logits[i]! - b2.logits[i]!));
  }
  // Different reduction lengths round differently; a wrong mask moves logits by far more.
  return Number.isFinite(diff) && diff <= 1e-4 * Math.max(1, scale);
}
