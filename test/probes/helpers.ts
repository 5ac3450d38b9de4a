// A probe with seeded random weights for a model shape: for tests of files and interventions.

import { PROBE_FORMAT, type ProbeSet } from '../../src/directions/probes/probeFile.js';
import { randomVector } from '../runtime/helpers.js';

export function syntheticProbe(model: { hiddenSize: number; numLayers: number; dir: string }, classes: string[], seed = 1): ProbeSet {
  const H = model.hiddenSize;
  const C = classes.length;
  const L1 = model.numLayers + 1;
  const layer = (l: number, n: number, s: number) => randomVector(n, seed * 1000 + l * 10 + s);
  return {
    weight: Array.from({ length: L1 }, (_, l) => layer(l, C * H, 1)),
    bias: Array.from({ length: L1 }, (_, l) => layer(l, C, 2)),
    centroid: Array.from({ length: L1 }, (_, l) => layer(l, C * H, 3)),
    meta: {
      format: PROBE_FORMAT,
      attribute: 'age',
      classes,
      suffix: ' I think the age of this user is',
      model: { path: model.dir, modelType: 'llama', numLayers: model.numLayers, hiddenSize: H, sha256: null },
      layerConvention: 'test',
      pairing: 'test',
      fit: { solver: 'lbfgs', C: 1, standardize: false, iterations: [], converged: [] },
      cv: { k: 5, seed: 0, mean: Array.from({ length: L1 }, (_, l) => l / 10), std: [], folds: [], confusion: [] },
      data: { rows: 0, counts: {}, sha256: '' },
      createdAt: '',
    },
  };
}
