// The directions a server starts with: persona-vector files and probe files given on the command
// line, or, for the embedded model, built-in ones computed from the persona world on first use and
// cached (see builtin.ts). Files are checked against the model's config, so a command can read
// and check them before the model loads.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadProbe } from '../directions/probes/probeFile.js';
import { checkVectorModel, loadPersonaVectors, vectorFor } from '../directions/vectorFile.js';
import { probeLayer } from '../experiments/probes/probeReading.js';
import { checkProbeFits } from '../directions/probes/probeFile.js';
import { stem } from '../monitoring/projections.js';
import type { ProbeControl, TraitDirection } from './controls.js';

/** What direction files must fit: a loaded model, or its folder and config before it loads. */
export interface DirectionTarget {
  dir: string;
  numLayers: number;
  hiddenSize: number;
  config: { modelType: string };
}

/** Persona vectors at `layer`, named by trait (by file name when two files share one). */
export function traitsFromFiles(model: DirectionTarget, files: string[], layer: number): TraitDirection[] {
  const sets = files.map((f) => {
    const set = loadPersonaVectors(f);
    checkVectorModel(set, { path: model.dir, modelType: model.config.modelType, numLayers: model.numLayers, hiddenSize: model.hiddenSize }, f);
    return set;
  });
  const traits = sets.map((s) => s.meta.trait);
  return sets.map((set, i) => ({
    name: traits.indexOf(traits[i]!) === traits.lastIndexOf(traits[i]!) ? traits[i]! : stem(files[i]!),
    layer,
    vector: vectorFor(set, layer, model.hiddenSize, 'response_avg', files[i]),
    set,
  }));
}

/** Probe files (`.safetensors` with their sidecar), or run directories of `persona probe train` (their probes/ folder). */
export function probesFromFiles(model: DirectionTarget, paths: string[]): ProbeControl[] {
  const files = paths.flatMap((p) => {
    if (existsSync(p) && statSync(p).isDirectory()) {
      const dir = existsSync(join(p, 'probes')) ? join(p, 'probes') : p;
      const found = readdirSync(dir).filter((f) => f.endsWith('.safetensors') && !f.includes('control')).map((f) => join(dir, f));
      if (!found.length) throw new Error(`--probe ${p}: no probe .safetensors files in ${dir}`);
      return found;
    }
    return [p];
  });
  const seen = new Set<string>();
  return files.map((f) => {
    const probe = loadProbe(f);
    checkProbeFits(probe, model, f);
    if (seen.has(probe.meta.attribute)) throw new Error(`--probe ${f}: a second probe for '${probe.meta.attribute}'`);
    seen.add(probe.meta.attribute);
    return { attribute: probe.meta.attribute, probe, readLayer: probeLayer(probe) };
  });
}
