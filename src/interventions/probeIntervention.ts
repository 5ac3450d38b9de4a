// Interventions with a probe (TalkTuner's control): at the last position of every forward pass
// (the last prompt token at prefill, then each generated token: our 'response' positions),
//   toward class c:  h_k <- h_k + N * w_c(k)      away from c:  h_k <- h_k - N * w_c(k)
//   erase:           h_k <- h_k minus its projection on span{w_1(k) .. w_C(k)} (every position)
// for each chosen layer k, where w_c(k) is row c of the probe that reads hidden_states[k] and it is
// applied at the output of block k: the same tensor it was trained on (see PROBE_PAIRING).
// The control replaces each w_c(k) with a random direction of the same norm (erase: a random
// subspace of the same rank), so a change that any push of that size would cause is not credited
// to the probe.

import { createRng, seedFromKey } from '../generation/sampling.js';
import { norm } from '../directions/meanAccumulator.js';
import { centroidDirection, checkProbeFits, classDirection, classIndex, type ProbeSet } from '../directions/probes/probeFile.js';
import type { Ablation, Steering } from '../model/steering.js';

export type ProbeMode = 'toward' | 'away' | 'erase';

export interface ProbeIntervention {
  probe: ProbeSet;
  mode: ProbeMode;
  /** Class to push toward / away from (not used by erase). */
  target?: string;
  /** hidden_states indices = block outputs to intervene at. */
  layers: number[];
  /** N in h + N * w (default 1; unused by erase). */
  strength?: number;
  /** Use w / |w| instead of the raw probe row. */
  normalize?: boolean;
  /**
   * 'weight' (default): the probe's weight row w_c (TalkTuner). 'centroid': the class mean minus
   * the reference mean (see centroidDirection), the generative direction; on small models the
   * discriminative weight rows often read an attribute without being what the model acts on.
   */
  direction?: 'weight' | 'centroid';
  /** Random directions with the probe's norms instead of the probe (seeded). */
  randomControl?: { seed: number };
}

export interface InterventionPlan {
  steering: Steering;
  ablation: Ablation[];
}

export function probeInterventionPlan(model: { hiddenSize: number; numLayers: number }, spec: ProbeIntervention): InterventionPlan {
  const { probe, mode } = spec;
  const what = `probe ${probe.meta.attribute}`;
  checkProbeFits(probe, model, what);
  if (!spec.layers.length) throw new Error(`${what}: no layers to intervene at`);
  for (const k of spec.layers)
    if (!Number.isInteger(k) || k < 0 || k >= probe.weight.length) throw new Error(`${what}: layer ${k} out of range 0..${probe.weight.length - 1}`);
  const N = spec.strength ?? 1;
  if (!Number.isFinite(N)) throw new Error(`${what}: strength must be a finite number, got ${N}`);
  const random = spec.randomControl ? randomLike(spec.randomControl.seed, model.hiddenSize) : undefined;

  if (mode === 'erase') {
    const C = probe.meta.classes.length;
    return {
      steering: [],
      ablation: spec.layers.map((k) => ({
        layer: k,
        span: Array.from({ length: C }, (_, c) => {
          const w = classDirection(probe, k, c);
          return random ? random(w, `erase:${k}:${c}`) : w;
        }),
      })),
    };
  }
  if (mode !== 'toward' && mode !== 'away') throw new Error(`${what}: unknown mode '${String(mode)}' (toward, away, erase)`);
  if (spec.direction !== undefined && spec.direction !== 'weight' && spec.direction !== 'centroid')
    throw new Error(`${what}: unknown direction '${String(spec.direction)}' (weight, centroid)`);
  if (spec.target === undefined) throw new Error(`${what}: '${mode}' needs a target class`);
  const c = classIndex(probe, spec.target, what);
  const sign = mode === 'toward' ? 1 : -1;
  return {
    ablation: [],
    steering: spec.layers.map((k) => {
      let w = spec.direction === 'centroid' ? centroidDirection(probe, k, c) : classDirection(probe, k, c);
      if (random) w = random(w, `push:${k}`);
      if (spec.normalize) w = unit(w);
      return { layer: k, vector: w, coeff: sign * N, positions: 'response' as const };
    }),
  };
}

function unit(v: Float32Array): Float32Array {
  const n = norm(v);
  if (!(n > 0)) throw new Error('probe direction has zero norm');
  return v.map((x) => x / n);
}

/** A seeded random direction with the norm of `like` (Gaussian, so uniformly oriented). */
function randomLike(seed: number, H: number): (like: Float32Array, key: string) => Float32Array {
  return (like, key) => {
    const rng = createRng(seedFromKey(seed, key));
    const v = new Float32Array(H);
    for (let i = 0; i < H; i += 2) {
      // Box-Muller: two normals per two uniforms.
      const r = Math.sqrt(-2 * Math.log(1 - rng()));
      const t = 2 * Math.PI * rng();
      v[i] = r * Math.cos(t);
      if (i + 1 < H) v[i + 1] = r * Math.sin(t);
    }
    const scale = norm(like) / norm(v);
    return v.map((x) => x * scale);
  };
}
