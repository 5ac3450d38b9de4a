// A persona-vector set with known values, of any shape (the embedded model's: 4 layers, hidden 160).

import { LAYER_CONVENTION, type PersonaVectorSet } from '../../src/directions/vectorFile.js';

export function syntheticVectorSet(H = 4, L = 3, trait = 'evil'): PersonaVectorSet {
  const mk = (s: number) => Array.from({ length: L + 1 }, (_, l) => Float32Array.from({ length: H }, (_, i) => s * (l + 1) + i * 0.25));
  return {
    vectors: { response_avg: mk(1), prompt_avg: mk(2), prompt_last: mk(-3) },
    meta: {
      format: 'persona-steer/persona-vector@1',
      trait,
      model: { path: '/m', modelType: 'llama', numLayers: L, hiddenSize: H },
      layerConvention: LAYER_CONVENTION,
      kinds: ['response_avg', 'prompt_avg', 'prompt_last'],
      counts: { pos: 5, neg: 5, generated: 20 },
      norms: { response_avg: [], prompt_avg: [], prompt_last: [] },
      scores: { posTraitMean: 81.5, negTraitMean: 3 },
      createdAt: '2026-11-22T00:00:00.000Z',
    },
  };
}
