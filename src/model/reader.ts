// The model to read hidden states with: a session on the instrumented graph pruned after the
// deepest layer wanted (instrument/truncate.ts), so reading layer k costs blocks 1..k and no LM
// head. One variant is kept open per model (the last deepest layer asked for) and released with it.
// Falls back to the model itself when its graph cannot be pruned (merged decoders with If nodes).

import { openSession } from './session.js';
import { SteerableModel } from './steerableModel.js';
import { truncatedModel } from './instrument/truncate.js';

interface Open {
  deepest: number;
  reader: Promise<SteerableModel>;
}
const open = new WeakMap<SteerableModel, Open>();

/** A model whose forward gives the same hidden states 0..deepest as `model`'s, computing no more. */
export async function readerFor(model: SteerableModel, deepest: number): Promise<SteerableModel> {
  if (!model.session.hiddenOutputs.has(deepest)) return model; // forward will name the problem
  const cur = open.get(model);
  if (cur?.deepest === deepest) return cur.reader;
  if (cur) {
    open.delete(model);
    const old = await cur.reader;
    if (old !== model) await old.session.session.release();
  }
  const reader = (async () => {
    const path = truncatedModel(model.session.path, deepest);
    if (!path) return model;
    const session = await openSession(path, model.session.options, { logits: false });
    return new SteerableModel({ dir: model.dir, config: model.config, tokenizer: model.tokenizer, manifest: model.manifest, session });
  })();
  if (!cur) model.onDispose(async () => {
    const last = open.get(model);
    open.delete(model);
    const r = last && (await last.reader);
    if (r && r !== model) await r.session.session.release();
  });
  open.set(model, { deepest, reader });
  return reader;
}
