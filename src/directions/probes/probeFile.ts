// Probes on disk: `<name>.safetensors` holds `weight` [L+1, C, H] and `bias` [L+1, C] (row k reads
// hidden_states[k]; weights in the raw hidden-state space, standardisation folded in), optionally
// `centroid` [L+1, C, H] (class means of the training readings), and
// `<name>.json` beside it says what they read: attribute, classes, reading suffix, model, layer
// convention, cross-validated accuracy per layer, data hash, solver settings.

import { existsSync, readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../../io/atomic.js';
import { readSafetensors, writeSafetensors } from '../../io/safetensors.js';
import { LAYER_CONVENTION, sidecarPath } from '../vectorFile.js';
import { readJsonFile } from '../../io/json.js';

export const PROBE_FORMAT = 'persona-steer/probe@1';

/** How a probe row maps to an intervention point; the two papers' code differ by one here. */
export const PROBE_PAIRING =
  'the probe of hidden_states[k] is applied at the output of decoder block k (the same tensor it reads); TalkTuner hooks the block whose output is hidden_states[k], Reading Between the Prompts one block lower';

export interface ProbeSidecar {
  format: typeof PROBE_FORMAT;
  attribute: string;
  classes: string[];
  /** The reading suffix appended after the templated conversation; null = control probe (no suffix). */
  suffix: string | null;
  model: { path: string; modelType: string; numLayers: number; hiddenSize: number; sha256: string | null };
  layerConvention: string;
  pairing: string;
  fit: { solver: 'lbfgs'; C: number; standardize: boolean; iterations: number[]; converged: boolean[] };
  cv: { k: number; seed: number; mean: number[]; std: number[]; folds: number[][]; confusion: number[][][] };
  data: { rows: number; counts: Record<string, number>; sha256: string; file?: string };
  createdAt: string;
  run?: string;
  [extra: string]: unknown;
}

export interface ProbeSet {
  /** Per layer 0..L: [C, H] row-major. */
  weight: Float32Array[];
  /** Per layer 0..L: [C]. */
  bias: Float32Array[];
  /** Per layer 0..L: [C, H] class means of the training readings (absent in files without them). */
  centroid?: Float32Array[];
  meta: ProbeSidecar;
}

export function saveProbe(path: string, probe: ProbeSet): void {
  if (!path.endsWith('.safetensors')) throw new Error(`${path}: probes are saved as .safetensors`);
  const { classes, model } = probe.meta;
  const [C, H, L1] = [classes.length, model.hiddenSize, probe.weight.length];
  const weight = new Float32Array(L1 * C * H);
  const bias = new Float32Array(L1 * C);
  const centroid = probe.centroid ? new Float32Array(L1 * C * H) : undefined;
  probe.weight.forEach((w, l) => {
    if (w.length !== C * H) throw new Error(`${path}: layer ${l} weight has ${w.length} values, expected ${C} x ${H}`);
    weight.set(w, l * C * H);
    bias.set(probe.bias[l]!, l * C);
    centroid?.set(probe.centroid![l]!, l * C * H);
  });
  const tensors = { weight: { data: weight, shape: [L1, C, H] }, bias: { data: bias, shape: [L1, C] } };
  writeSafetensors(path, centroid ? { ...tensors, centroid: { data: centroid, shape: [L1, C, H] } } : tensors, {
    format: PROBE_FORMAT,
    attribute: probe.meta.attribute,
  });
  writeJsonAtomic(sidecarPath(path), probe.meta);
}

export function loadProbe(path: string): ProbeSet {
  const side = sidecarPath(path);
  if (!existsSync(path)) throw new Error(`${path}: probe file not found`);
  if (!existsSync(side)) throw new Error(`${side}: probe metadata not found (expected next to ${path})`);
  const meta = readJsonFile(side) as ProbeSidecar;
  if (meta.format !== PROBE_FORMAT) throw new Error(`${side}: field 'format' is ${JSON.stringify(meta.format)}, expected ${PROBE_FORMAT}`);
  if (!Array.isArray(meta.classes) || meta.classes.length < 2) throw new Error(`${side}: field 'classes' must list at least two classes`);
  const H = meta.model?.hiddenSize;
  if (!Number.isInteger(H)) throw new Error(`${side}: field 'model.hiddenSize' missing`);
  const C = meta.classes.length;
  const { tensors } = readSafetensors(path);
  const w = tensors['weight'];
  const b = tensors['bias'];
  if (!w) throw new Error(`${path}: tensor 'weight' missing`);
  if (!b) throw new Error(`${path}: tensor 'bias' missing`);
  if (w.shape.length !== 3 || w.shape[1] !== C || w.shape[2] !== H)
    throw new Error(`${path}: tensor 'weight' has shape [${w.shape}], expected [layers, ${C}, ${H}] (${C} classes, hidden size ${H})`);
  const L1 = w.shape[0]!;
  if (b.shape.length !== 2 || b.shape[0] !== L1 || b.shape[1] !== C) throw new Error(`${path}: tensor 'bias' has shape [${b.shape}], expected [${L1}, ${C}]`);
  const m = tensors['centroid'];
  if (m && (m.shape.length !== 3 || m.shape[0] !== L1 || m.shape[1] !== C || m.shape[2] !== H))
    throw new Error(`${path}: tensor 'centroid' has shape [${m.shape}], expected [${L1}, ${C}, ${H}]`);
  const perLayer = (data: Float32Array, n: number) => Array.from({ length: L1 }, (_, l) => data.slice(l * n, (l + 1) * n));
  return { weight: perLayer(w.data, C * H), bias: perLayer(b.data, C), ...(m ? { centroid: perLayer(m.data, C * H) } : {}), meta };
}

/** Refuse a probe made for another model shape before any work is done. */
export function checkProbeFits(probe: ProbeSet, model: { hiddenSize: number; numLayers: number }, source = 'probe'): void {
  const m = probe.meta.model;
  if (m.hiddenSize !== model.hiddenSize)
    throw new Error(`${source}: made for hidden size ${m.hiddenSize} (${m.path}), but the model has hidden size ${model.hiddenSize}`);
  if (probe.weight.length !== model.numLayers + 1)
    throw new Error(`${source}: has ${probe.weight.length} layers of weights (${m.path}), the model has hidden_states 0..${model.numLayers}`);
}

export function classIndex(probe: ProbeSet, cls: string, source = 'probe'): number {
  const i = probe.meta.classes.indexOf(cls);
  if (i < 0) throw new Error(`${source}: no class '${cls}' for ${probe.meta.attribute} (classes: ${probe.meta.classes.join(', ')})`);
  return i;
}

/** Row c of layer k's weight: the direction that raises class c's logit. */
export function classDirection(probe: ProbeSet, layer: number, c: number): Float32Array {
  return row(probe, probe.weight, 'weight', layer, c);
}

/**
 * From the reference readings to class c's mean at layer k: the mean of the "neutral" class when
 * the probe has one (no cue -> cue of class c), else the mean of all class means.
 */
export function centroidDirection(probe: ProbeSet, layer: number, c: number): Float32Array {
  if (!probe.centroid) throw new Error(`probe ${probe.meta.attribute}: the file has no 'centroid' tensor (retrain it with this version)`);
  const C = probe.meta.classes.length;
  const target = row(probe, probe.centroid, 'centroid', layer, c);
  const n = probe.meta.classes.indexOf('neutral');
  const rows = n >= 0 ? [n] : [...Array(C).keys()];
  const ref = new Float32Array(target.length);
  for (const r of rows) row(probe, probe.centroid, 'centroid', layer, r).forEach((x, h) => (ref[h]! += x / rows.length));
  return target.map((x, h) => x - ref[h]!);
}

function row(probe: ProbeSet, layers: Float32Array[], what: string, layer: number, c: number): Float32Array {
  const w = layers[layer];
  if (!w) throw new Error(`probe ${probe.meta.attribute}: ${what} layer ${layer} out of range 0..${layers.length - 1}`);
  const H = probe.meta.model.hiddenSize;
  return w.slice(c * H, (c + 1) * H);
}
