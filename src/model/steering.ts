// Steering specs and the per-call steer.k / ablate.k tensors they become.
//
// Layer convention: layer k = the residual stream output of decoder block k (1-based, k = 1..L);
// layer 0 = the embedding output. This is HF `output_hidden_states` indexing: steering layer k
// changes hidden_states[k] and everything after it, and a persona vector extracted from
// hidden_states[k] is applied at layer k.
//
// Positions are token indices within each row's own sequence (left pads not counted):
//   'all'      every token, at prefill and while decoding
//   'prompt'   prompt tokens only: the prefill, nothing while decoding
//   'response' the last prompt token and every generated token (the persona-vectors paper's choice)
//   number[]   exactly these token indices

import { MAX_RESIDUAL_NORM, norm, short } from './overflow.js';
import type { AblateTensors, SteerTensors, TokenPositions } from './steerableModel.js';

export type SteerPositions = 'all' | 'prompt' | 'response' | number[];

export interface SteeringVector {
  layer: number;
  vector: Float32Array;
  /** h_k <- h_k + coeff * vector. */
  coeff: number;
  /** Default 'all'. */
  positions?: SteerPositions;
}

/** Several vectors at once; vectors at the same layer and position are summed. */
export type Steering = SteeringVector[];

/**
 * Directional ablation: h <- h - (h . d) d with d = direction / |direction|. Several directions
 * at one layer (or `span`) remove the whole subspace they span: h <- h - (h U^T) U, U an
 * orthonormal basis of it. Erasing an attribute = ablating the span of its class directions.
 */
export type Ablation = { layer: number | 'all'; direction: Float32Array } | { layer: number | 'all'; span: Float32Array[] };

/** What a plan needs to know about the model (a SteerableModel fits). */
export interface SteerTarget {
  hiddenSize: number;
  numLayers: number;
  steerableLayers: number[];
}

export interface AblateTarget {
  hiddenSize: number;
  numLayers: number;
  ablatableLayers: number[];
}

export function validateSteering(model: SteerTarget, steering: Steering): void {
  steering.forEach((s, i) => checkSteeringVector(model, s, `steering[${i}]`));
  const perLayer = new Map<number, number>();
  for (const s of steering) perLayer.set(s.layer, (perLayer.get(s.layer) ?? 0) + 1);
  // A plan marks the vectors active at a token as bits of one int32.
  for (const [layer, n] of perLayer) if (n > MAX_PER_LAYER) throw new Error(`steering: ${n} vectors at layer ${layer}; at most ${MAX_PER_LAYER} per layer`);
}

const MAX_PER_LAYER = 30;

/** One steering vector's checks; `name` says which one in errors (`steering[0]`, or a request's `persona.steer[1]`). */
export function checkSteeringVector(model: SteerTarget, s: SteeringVector, name: string): void {
  const what = `${name} (layer ${s.layer})`;
  if (!Number.isInteger(s.layer) || s.layer < 0 || s.layer > model.numLayers)
    throw new Error(`${what}: layer out of range; layers are 0 (embeddings) .. ${model.numLayers} (after the last block)`);
  if (!model.steerableLayers.includes(s.layer))
    throw new Error(
      model.steerableLayers.length
        ? `${what}: the model has no steer input there (steerable layers: ${model.steerableLayers.join(', ')})`
        : `${what}: the model has no steer inputs; load it with prepare: true`,
    );
  if (!(s.vector instanceof Float32Array) || s.vector.length !== model.hiddenSize)
    throw new Error(`${what}: vector has ${s.vector?.length} values, the model's hidden size is ${model.hiddenSize}`);
  if (!Number.isFinite(s.coeff)) throw new Error(`${what}: coeff must be a finite number, got ${s.coeff}`);
  const added = Math.abs(s.coeff) * norm(s.vector);
  if (!Number.isFinite(added)) throw new Error(`${what}: vector holds a non-finite value`);
  // Past this the float32 norm layers square the residual to Infinity and the model outputs nothing.
  if (added >= MAX_RESIDUAL_NORM)
    throw new Error(`${what}: |coeff * vector| is ${short(added)}; float32 activations overflow above ${short(MAX_RESIDUAL_NORM)}`);
  const p = s.positions ?? 'all';
  if (Array.isArray(p)) {
    if (p.some((x) => !Number.isInteger(x) || x < 0))
      throw new Error(`${what}: positions must be non-negative token indices, got [${p.join(', ')}]`);
  } else if (p !== 'all' && p !== 'prompt' && p !== 'response') throw new Error(`${what}: unknown positions "${String(p)}"`);
}

/**
 * A steering plan for forward(): given where a call's tokens sit, the steer.k tensors to feed.
 * `promptLengths[b]` = prompt tokens of row b (needed by 'prompt' and 'response').
 * Shapes shrink to what the call needs: [1, 1, H] when every token gets the same sum (every
 * decode step of 'all' / 'response'), [1, seq, H] when rows agree, [batch, seq, H] otherwise.
 */
export function steeringPlan(
  model: SteerTarget,
  steering: Steering,
  promptLengths?: number[],
): (at: TokenPositions) => SteerTensors {
  validateSteering(model, steering);
  const needsPrompt = steering.some((s) => s.positions === 'prompt' || s.positions === 'response');
  if (needsPrompt && !promptLengths) throw new Error("steering positions 'prompt' / 'response' need the prompt lengths");
  const H = model.hiddenSize;
  const byLayer = new Map<number, SteeringVector[]>();
  for (const s of steering) byLayer.set(s.layer, [...(byLayer.get(s.layer) ?? []), s]);
  const sets = steering.map((s) => (Array.isArray(s.positions) ? new Set(s.positions) : undefined));
  // Summed vector per (layer, set of active items), reused across decode steps.
  const sums = new Map<string, Float32Array>();

  const active = (item: SteeringVector, set: Set<number> | undefined, pos: number, b: number): boolean => {
    const p = item.positions ?? 'all';
    if (p === 'all') return true;
    if (set) return set.has(pos);
    const P = promptLengths![b]!;
    return p === 'prompt' ? pos < P : pos >= P - 1;
  };

  return (at) => {
    const { batch, seq, positionIds, mask } = at;
    if (promptLengths && promptLengths.length !== batch)
      throw new Error(`steering: ${promptLengths.length} prompt lengths for ${batch} rows`);
    const out: SteerTensors = new Map();
    for (const [layer, items] of byLayer) {
      const idx = items.map((it) => steering.indexOf(it));
      // sig[b*seq+s] = bitmask of active items, -1 for pads (which may take any value: masked out).
      const sig = new Int32Array(batch * seq);
      for (let i = 0; i < sig.length; i++) {
        if (!mask[i]) {
          sig[i] = -1;
          continue;
        }
        let bits = 0;
        const b = Math.floor(i / seq);
        items.forEach((it, j) => {
          if (active(it, sets[idx[j]!], positionIds[i]!, b)) bits |= 1 << j;
        });
        sig[i] = bits;
      }
      const sum = (bits: number): Float32Array => {
        const key = `${layer}:${bits}`;
        let v = sums.get(key);
        if (!v) {
          v = new Float32Array(H);
          items.forEach((it, j) => {
            if (bits & (1 << j)) for (let h = 0; h < H; h++) v![h]! += it.coeff * it.vector[h]!;
          });
          sums.set(key, v);
        }
        return v;
      };
      const distinct = new Set(sig);
      distinct.delete(-1);
      if (distinct.size === 0 || (distinct.size === 1 && distinct.has(0))) continue; // nothing here
      if (distinct.size === 1) {
        out.set(layer, { data: sum([...distinct][0]!), dims: [1, 1, H] });
        continue;
      }
      // Per column: one signature shared by all real tokens of that column?
      const col = new Int32Array(seq).fill(-1);
      let rowsAgree = true;
      for (let i = 0; i < sig.length && rowsAgree; i++) {
        const s = i % seq;
        if (sig[i] === -1) continue;
        if (col[s] === -1) col[s] = sig[i]!;
        else if (col[s] !== sig[i]) rowsAgree = false;
      }
      const rows = rowsAgree ? 1 : batch;
      const data = new Float32Array(rows * seq * H);
      for (let i = 0; i < rows * seq; i++) {
        const bits = rowsAgree ? col[i]! : sig[i]!;
        if (bits > 0) data.set(sum(bits), i * H);
      }
      out.set(layer, { data, dims: [rows, seq, H] });
    }
    return out;
  };
}

/** Orthonormal basis ([r, H] rows) for the ablate.k inputs ('all' = every layer the model can ablate). */
export function ablationTensors(model: AblateTarget, ablations: Ablation[]): AblateTensors {
  if (ablations.length && !model.ablatableLayers.length)
    throw new Error('ablation: the model has no ablate inputs; load it with ablation: true');
  const byLayer = new Map<number, { what: string; vectors: Float32Array[] }>();
  for (const [i, a] of ablations.entries()) {
    const what = `ablation[${i}] (layer ${a.layer})`;
    const vectors = 'span' in a ? a.span : [a.direction];
    if (!Array.isArray(vectors) || !vectors.length) throw new Error(`${what}: span has no directions`);
    vectors.forEach((v, j) => {
      const name = 'span' in a ? `span[${j}]` : 'direction';
      if (!(v instanceof Float32Array) || v.length !== model.hiddenSize)
        throw new Error(`${what}: ${name} has ${v?.length} values, the model's hidden size is ${model.hiddenSize}`);
      if (!v.every(Number.isFinite) || v.every((x) => x === 0)) throw new Error(`${what}: ${name} has zero or non-finite norm`);
    });
    const layers = a.layer === 'all' ? model.ablatableLayers : [a.layer];
    for (const l of layers) {
      if (!model.ablatableLayers.includes(l))
        throw new Error(`${what}: layer out of range; ablatable layers are ${model.ablatableLayers.join(', ')}`);
      const entry = byLayer.get(l) ?? { what, vectors: [] };
      entry.vectors.push(...vectors);
      byLayer.set(l, entry);
    }
  }
  const out: AblateTensors = new Map();
  for (const [l, { what, vectors }] of byLayer) {
    const basis = orthonormalBasis(vectors, model.hiddenSize);
    if (!basis.length) throw new Error(`${what}: the directions at layer ${l} span nothing`);
    const data = new Float32Array(basis.length * model.hiddenSize);
    basis.forEach((b, r) => data.set(b, r * model.hiddenSize));
    out.set(l, { data, dims: [1, basis.length, model.hiddenSize] });
  }
  return out;
}

/**
 * Modified Gram-Schmidt in float64, twice per vector (numerically orthogonal even for nearly
 * dependent probe rows); a vector whose remainder is < 1e-6 of its norm adds no dimension.
 */
export function orthonormalBasis(vectors: Float32Array[], H: number): Float32Array[] {
  const basis: Float64Array[] = [];
  for (const v of vectors) {
    const x = Float64Array.from(v);
    const n0 = Math.hypot(...x);
    for (let pass = 0; pass < 2; pass++)
      for (const b of basis) {
        let d = 0;
        for (let h = 0; h < H; h++) d += x[h]! * b[h]!;
        for (let h = 0; h < H; h++) x[h]! -= d * b[h]!;
      }
    const n = Math.hypot(...x);
    if (n > 1e-6 * n0) basis.push(x.map((t) => t / n));
  }
  return basis.map((b) => Float32Array.from(b));
}
