// The steerable model: one ONNX session plus config and tokenizer, and `forward`, the single
// low-level call everything else (generation, extraction, monitoring) is built on.
//
// Layer convention (same as HF output_hidden_states): layer 0 = embedding output, layer k
// (1..L) = residual stream after decoder block k. `steer.k` is added to the residual after
// block k, so hidden_states[k] and every later layer see it.

import * as ort from 'onnxruntime-node';
import type { ModelConfig } from './config.js';
import type { Manifest } from './instrument/prepare.js';
import { floatToHalf, halfToFloat } from '../io/fp16.js';
import { batchInputs } from './inputs.js';
import { outputToLeft, rightLayout, steerToRight, type RightLayout } from './rightPadding.js';
import { KvBuffers } from './kvBuffers.js';
import type { KvSlots } from './kvSlots.js';
import type { ModelSession } from './session.js';
import type { Tokenizer } from './tokenizer.js';

/** A dense float32 block added to (steer) or projected out of (ablate) the residual at one layer. */
export interface LayerTensor {
  /** Row-major values; dims[0] * dims[1] * dims[2] of them. */
  data: Float32Array;
  /** steer: [1 | batch, 1 | seq, hidden] (1 = broadcast); ablate: [1 | batch, rank, hidden] (orthonormal rows). */
  dims: [number, number, number];
}
/** layer -> what to add to its residual output in this call. */
export type SteerTensors = Map<number, LayerTensor>;
/** layer -> orthonormal directions to project out (see model/steering.ts). */
export type AblateTensors = Map<number, LayerTensor>;

/** Where the tokens of one call sit, so a steering plan can choose its positions. */
export interface TokenPositions {
  batch: number;
  seq: number;
  /** [batch, seq] index of each token in its row's own sequence (pads excluded). */
  positionIds: Int32Array;
  /** [batch, seq] 1 = real token, 0 = pad. */
  mask: Uint8Array;
}
/** Fixed tensors, or a plan that builds them once the call's positions are known. */
export type SteerInput = SteerTensors | ((at: TokenPositions) => SteerTensors);

/** The key/value cache after some forward calls; pass it back to continue the sequences. */
export interface KVCache {
  batch: number;
  /** Columns already in the cache, pads included. */
  length: number;
  /** [batch, length] attention mask of the cached columns. */
  mask: Uint8Array;
  /** Real tokens per row (the next position id). */
  tokens: Int32Array;
  /** One tensor per cache input, in session.cache order. */
  past: ort.Tensor[];
  /** Shared-buffer graphs: columns of the fixed buffers in `past`, which each call writes in place. */
  capacity?: number;
  /** Slot caches (model/kvSlots.ts): slots written so far; the other `length - used` are free, masked. */
  used?: number;
}

export interface ForwardInput {
  /** Token ids per row; ragged rows are left-padded and masked. */
  inputIds: number[][];
  /** Per-row mask for inputIds (before padding); default all ones. */
  attentionMask?: number[][];
  /** Continue from this cache (its rows must match inputIds' rows). */
  cache?: KVCache;
  /** Which `hidden_states.k` to fetch; default 'none'. Unfetched layers are never copied out. */
  hiddenLayers?: number[] | 'all' | 'none';
  steer?: SteerInput;
  ablate?: AblateTensors;
  /** Return only the last column's logits ([batch, 1, vocab]); what a decode step needs. */
  lastLogitsOnly?: boolean;
  /** Fetch the updated cache (default true); extraction switches it off to skip the copies. */
  useCache?: boolean;
  /**
   * Shared-buffer graphs (session.sharedCache), at prefill: columns to allocate for the cache
   * (default the session's capacity, genai_config.json search.max_length); generation passes the
   * longest prompt plus the tokens it may add.
   */
  cacheCapacity?: number;
  /**
   * Keep the cache in these buffers, fetching only each call's new columns where the graph has them:
   * contiguous (model/kvBuffers.ts) or in fixed, masked slots (model/kvSlots.ts). One per chain of
   * calls: continuing from a cache consumes it.
   */
  kvBuffers?: KvBuffers | KvSlots;
  /**
   * Reading variants (session.poolInput): pool in the graph, `weights` [batch, positions, seq] row-
   * major (left-padded columns), giving `pooled` [batch, positions, hidden] for each of `layers`.
   */
  pool?: { weights: Float32Array; positions: number; layers: number[] };
}

export interface ForwardResult {
  batch: number;
  seq: number;
  vocab: number;
  /** [batch, lastLogitsOnly ? 1 : seq, vocab] */
  logits: Float32Array;
  /** layer -> [batch, seq, hidden] */
  hidden: Map<number, Float32Array>;
  /** With `pool`: layer -> [batch, positions, hidden]. */
  pooled: Map<number, Float32Array>;
  cache?: KVCache;
  /** [batch, past + seq], as fed to the graph (right-padding graphs: each row's tokens from column 0). */
  attentionMask: Uint8Array;
  /** [batch, seq] */
  positionIds: Int32Array;
  /** Milliseconds inside session.run. */
  runMs: number;
}

export interface LoadedParts {
  dir: string;
  config: ModelConfig;
  tokenizer: Tokenizer;
  session: ModelSession;
  /** The instrumentation manifest, when the model was prepared. */
  manifest?: Manifest;
}

export class SteerableModel {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  readonly session: ModelSession;
  readonly manifest?: Manifest;
  /** Filler for left padding: pad id, else first eos id, else 0 (masked out either way). */
  readonly padId: number;
  readonly numLayers: number;
  readonly hiddenSize: number;

  // Reused every call: zero steer/ablate input and the use_cache_branch flags.
  private readonly zeroLayer: ort.Tensor;
  private readonly branch: { on: ort.Tensor; off: ort.Tensor };

  constructor(parts: LoadedParts) {
    this.dir = parts.dir;
    this.config = parts.config;
    this.tokenizer = parts.tokenizer;
    this.session = parts.session;
    this.manifest = parts.manifest;
    this.numLayers = parts.config.numLayers;
    this.hiddenSize = parts.config.hiddenSize;
    this.padId = parts.config.padTokenId ?? parts.config.eosTokenIds[0] ?? 0;
    this.zeroLayer = this.floatTensor(new Float32Array(this.hiddenSize), [1, 1, this.hiddenSize]);
    this.branch = { on: new ort.Tensor('bool', [true], [1]), off: new ort.Tensor('bool', [false], [1]) };
    const maxHidden = Math.max(-1, ...this.session.hiddenOutputs.keys());
    if (maxHidden > this.numLayers)
      throw new Error(`${this.session.path} has hidden_states.${maxHidden} but config says ${this.numLayers} layers`);
  }

  /** Layers with a steer input (empty on an un-instrumented model). */
  get steerableLayers(): number[] {
    return [...this.session.steerInputs.keys()];
  }
  get ablatableLayers(): number[] {
    return [...this.session.ablateInputs.keys()];
  }
  get hiddenLayers(): number[] {
    return [...this.session.hiddenOutputs.keys()];
  }

  async forward(input: ForwardInput): Promise<ForwardResult> {
    const s = this.session;
    const cache = input.cache;
    const x = batchInputs(input.inputIds, this.padId, cache?.tokens, input.attentionMask);
    const { batch, seq } = x;
    const past = cache?.length ?? 0;
    const total = past + seq;
    if (cache && cache.batch !== batch) throw new Error(`forward: cache has ${cache.batch} rows, inputIds has ${batch}`);
    if (input.kvBuffers && !(input.kvBuffers instanceof KvBuffers) && !(s.attentionMask && s.padding === 'left'))
      throw new Error(`forward: kvBuffers: ${s.path} cannot keep its cache in masked slots (it needs left padding through attention_mask)`);

    // Attention mask over past + new columns, rows left-padded; right-padding graphs get their own.
    let mask = new Uint8Array(batch * total);
    for (let b = 0; b < batch; b++) {
      if (cache) mask.set(cache.mask.subarray(b * past, (b + 1) * past), b * total);
      mask.set(x.mask.subarray(b * seq, (b + 1) * seq), b * total + past);
    }
    if ((!s.attentionMask || s.padding === 'none') && mask.includes(0))
      throw new Error(
        `${s.path} ${s.attentionMask ? 'cannot mask padding (see persona inspect: attention)' : 'has no attention_mask input'}, so rows cannot be padded: give rows of equal length (or one row per call)`,
      );
    const right: RightLayout | undefined = s.padding === 'right' ? rightLayout(x, cache?.tokens, total, s.path) : undefined;
    if (right) mask = right.mask;
    const ids = right?.ids ?? x.ids;

    const feeds: Record<string, ort.Tensor> = { [s.inputIds.name]: intTensor(s.inputIds.type, ids, [batch, seq]) };
    if (s.attentionMask) feeds[s.attentionMask.name] = intTensor(s.attentionMask.type, mask, [batch, total]);
    if (s.positionIds) feeds[s.positionIds.name] = intTensor(s.positionIds.type, right?.positionIds ?? x.positionIds, [batch, seq]);
    if (s.hasUseCacheBranch) feeds['use_cache_branch'] = past > 0 ? this.branch.on : this.branch.off;

    const useCache = (input.useCache ?? true) && s.hasCacheOutputs;
    // Shared buffers: past and present are one tensor per cache input, written in place.
    const shared = useCache && s.sharedCache ? this.sharedBuffers(cache, batch, total, input.cacheCapacity) : undefined;
    if (shared) s.cache.forEach((c, i) => (feeds[c.past] = shared.past[i]!));
    else if (cache) s.cache.forEach((c, i) => (feeds[c.past] = cache.past[i]!));
    else for (const c of s.cache) feeds[c.past] = this.cacheTensor(c, batch, 0);
    let steer = this.steerTensors(input.steer, x);
    if (right && steer) steer = new Map([...steer].map(([l, t]) => [l, steerToRight(t, right, seq)]));
    this.feedLayerInputs(feeds, 'steer', s.steerInputs, steer, batch, seq);
    this.feedLayerInputs(feeds, 'ablate', s.ablateInputs, input.ablate, batch, seq);
    const pool = this.poolFeed(feeds, input.pool, batch, seq);

    const hiddenLayers = this.resolveHiddenLayers(input.hiddenLayers);
    // With kvBuffers, only this call's new KV columns come back, not the whole present cache.
    const columns = useCache && !shared && input.kvBuffers && s.cache.every((c) => c.columns) ? input.kvBuffers : undefined;
    const fetches: Record<string, ort.Tensor | null> = {};
    if (s.hasLogits) fetches[s.logits] = null;
    if (useCache) s.cache.forEach((c, i) => (fetches[columns ? c.columns! : c.present] = shared?.past[i] ?? null));
    for (const l of hiddenLayers) fetches[s.hiddenOutputs.get(l)!] = null;
    for (const l of pool?.layers ?? []) fetches[s.pooledOutputs.get(l)!] = null;

    const t0 = performance.now();
    const out = await s.session.run(feeds, fetches);
    const runMs = performance.now() - t0;

    // A graph pruned for reading hidden states has no logits: empty, vocab 0.
    const logitsT = s.hasLogits ? out[s.logits] : undefined;
    const vocab = logitsT?.dims[2] ?? 0;
    const lastOnly = !!input.lastLogitsOnly;
    const convert = (t: ort.Tensor, width: number, last: boolean) =>
      right?.moved ? outputToLeft(t.data as Float32Array | Uint16Array, right, seq, width, last) : this.toFloat32(t, seq, width, last);
    const logits = logitsT ? convert(logitsT, vocab, lastOnly) : new Float32Array(0);
    const hidden = new Map<number, Float32Array>();
    for (const l of hiddenLayers) hidden.set(l, convert(out[s.hiddenOutputs.get(l)!]!, this.hiddenSize, false));
    const pooled = new Map((pool?.layers ?? []).map((l) => [l, out[s.pooledOutputs.get(l)!]!.data as Float32Array]));

    let next: KVCache | undefined;
    if (useCache) {
      const tokens = new Int32Array(batch);
      for (let b = 0; b < batch; b++) tokens[b] = (cache?.tokens[b] ?? 0) + countRow(x.mask, b, seq);
      if (columns && !(columns instanceof KvBuffers)) {
        const slots = columns.store(cache, s.cache.map((c) => out[c.columns!]!), x.mask, batch, seq);
        next = { batch, length: slots.capacity, mask: slots.mask, tokens, past: slots.past, used: slots.used };
      } else
        next = {
          batch,
          length: total,
          mask,
          tokens,
          past: shared?.past ?? (columns ? s.cache.map((c, i) => columns.append(i, cache?.past[i], out[c.columns!]!)) : s.cache.map((c) => out[c.present]!)),
          ...(shared ? { capacity: shared.capacity } : {}),
        };
    }
    return { batch, seq, vocab, logits, hidden, pooled, cache: next, attentionMask: mask, positionIds: x.positionIds, runMs };
  }

  /** The fixed-capacity buffers of a shared-cache call: the cache's own, or zeros at prefill. */
  private sharedBuffers(cache: KVCache | undefined, batch: number, total: number, asked?: number): { past: ort.Tensor[]; capacity: number } {
    const s = this.session;
    const capacity = cache?.capacity ?? asked ?? s.sharedCache!.capacity;
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`forward: cacheCapacity must be a positive integer, got ${capacity}`);
    if (total > capacity)
      throw new Error(`forward: ${total} tokens do not fit the shared past/present buffers of ${capacity} columns (${s.path}; genai_config.json search.max_length)`);
    if (cache && cache.capacity === undefined) throw new Error('forward: this cache was not made with shared buffers (load the model the same way for the whole generation)');
    return { past: cache?.past ?? s.cache.map((c) => this.cacheTensor(c, batch, capacity)), capacity };
  }

  /** A zero cache tensor of `columns` past columns: empty at prefill, or a shared buffer. */
  private cacheTensor(c: ModelSession['cache'][number], batch: number, columns: number): ort.Tensor {
    // Prefill: zero-length past, as Optimum / transformers.js / ORT's GPT-2 helper feed it.
    const heads = c.heads ?? (c.layout === 'packed' ? this.config.numHeads : this.config.numKvHeads);
    const dim = c.dim ?? this.config.headDim;
    const dims = c.layout === 'packed' ? [2, batch, heads, columns, dim] : [batch, heads, columns, dim];
    const n = dims.reduce((a, d) => a * d, 1);
    return c.type === 'float16' ? new ort.Tensor('float16', new Uint16Array(n), dims) : new ort.Tensor('float32', new Float32Array(n), dims);
  }

  /** The pooling input of a reading variant: the caller's weights, else none ([batch, 0, seq]). */
  private poolFeed(feeds: Record<string, ort.Tensor>, pool: ForwardInput['pool'], batch: number, seq: number): ForwardInput['pool'] {
    const s = this.session;
    if (!s.poolInput) {
      if (pool) throw new Error(`${s.path} has no pool.weights input: pooling in the graph needs a reading variant (model/reader.ts)`);
      return undefined;
    }
    if (!pool) {
      feeds[s.poolInput] = new ort.Tensor('float32', new Float32Array(0), [batch, 0, seq]);
      return undefined;
    }
    if (pool.weights.length !== batch * pool.positions * seq)
      throw new Error(`pool.weights: ${pool.weights.length} values do not fit [${batch}, ${pool.positions}, ${seq}]`);
    for (const l of pool.layers) if (!s.pooledOutputs.has(l)) throw new Error(`${s.path} has no pooled.${l} output (it reads layers ${[...s.pooledOutputs.keys()].join(', ')})`);
    feeds[s.poolInput] = new ort.Tensor('float32', pool.weights, [batch, pool.positions, seq]);
    return pool;
  }

  /** Release the ONNX Runtime session and whatever was registered with onDispose. */
  async dispose(): Promise<void> {
    for (const f of this.disposers.splice(0)) await f();
    await this.session.session.release();
  }

  /** Release `f` with this model (e.g. the truncated reading variant, model/reader.ts). */
  onDispose(f: () => Promise<void>): void {
    this.disposers.push(f);
  }
  private readonly disposers: (() => Promise<void>)[] = [];

  private resolveHiddenLayers(req: ForwardInput['hiddenLayers']): number[] {
    if (req === undefined || req === 'none') return [];
    const available = this.session.hiddenOutputs;
    if (req === 'all') {
      if (!available.size) throw new Error(`${this.session.path} has no hidden_states outputs: load it with prepare: true`);
      return [...available.keys()];
    }
    for (const l of req)
      if (!available.has(l))
        throw new Error(
          available.size
            ? `hidden layer ${l} out of range: this model has hidden_states.0..${this.numLayers} (0 = embeddings, k = after block k)`
            : `${this.session.path} has no hidden_states outputs: load it with prepare: true`,
        );
    return req;
  }

  private steerTensors(steer: SteerInput | undefined, x: ReturnType<typeof batchInputs>): SteerTensors | undefined {
    if (!steer) return undefined;
    return typeof steer === 'function' ? steer({ batch: x.batch, seq: x.seq, positionIds: x.positionIds, mask: x.mask }) : steer;
  }

  /** Every steer.k / ablate.k input gets a tensor: the caller's, else the shared zero. */
  private feedLayerInputs(
    feeds: Record<string, ort.Tensor>,
    kind: 'steer' | 'ablate',
    inputs: Map<number, string>,
    given: Map<number, LayerTensor> | undefined,
    batch: number,
    seq: number,
  ): void {
    if (given)
      for (const [layer, t] of given) {
        const name = inputs.get(layer);
        if (!name) {
          const have = [...inputs.keys()];
          throw new Error(
            have.length
              ? `no ${kind} input for layer ${layer}: this model has ${kind}.${have[0]}..${have[have.length - 1]}`
              : `${this.session.path} has no ${kind} inputs: load it with prepare: true${kind === 'ablate' ? ' and ablation: true' : ''}`,
          );
        }
        const [d0, d1, d2] = t.dims;
        // steer broadcasts over positions (1 | seq); ablate's middle dim is the subspace rank.
        const middleOk = kind === 'steer' ? d1 === 1 || d1 === seq : d1 >= 1 && d1 <= this.hiddenSize;
        if ((d0 !== 1 && d0 !== batch) || !middleOk || d2 !== this.hiddenSize || t.data.length !== d0 * d1 * d2)
          throw new Error(
            `${kind}.${layer}: tensor dims [${t.dims}] (${t.data.length} values) do not fit [1|${batch}, ${kind === 'steer' ? `1|${seq}` : 'rank'}, ${this.hiddenSize}]`,
          );
        feeds[name] = this.floatTensor(t.data, t.dims);
      }
    for (const name of inputs.values()) feeds[name] ??= this.zeroLayer;
  }

  /** A steer / ablate tensor in the residual stream's float type, from float32 values. */
  private floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
    return this.session.residualType === 'float16'
      ? new ort.Tensor('float16', floatToHalf(data), dims)
      : new ort.Tensor('float32', data, dims);
  }

  /** [batch, seq, width] output as float32; lastOnly keeps the last column. */
  private toFloat32(t: ort.Tensor, seq: number, width: number, lastOnly: boolean): Float32Array {
    const data = t.data as Float32Array | Uint16Array;
    const batch = t.dims[0]!;
    // One column (a decode step) is already [batch, width]: the output itself, no copy.
    if (!lastOnly || seq === 1) return data instanceof Float32Array ? data : halfToFloat(data);
    const out = new Float32Array(batch * width);
    for (let b = 0; b < batch; b++) {
      const start = (b * seq + seq - 1) * width;
      out.set(data instanceof Float32Array ? data.subarray(start, start + width) : halfToFloat(data, start, start + width), b * width);
    }
    return out;
  }
}

/** Integer values as the element type the graph declares for that input. */
function intTensor(type: 'int32' | 'int64', values: ArrayLike<number> | BigInt64Array, dims: number[]): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', values instanceof BigInt64Array ? values : toInt64(values), dims);
  return new ort.Tensor('int32', values instanceof BigInt64Array ? Int32Array.from(values, Number) : Int32Array.from(values as ArrayLike<number>), dims);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * int32-range integers as int64, written as two 32-bit words (value, sign) without a BigInt each: a
 * decode step's attention mask grows with the context, and BigInt64Array.from cost ~0.15 us a value.
 */
function toInt64(values: ArrayLike<number>): BigInt64Array {
  if (!LITTLE_ENDIAN) return BigInt64Array.from(values, (v) => BigInt(v));
  const out = new BigInt64Array(values.length);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    words[2 * i] = v;
    words[2 * i + 1] = v >> 31;
  }
  return out;
}

function countRow(mask: Uint8Array, b: number, seq: number): number {
  let c = 0;
  for (let s = 0; s < seq; s++) c += mask[b * seq + s]!;
  return c;
}
