// Built-in directions for the embedded model (models/persona-tiny): persona vectors of the world's
// traits and demographic probes of the world's attributes, computed on first use with small
// settings (seconds each on persona-tiny) and cached under the model folder
// (`.cache/serve/<model hash>/`, one run directory per trait and one for the probes). A run
// directory is reused only once its manifest says done, and every file in it is written
// atomically, so an interrupted first start resumes and never leaves a half-written cache.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../directions/personaExtract.js';
import { parseTraitFile } from '../directions/traitFile.js';
import { DEFAULT_PROBE_TRAINING, runProbeTraining } from '../experiments/probes/probeTraining.js';
import { LexiconJudge } from '../judges/lexiconJudge.js';
import { readManifest, RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { buildTraitFile, generateProbeDataset, isAttribute, isTrait, type Attribute } from '../world/index.js';
import type { ProbeControl, TraitDirection } from './controls.js';
import { probesFromFiles, traitsFromFiles } from './directionFiles.js';

export interface BuiltinOptions {
  /** Default: <model>/.cache/serve */
  cacheDir?: string;
  traits: string[];
  attributes: string[];
  /** Layer the vectors are read and steered at. */
  layer: number;
  /** Extraction questions per trait (default 10) and probe conversations per class (default 20). */
  questions?: number;
  perClass?: number;
  onProgress?: (line: string) => void;
}

export const BUILTIN_TRAITS = ['evil', 'humorous', 'optimistic', 'impolite', 'sycophantic', 'apathetic', 'hallucinating'];
export const BUILTIN_ATTRIBUTES = ['age', 'gender', 'education', 'ses'];

export async function builtinDirections(model: SteerableModel, o: BuiltinOptions): Promise<{ traits: TraitDirection[]; probes: ProbeControl[] }> {
  for (const t of o.traits) if (!isTrait(t)) throw new Error(`--traits: '${t}' is not a persona-world trait (${BUILTIN_TRAITS.join(', ')})`);
  for (const a of o.attributes) if (!isAttribute(a)) throw new Error(`--attributes: '${a}' is not a persona-world attribute (${BUILTIN_ATTRIBUTES.join(', ')})`);
  const questions = o.questions ?? 10;
  const perClass = o.perClass ?? 20;
  const key = (model.manifest?.source.sha256 ?? 'unprepared').slice(0, 12);
  const root = join(o.cacheDir ?? join(model.dir, '.cache', 'serve'), key);
  const say = o.onProgress ?? (() => {});

  const vectorFiles: string[] = [];
  for (const trait of o.traits) {
    const dir = join(root, `vectors-${trait}-q${questions}`);
    if (!isDone(dir)) {
      say(`computing the built-in '${trait}' persona vector (first use; cached in ${dir})`);
      const run = RunDir.open(dir, 'extract', { trait, questions });
      const file = parseTraitFile(buildTraitFile(trait as never), `persona world trait ${trait}`, trait);
      await extractPersonaVectors(model, file, new LexiconJudge(), run, { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: questions, maxNewTokens: 48, batchSize: 25 });
      run.finish();
    }
    vectorFiles.push(join(dir, 'vectors.safetensors'));
  }

  let probes: ProbeControl[] = [];
  if (o.attributes.length) {
    const dir = join(root, `probes-${[...o.attributes].sort().join('-')}-c${perClass}`);
    if (!isDone(dir)) {
      say(`training the built-in probes for ${o.attributes.join(', ')} (first use; cached in ${dir})`);
      const rows = generateProbeDataset({ attributes: o.attributes as Attribute[], perClass, conditions: ['explicit', 'implicit'], turns: [1, 2], seed: 0 });
      const run = RunDir.open(dir, 'probe train', { attributes: o.attributes, perClass });
      await runProbeTraining(model, rows, run, { ...DEFAULT_PROBE_TRAINING, attributes: o.attributes, control: false, k: 3 });
      run.finish();
    }
    probes = probesFromFiles(model, o.attributes.map((a) => join(dir, 'probes', `${a}.safetensors`)));
  }
  return { traits: traitsFromFiles(model, vectorFiles, o.layer), probes };
}

function isDone(dir: string): boolean {
  return existsSync(join(dir, 'manifest.json')) && readManifest(dir).status === 'done';
}
