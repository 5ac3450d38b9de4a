// Persona vectors on disk: `<name>.safetensors` holds three [L+1, H] tensors (response_avg, the main
// one; prompt_avg; prompt_last), the same shapes as the paper's released .pt files, and
// `<name>.json` beside it says what they are: model, trait, layer convention, counts, norms, scores.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../io/atomic.js';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';
import { norm } from './meanAccumulator.js';

export const VECTOR_KINDS = ['response_avg', 'prompt_avg', 'prompt_last'] as const;
export type VectorKind = (typeof VECTOR_KINDS)[number];

export const LAYER_CONVENTION =
  'index k = residual stream after decoder block k (1..L); index 0 = embedding output; same as Hugging Face output_hidden_states. Steering at layer k adds to the output of block k.';

export interface VectorSidecar {
  format: 'persona-steer/persona-vector@1';
  trait: string;
  model: { path: string; modelType: string; numLayers: number; hiddenSize: number };
  layerConvention: string;
  kinds: VectorKind[];
  counts: { pos: number; neg: number; generated?: number };
  norms: Record<VectorKind, number[]>;
  scores?: Record<string, number | null>;
  thresholds?: Record<string, number>;
  createdAt: string;
  run?: string;
  /**
   * sha256 of the .safetensors file this sidecar describes. The two files are written one after the
   * other; a crash or a second writer between them leaves a pair that this checksum catches on load.
   */
  tensorSha256?: string;
  [extra: string]: unknown;
}

export interface PersonaVectorSet {
  /** vectors[kind][layer] -> Float32Array(H), layer 0..L. */
  vectors: Record<VectorKind, Float32Array[]>;
  meta: VectorSidecar;
}

export function sidecarPath(path: string): string {
  return path.replace(/\.safetensors$/, '') + '.json';
}

export function savePersonaVectors(path: string, set: PersonaVectorSet): void {
  if (!path.endsWith('.safetensors')) throw new Error(`${path}: persona vectors are saved as .safetensors`);
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  const norms = {} as Record<VectorKind, number[]>;
  for (const kind of set.meta.kinds) {
    const layers = set.vectors[kind];
    const H = set.meta.model.hiddenSize;
    const flat = new Float32Array(layers.length * H);
    layers.forEach((v, l) => {
      if (v.length !== H) throw new Error(`${path}: ${kind} layer ${l} has size ${v.length}, model hidden size is ${H}`);
      flat.set(v, l * H);
    });
    tensors[kind] = { data: flat, shape: [layers.length, H] };
    norms[kind] = layers.map((v) => norm(v));
  }
  // Norms are derived data: recomputed on every save so the sidecar can never disagree with the tensors.
  set.meta.norms = norms;
  const bytes = Buffer.concat(encodeSafetensors(tensors, { format: set.meta.format, trait: set.meta.trait }));
  set.meta.tensorSha256 = sha256(bytes);
  writeFileAtomic(path, bytes);
  writeJsonAtomic(sidecarPath(path), set.meta);
}

export function loadPersonaVectors(path: string): PersonaVectorSet {
  const side = sidecarPath(path);
  if (!existsSync(path)) throw new Error(`${path}: vector file not found`);
  if (!existsSync(side)) throw new Error(`${side}: sidecar metadata not found (expected next to ${path})`);
  const meta = readJsonFile(side) as VectorSidecar;
  if (meta.format !== 'persona-steer/persona-vector@1') throw new Error(`${side}: field 'format' is ${JSON.stringify(meta.format)}, expected persona-steer/persona-vector@1`);
  const H = meta.model?.hiddenSize;
  if (!Number.isInteger(H)) throw new Error(`${side}: field 'model.hiddenSize' missing`);
  const bytes = readFileSync(path);
  if (meta.tensorSha256 !== undefined && meta.tensorSha256 !== sha256(bytes))
    throw new Error(`${side}: describes another version of ${path} (tensorSha256 does not match the file); the pair was not written together, re-save or re-extract the vectors`);
  const { tensors } = decodeSafetensors(bytes, path);
  const vectors = {} as Record<VectorKind, Float32Array[]>;
  for (const kind of meta.kinds) {
    const t = tensors[kind];
    if (!t) throw new Error(`${path}: tensor '${kind}' listed in the sidecar is missing`);
    if (t.shape.length !== 2 || t.shape[1] !== H) throw new Error(`${path}: tensor '${kind}' has shape [${t.shape}], expected [layers, ${H}]`);
    vectors[kind] = Array.from({ length: t.shape[0]! }, (_, l) => t.data.slice(l * H, (l + 1) * H));
    const bad = t.data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new Error(`${path}: tensor '${kind}' layer ${Math.floor(bad / H)} holds a non-finite value (${t.data[bad]}) at index ${bad % H}`);
  }
  return { vectors, meta };
}

/** The vector for one layer, checked against the model it will be applied to. */
export function vectorFor(set: PersonaVectorSet, layer: number, hiddenSize: number, kind: VectorKind = 'response_avg', source = 'vector'): Float32Array {
  if (set.meta.model.hiddenSize !== hiddenSize) {
    throw new Error(`${source}: made for hidden size ${set.meta.model.hiddenSize} (${set.meta.model.path}), but the model has hidden size ${hiddenSize}`);
  }
  const layers = set.vectors[kind];
  if (!layers) throw new Error(`${source}: has no '${kind}' vectors (has ${Object.keys(set.vectors).join(', ')})`);
  const v = layers[layer];
  if (!v) throw new Error(`${source}: layer ${layer} out of range 0..${layers.length - 1}`);
  return v;
}

/**
 * Refuses a vector file made on a model of another shape (its sidecar records the model), before
 * any work. Same-shape models pass: projecting a finetune on its base model's vectors is the point.
 */
export function checkVectorModel(set: PersonaVectorSet, model: { modelType: string; numLayers: number; hiddenSize: number; path: string }, source = 'vector'): void {
  const m = set.meta.model;
  const diffs = (['modelType', 'numLayers', 'hiddenSize'] as const).filter((k) => m[k] !== model[k]).map((k) => `${k} ${m[k]} vs ${model[k]}`);
  if (diffs.length) throw new Error(`${source}: made on another model (${m.path}: ${diffs.join(', ')}; this model is ${model.path})`);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
