// The model to read hidden states with: a session on the instrumented graph pruned after the
// deepest layer wanted (instrument/truncate.ts), so reading layer k costs blocks 1..k and no LM
// head. The variants last asked for stay open (at most KEEP per model, least recently used closed
// first; each holds the weights of its blocks) and are released with the model. Falls back to the
// model itself when its graph cannot be pruned (merged decoders with If nodes).

import { openSession } from './session.js';
import { SteerableModel } from './steerableModel.js';
import { truncatedModel } from './instrument/truncate.js';

/** Open variants per model: enough for a reading loop that alternates two depths. */
const KEEP = 2;
/** deepest layer -> variant, most recently used last. */
const open = new WeakMap<SteerableModel, Map<number, Promise<SteerableModel>>>();

async function release(model: SteerableModel, variant: Promise<SteerableModel>): Promise<void> {
  const r = await variant;
  if (r !== model) await r.session.session.release();
}

/** A model whose forward gives the same hidden states 0..deepest as `model`'s, computing no more. */
export async function readerFor(model: SteerableModel, deepest: number): Promise<SteerableModel> {
  if (!model.session.hiddenOutputs.has(deepest)) return model; // forward will name the problem
  let variants = open.get(model);
  if (!variants) {
    const mine = (variants = new Map());
    open.set(model, mine);
    model.onDispose(async () => {
      for (const v of mine.values()) await release(model, v);
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
      await release(model, v);
    }
  const reader = (async () => {
    const path = truncatedModel(model.session.path, deepest);
    if (!path) return model;
    const session = await openSession(path, model.session.options, { logits: false });
    return new SteerableModel({ dir: model.dir, config: model.config, tokenizer: model.tokenizer, manifest: model.manifest, session });
  })();
  variants.set(deepest, reader);
  return reader;
}
