// persona_vectors' own vector files: `torch.save` of one float32 tensor [L+1, H] per kind, named
// `{trait}_{prompt_avg|response_avg|prompt_last}_diff.pt`. Row l is mean(pos) - mean(neg) of
// Hugging Face hidden_states[l] (row 0 = embedding output), and their `--layer L` reads row L and
// hooks `model.layers[L-1]`, whose output is hidden_states[L]: their L is our layer L, no shift.

import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readTorchFile, writeTorchTensor, type TorchTensor } from '../../io/torchFile.js';
import { VECTOR_KINDS, type PersonaVectorSet, type VectorKind } from '../vectorFile.js';
import { importedSet, VectorFormatError, type ModelShape } from './common.js';

export function personaVectorsPtName(trait: string, kind: VectorKind): string {
  return `${trait}_${kind}_diff.pt`;
}

/** Writes one .pt per kind of the set into `dir`; returns the paths. */
export function exportPersonaVectorsPt(set: PersonaVectorSet, dir: string): string[] {
  const H = set.meta.model.hiddenSize;
  return set.meta.kinds.map((kind) => {
    const rows = set.vectors[kind];
    const flat = new Float32Array(rows.length * H);
    rows.forEach((v, l) => flat.set(v, l * H));
    const path = join(dir, personaVectorsPtName(set.meta.trait, kind));
    writeTorchTensor(path, flat, [rows.length, H]);
    return path;
  });
}

/** Reads one persona_vectors .pt into rows 0..L, checked against the model. */
export function readPersonaVectorsPt(path: string, model: ModelShape): Float32Array[] {
  const t = readTorchFile(path) as TorchTensor;
  if (t?.kind !== 'tensor') throw new VectorFormatError(`${path}: holds ${Array.isArray(t) ? 'a list' : typeof t}, expected one tensor [layers+1, hidden]`);
  const [rows, H] = t.shape;
  if (t.shape.length !== 2 || rows !== model.numLayers + 1 || H !== model.hiddenSize) {
    throw new VectorFormatError(`${path}: tensor has shape [${t.shape}], expected [${model.numLayers + 1}, ${model.hiddenSize}] for ${model.path} (num_hidden_layers + 1 rows, row 0 = embeddings)`);
  }
  return Array.from({ length: rows }, (_, l) => t.data.slice(l * H, (l + 1) * H));
}

/**
 * Imports `{trait}_{kind}_diff.pt` files: give one file (its kind and trait come from the name) or
 * a directory and the trait (every kind present there is read).
 */
export function importPersonaVectorsPt(pathOrDir: string, model: ModelShape, trait?: string): PersonaVectorSet {
  const files: { kind: VectorKind; path: string }[] = [];
  let name = trait;
  const m = /^(.+)_(response_avg|prompt_avg|prompt_last)_diff\.pt$/.exec(basename(pathOrDir));
  if (m) {
    name ??= m[1]!;
    files.push({ kind: m[2] as VectorKind, path: pathOrDir });
  } else {
    if (!trait) throw new VectorFormatError(`${pathOrDir}: not named {trait}_{response_avg|prompt_avg|prompt_last}_diff.pt; give the trait to read a directory`);
    for (const kind of VECTOR_KINDS) {
      const p = join(pathOrDir, personaVectorsPtName(trait, kind));
      if (existsSync(p)) files.push({ kind, path: p });
    }
    if (!files.length) throw new VectorFormatError(`${pathOrDir}: no ${trait}_{response_avg|prompt_avg|prompt_last}_diff.pt files`);
  }
  const first = files[0]!;
  const set = importedSet(name!, model, first.kind, new Map(readPersonaVectorsPt(first.path, model).map((v, l) => [l, v])), { format: 'persona_vectors .pt', files: files.map((f) => f.path) });
  for (const f of files.slice(1)) set.vectors[f.kind] = readPersonaVectorsPt(f.path, model);
  set.meta.kinds = files.map((f) => f.kind);
  return set;
}
