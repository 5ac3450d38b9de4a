// The model to read hidden states with: a session on the instrumented graph pruned after the
// deepest layer wanted (instrument/truncate.ts), so reading layer k costs blocks 1..k and no LM
// head. The variants last asked for stay open (at most KEEP per model, least recently used closed
// first; each holds the weights of its blocks) and are released with the model. Falls back to the
// model itself when its graph cannot be pruned (merged decoders with If nodes). On cpu the variant
// runs its attention blocks fused (instrument/fuseAttention.ts) once a check on a small ragged
// batch has shown it gives the whole graph's hidden states; a variant failing it is remembered
// and the plain one used.

import { poolSize, ReadingPool } from './readingPool.js';
import { openSession } from './session.js';
import { SteerableModel } from './steerableModel.js';
import { isFused, recordFusionCheck, truncatedModel } from './instrument/truncate.js';

/** Open variants per model: enough for a reading loop that alternates two depths. */
const KEEP = 2;
/** deepest layer -> variant, most recently used last. */
const open = new WeakMap<SteerableModel, Map<number, Promise<SteerableModel>>>();

/** A reader's data-parallel sessions (readingPool.ts): `ready` once open, none if they did not start. */
export interface PoolHandle {
  sessions: number;
  opening: Promise<ReadingPool | undefined>;
  ready?: ReadingPool;
  /** The open failed: a default read keeps to one session; a count asked for tries again. */
  failed?: boolean;
}

/** reader -> its pool, closed with it. */
const pools = new WeakMap<SteerableModel, PoolHandle>();

/** Closes a handle's pool once its opening has settled (a failed open has nothing to close). */
async function closePool(handle: PoolHandle | undefined, why: string): Promise<void> {
  await (await handle?.opening.catch(() => undefined))?.close(why);
}

async function release(model: SteerableModel, variant: Promise<SteerableModel>, why: string): Promise<void> {
  const r = await variant;
  const pool = pools.get(r);
  pools.delete(r);
  await closePool(pool, why);
  if (r !== model) await r.session.session.release();
}

/** The pool a reader holds now, if any (opens nothing). */
export function heldPool(reader: SteerableModel): PoolHandle | undefined {
  return pools.get(reader);
}

/**
 * Sessions reading a reader's batches in parallel, one share of the rows each (readingPool.ts), or
 * undefined where one session is best (one core, large weights, not cpu, `readers` 1). Opened on
 * first use, in the background (callers read on the one session until `ready` is set), and kept
 * with the reader; `readers` of 2 or more reopens it at that size. A pool that cannot start (a
 * session refusing to open in a worker) leaves the reading to the one session, said once; unless
 * `readers` asked for it, when `opening` rejects (and the next such call tries again). A pool one of
 * whose workers died is replaced on the next call.
 */
export async function readingPoolFor(reader: SteerableModel, readers?: number): Promise<PoolHandle | undefined> {
  const { sessions, threads } = poolSize(reader, readers);
  if (sessions < 2) return undefined; // a pool already open stays, for the reads that want it
  const held = pools.get(reader);
  const broken = held?.ready && !held.ready.usable;
  if (held?.sessions === sessions && !broken && !(held.failed && readers !== undefined)) return held;
  // Set before anything is awaited, so that calls made together share one pool.
  const open = () => ReadingPool.open(reader, sessions, threads);
  // A pool replaced finishes the reads it is in, then closes; new batches go to this one (or to the
  // one session while it opens).
  const replacing = held?.opening.catch(() => undefined).then((old) => void old?.retire());
  const handle: PoolHandle = { sessions, opening: replacing ? replacing.then(open) : open() };
  handle.opening.catch(() => (handle.failed = true));
  if (readers === undefined)
    handle.opening = handle.opening.catch((e: Error) => {
      process.emitWarning(`reading on one session: the ${sessions} parallel reading sessions did not start (${e.message})`);
      return undefined;
    });
  handle.opening.then((p) => (handle.ready = p), () => {});
  pools.set(reader, handle);
  return handle;
}

/** A model whose forward gives the same hidden states 0..deepest as `model`'s, computing no more. */
export async function readerFor(model: SteerableModel, deepest: number): Promise<SteerableModel> {
  if (!model.session.hiddenOutputs.has(deepest)) return model; // forward will name the problem
  let variants = open.get(model);
  if (!variants) {
    const mine = (variants = new Map());
    open.set(model, mine);
    model.onDispose(async () => {
      for (const v of mine.values()) await release(model, v, 'the model was disposed');
      mine.clear();
    });
  }
  const hit = variants.get(deepest);
  if (hit) {
    variants.delete(deepest);
    variants.set(deepest, hit);
    return hit;
  }
  for (const [k, v] of variants)
    if (variants.size >= KEEP) {
      variants.delete(k);
      await release(model, v, `its reading variant (layers up to ${k}) was closed for another depth`);
    }
  const reader = (async () => {
    const { numHeads, numKvHeads, headDim } = model.config;
    // float16 graphs stay unfused: the kernels' rounding differs by float16 steps, past what the check allows.
    const fuse = model.session.options.fuseAttention !== false && model.session.device === 'cpu' && model.session.residualType === 'float32' ? { numHeads, numKvHeads, headDim } : undefined;
    const open = async (path: string) => {
      const session = await openSession(path, model.session.options, { logits: false });
      return new SteerableModel({ dir: model.dir, config: model.config, tokenizer: model.tokenizer, manifest: model.manifest, session });
    };
    const variant = truncatedModel(model.session.path, deepest, { fuse });
    if (!variant) return model;
    if (!isFused(variant.fused) || variant.checked) return open(variant.path);
    // A fused variant ORT refuses to load or run counts as one that fails the check.
    const r = await open(variant.path).catch(() => null);
    const ok = !!r && (await fusionHolds(model, r).catch(() => false));
    recordFusionCheck(model.session.path, deepest, ok);
    if (ok) return r!;
    await r?.session.session.release();
    return open(truncatedModel(model.session.path, deepest)!.path);
  })();
  variants.set(deepest, reader);
  return reader;
}

/** Rows of the check: ragged, the first one padded and a later one not (a kernel reading row 0 for all shows). */
const CHECK_ROWS = [4, 7, 5];
/** Largest difference a fused variant may show, relative to the layer's largest |value|. */
const CHECK_TOLERANCE = 1e-4;

/**
 * Does the fused reading variant give the whole graph's hidden states (to float rounding) on a
 * small ragged batch? Guards the pattern match of instrument/fuseAttention.ts with the numbers:
 * a block it misread (other RoPE, other mask) shows up here as an O(1) difference.
 */
export async function fusionHolds(model: SteerableModel, reader: SteerableModel): Promise<boolean> {
  const V = model.config.vocabSize;
  const inputIds = CHECK_ROWS.map((n, b) => Array.from({ length: n }, (_, t) => 3 + ((b * 97 + t * 31) % (V - 3))));
  const layers = reader.hiddenLayers;
  const want = await model.forward({ inputIds, hiddenLayers: layers, useCache: false });
  const got = await reader.forward({ inputIds, hiddenLayers: layers, useCache: false });
  const H = model.hiddenSize;
  const rows = want.batch * want.seq;
  for (const l of layers) {
    const a = want.hidden.get(l)!;
    const b = got.hidden.get(l)!;
    let scale = 0;
    let diff = 0;
    for (let r = 0; r < rows; r++) {
      if (!want.attentionMask[r]) continue; // pads (no past: mask columns are the rows' positions): nothing reads them
      for (let i = r * H; i < (r + 1) * H; i++) {
        scale = Math.max(scale, Math.abs(a[i]!));
        diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
      }
    }
    if (!(diff <= CHECK_TOLERANCE * scale)) return false;
  }
  return true;
}
