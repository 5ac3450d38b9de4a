// What every foreign vector format shares: which of our layers to write, an optional unit-norm
// rescale, and the sidecar of a set imported from a file that carries none of our metadata.

import { norm } from '../meanAccumulator.js';
import { LAYER_CONVENTION, type PersonaVectorSet, type VectorKind } from '../vectorFile.js';

export class VectorFormatError extends Error {}

/** The model a vector file belongs to: what an import needs to fill the sidecar and check shapes. */
export interface ModelShape {
  path: string;
  modelType: string;
  numLayers: number;
  hiddenSize: number;
}

export interface ExportOptions {
  kind?: VectorKind;
  /** Our layer indices to export (default: every layer the format can hold). */
  layers?: number[];
  /** Rescale each exported layer to unit norm (IBM activation-steering and repeng's PCA vectors are unit norm). */
  normalize?: boolean;
}

export function layerVector(set: PersonaVectorSet, kind: VectorKind, layer: number, normalize: boolean, source: string): Float32Array {
  const v = set.vectors[kind]?.[layer];
  if (!v) throw new VectorFormatError(`${source}: no ${kind} vector at layer ${layer} (has layers 0..${(set.vectors[kind]?.length ?? 0) - 1})`);
  if (!normalize) return v;
  const n = norm(v);
  return n > 0 ? v.map((x) => x / n) : v;
}

/** A set holding one kind, rows 0..L, zero where the file had no direction. */
export function importedSet(trait: string, model: ModelShape, kind: VectorKind, rows: Map<number, Float32Array>, source: Record<string, unknown>): PersonaVectorSet {
  const H = model.hiddenSize;
  const layers = Array.from({ length: model.numLayers + 1 }, (_, l) => rows.get(l) ?? new Float32Array(H));
  return {
    vectors: { [kind]: layers } as Record<VectorKind, Float32Array[]>,
    meta: {
      format: 'persona-steer/persona-vector@1',
      trait,
      model: { ...model },
      layerConvention: LAYER_CONVENTION,
      kinds: [kind],
      counts: { pos: 0, neg: 0 },
      norms: {} as Record<VectorKind, number[]>,
      createdAt: new Date().toISOString(),
      importedFrom: source,
    },
  };
}

export function checkWidth(v: ArrayLike<number>, model: ModelShape, what: string): void {
  if (v.length !== model.hiddenSize) throw new VectorFormatError(`${what} has ${v.length} values, but the model (${model.path}) has hidden size ${model.hiddenSize}`);
}
