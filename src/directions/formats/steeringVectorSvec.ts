// IBM activation-steering `.svec` files (SteeringVector.save / load): JSON
//   {"model_type": str, "directions": {"<layer_id>": [floats]}, "explained_variances": {"<layer_id>": float}}
// Its layer_id is the 0-based decoder block: read_representations reads hidden_states[layer_id + 1]
// (batched_get_hiddens), and MalleableModel steers the output of that block. So layer_id = our
// layer - 1. Negative ids count from the end (they normalise id < 0 to n_layers + id).

import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../io/atomic.js';
import { parseJson } from '../../io/json.js';
import type { PersonaVectorSet } from '../vectorFile.js';
import { checkWidth, importedSet, layerVector, VectorFormatError, type ExportOptions, type ModelShape } from './common.js';

export const SVEC_LAYER_OFFSET = 1;

export function exportSvec(set: PersonaVectorSet, path: string, opts: ExportOptions = {}): number[] {
  const kind = opts.kind ?? 'response_avg';
  const L = set.meta.model.numLayers;
  const layers = opts.layers ?? Array.from({ length: L }, (_, i) => i + 1);
  for (const k of layers) {
    if (k < 1 || k > L) throw new VectorFormatError(`${path}: layer ${k} cannot be written: .svec ids are 0-based blocks (our layers 1..${L}); layer 0, the embedding output, has none`);
  }
  const directions: Record<string, number[]> = {};
  const explained: Record<string, number> = {};
  const ev = (set.meta.explainedVariance as Record<string, number[]> | undefined)?.[kind];
  for (const k of layers) {
    directions[String(k - SVEC_LAYER_OFFSET)] = Array.from(layerVector(set, kind, k, !!opts.normalize, path));
    // PCA methods record the first component's explained variance ratio; other methods have none,
    // and activation-steering's own mean_diff writes 1.0 in that case.
    explained[String(k - SVEC_LAYER_OFFSET)] = ev?.[k] ?? 1.0;
  }
  writeFileAtomic(path, JSON.stringify({ model_type: set.meta.model.modelType, directions, explained_variances: explained }));
  return layers.map((k) => k - SVEC_LAYER_OFFSET);
}

export function importSvec(path: string, model: ModelShape, trait: string): { set: PersonaVectorSet; notes: string[] } {
  let json: unknown;
  try {
    json = parseJson(readFileSync(path, 'utf8'), path); // FILE:LINE:COLUMN on a syntax error
  } catch (e) {
    throw new VectorFormatError((e as Error).message);
  }
  const o = json as { model_type?: unknown; directions?: unknown; explained_variances?: unknown };
  if (!o || typeof o !== 'object' || typeof o.directions !== 'object' || o.directions === null) throw new VectorFormatError(`${path}: field 'directions' missing (expected {"<layer>": [floats]})`);
  const notes: string[] = [];
  if (typeof o.model_type === 'string' && o.model_type !== model.modelType) notes.push(`model_type '${o.model_type}' differs from the model's '${model.modelType}'`);
  const rows = new Map<number, Float32Array>();
  for (const [key, values] of Object.entries(o.directions as Record<string, unknown>)) {
    if (!/^-?\d+$/.test(key)) throw new VectorFormatError(`${path}: directions key '${key}' is not a layer id`);
    const id = Number(key) < 0 ? model.numLayers + Number(key) : Number(key);
    const layer = id + SVEC_LAYER_OFFSET;
    if (!Array.isArray(values) || values.some((x) => typeof x !== 'number')) throw new VectorFormatError(`${path}: directions['${key}'] must be an array of numbers`);
    checkWidth(values, model, `${path}: directions['${key}']`);
    if (layer < 1 || layer > model.numLayers) throw new VectorFormatError(`${path}: directions['${key}'] is block ${id}, out of range 0..${model.numLayers - 1}`);
    rows.set(layer, Float32Array.from(values as number[]));
  }
  if (!rows.size) throw new VectorFormatError(`${path}: 'directions' is empty`);
  return { set: importedSet(trait, model, 'response_avg', rows, { format: 'activation-steering svec', file: path, modelType: o.model_type ?? null }), notes };
}
