// Projections of activations on persona vectors: a·v/|v| (the paper's monitoring and screening
// measure) and the cosine, at any layer and position kind, for single examples and for whole
// datasets streamed in chunks (memory does not grow with the dataset).
//
// Position kinds are those of extraction (prompt mean, response mean, last prompt token, a token
// index) plus 'per-token': one value per response token.

import { extractActivations } from '../activations/extract.js';
import { positionKey, type PositionSpec, type TokenizedExample } from '../activations/positions.js';
import { cosine, projection } from '../directions/meanAccumulator.js';
import { checkVectorModel, loadPersonaVectors, vectorFor, type VectorKind } from '../directions/vectorFile.js';
import type { SteerableModel } from '../model/steerableModel.js';

export type ProjectionPosition = PositionSpec | 'per-token';

export interface ProjectionSpec {
  /** Column stem (see projectionName). */
  name: string;
  vector: Float32Array;
  /** hidden_states index: 0 = embeddings, k = after block k. */
  layer: number;
  position: ProjectionPosition;
  /** Short name of the vector (its trait), for labels; set by specsFromVectorFiles. */
  label?: string;
}

/**
 * Scalars for reduced positions; one entry per response token for 'per-token'. null: a
 * 'response-mean' of an empty answer (no tokens to average; an answer the model ended at once).
 */
export interface ProjectionValue {
  proj: number | number[] | null;
  cos: number | number[] | null;
}

export function positionLabel(p: ProjectionPosition): string {
  return p === 'per-token' ? 'per-token' : positionKey(p);
}

/** Column stem naming what was projected: model.vector[-kind].position.Llayer */
export function projectionName(model: string, vector: string, position: ProjectionPosition, layer: number, kind = 'response_avg'): string {
  return `${model}.${vector}${kind === 'response_avg' ? '' : `-${kind}`}.${positionLabel(position)}.L${layer}`;
}

/** Parse 'response-mean', 'prompt-mean', 'last-prompt', 'per-token' or 'index:N'. */
export function parseProjectionPosition(s: string, what = 'position'): ProjectionPosition {
  if (s === 'response-mean' || s === 'prompt-mean' || s === 'last-prompt' || s === 'per-token') return s;
  const m = /^index:(-?\d+)$/.exec(s);
  if (m) return { index: Number(m[1]) };
  throw new Error(`${what}: unknown position '${s}' (use response-mean, prompt-mean, last-prompt, per-token or index:N)`);
}

/** Checks before any forward pass: every layer exists, every vector has the model's width. */
export function validateSpecs(model: SteerableModel, specs: ProjectionSpec[]): void {
  if (!specs.length) throw new Error('projections: nothing to project (no vector x layer x position)');
  for (const s of specs) {
    if (!Number.isInteger(s.layer) || s.layer < 0 || s.layer > model.numLayers) {
      throw new Error(`${s.name}: layer ${s.layer} out of range 0..${model.numLayers} (0 = embeddings, k = after block k)`);
    }
    if (s.vector.length !== model.hiddenSize) throw new Error(`${s.name}: vector has size ${s.vector.length}, the model's hidden size is ${model.hiddenSize}`);
  }
}

/** Projections of tokenized prompt+response examples, in input order, one record per example. */
export async function projectExamples(
  model: SteerableModel,
  examples: TokenizedExample[],
  specs: ProjectionSpec[],
  opts: { batchSize?: number } = {},
): Promise<Record<string, ProjectionValue>[]> {
  validateSpecs(model, specs);
  const H = model.hiddenSize;
  const layers = [...new Set(specs.map((s) => s.layer))].sort((a, b) => a - b);
  const reduced = specs.filter((s) => s.position !== 'per-token').map((s) => s.position as PositionSpec);
  const positions = [...new Map(reduced.map((p) => [positionKey(p), p])).values()];
  const perToken = specs.some((s) => s.position === 'per-token');
  // An empty answer has no response mean: those rows are read without it and get null there.
  const empty = examples.map((e) => e.promptLength === e.ids.length);
  const read = async (rows: number[], kinds: PositionSpec[]) =>
    rows.length
      ? extractActivations(
          model,
          rows.map((i) => ({ promptIds: examples[i]!.ids.slice(0, examples[i]!.promptLength), responseIds: examples[i]!.ids.slice(examples[i]!.promptLength) })),
          // extractActivations wants at least one reduction; the last prompt token is always defined.
          { layers, positions: kinds.length ? kinds : ['last-prompt'], keepTokens: perToken, batchSize: opts.batchSize },
        )
      : [];
  const full = examples.flatMap((_, i) => (empty[i] ? [] : [i]));
  const bare = examples.flatMap((_, i) => (empty[i] ? [i] : []));
  const [a, b] = [await read(full, positions), await read(bare, positions.filter((p) => p !== 'response-mean'))];
  const acts = examples.map((_, i) => (empty[i] ? b[bare.indexOf(i)]! : a[full.indexOf(i)]!));
  return acts.map((a) => {
    const out: Record<string, ProjectionValue> = {};
    for (const s of specs) {
      const j = a.layers.indexOf(s.layer);
      if (s.position === 'per-token') {
        const block = a.tokens![j]!;
        const proj: number[] = [];
        const cos: number[] = [];
        for (let t = a.promptLength; t < a.ids.length; t++) {
          const h = block.subarray(t * H, (t + 1) * H);
          proj.push(projection(h, s.vector));
          cos.push(cosine(h, s.vector));
        }
        out[s.name] = { proj, cos };
      } else {
        const h = a.at[positionKey(s.position)]?.[j];
        out[s.name] = h ? { proj: projection(h, s.vector), cos: cosine(h, s.vector) } : { proj: null, cos: null };
      }
    }
    return out;
  });
}

/** Short name of a model folder or vector file for column names: its last path part, no extension. */
export const stem = (path: string): string => path.replace(/[/\\]+$/, '').split(/[/\\]/).pop()!.replace(/\.safetensors$/, '');

/**
 * Projection specs for vector files x layers x positions on `model`, checked up front: a vector
 * made on a model of another shape, or a layer the file or the model lacks, is an error naming it.
 */
export function specsFromVectorFiles(
  model: SteerableModel,
  files: string[],
  layers: number[],
  positions: ProjectionPosition[],
  kind: VectorKind = 'response_avg',
): ProjectionSpec[] {
  const identity = { path: model.dir, modelType: model.config.modelType, numLayers: model.numLayers, hiddenSize: model.hiddenSize };
  const specs: ProjectionSpec[] = [];
  const sets = files.map((file) => {
    const set = loadPersonaVectors(file);
    checkVectorModel(set, identity, file);
    return set;
  });
  // A vector is named by its trait (files from `persona extract` are all called vectors.safetensors),
  // or by its file name when two files share a trait.
  const traits = sets.map((s) => s.meta.trait);
  const names = files.map((f, i) => (traits.indexOf(traits[i]!) === traits.lastIndexOf(traits[i]!) ? traits[i]! : stem(f)));
  files.forEach((file, i) => {
    for (const layer of layers) {
      if (!Number.isInteger(layer) || layer < 0 || layer > model.numLayers) throw new Error(`--layer ${layer}: out of range 0..${model.numLayers} for ${model.dir} (0 = embeddings, k = after block k)`);
      const vector = vectorFor(sets[i]!, layer, model.hiddenSize, kind, file);
      for (const position of positions) specs.push({ name: projectionName(stem(model.dir), names[i]!, position, layer, kind), vector, layer, position, label: names[i]! });
    }
  });
  validateSpecs(model, specs);
  return specs;
}
