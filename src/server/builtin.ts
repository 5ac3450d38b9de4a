// Built-in directions for the embedded model (models/persona-tiny): persona vectors of the world's
// traits and demographic probes of the world's attributes, computed on first use with small
// settings (seconds each on persona-tiny) and cached under the model folder
// (`.cache/serve/<model hash>/`, one run directory per trait and two for the probes, each named by
// a hash of its settings and of the code that computes it, so a code or settings change computes
// afresh instead of reusing stale directions). A run directory is reused only once its manifest
// says done, and every file in it is written atomically, so an interrupted first start resumes
// and never leaves a half-written cache.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, type ExtractConfig } from '../directions/personaExtract.js';
import { parseTraitFile } from '../directions/traitFile.js';
import { DEFAULT_PROBE_TRAINING, runProbeTraining } from '../experiments/probes/probeTraining.js';
import { LexiconJudge } from '../judges/lexiconJudge.js';
import { readManifest, RunDir } from '../logs/runDir.js';
import { RunInUseError } from '../logs/runLock.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { buildTraitFile, generateDirectQuestionDataset, generateProbeDataset, isAttribute, isTrait, type Attribute, type ProbeDatasetOptions } from '../world/index.js';
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
  /** Extraction settings over the built-in ones (answers of 48 tokens, batches of 25). */
  extract?: Partial<ExtractConfig>;
  /** Source folder whose code the cache key covers (default: this package's). */
  srcRoot?: string;
  onProgress?: (line: string) => void;
}

export const BUILTIN_TRAITS = ['evil', 'humorous', 'optimistic', 'impolite', 'sycophantic', 'apathetic', 'hallucinating'];
export const BUILTIN_ATTRIBUTES = ['age', 'gender', 'education', 'ses'];

/** The code a cached direction depends on: the pipeline from the model to the directions, and the world's data. */
const CODE_DIRS = ['model', 'onnx', 'io', 'generation', 'activations', 'data', 'directions', 'experiments/probes', 'judges', 'world'];

/** sha256 over the files (paths and contents) of CODE_DIRS under `srcRoot`. */
export function codeHash(srcRoot: string): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|js|json)$/.test(name)) h.update(`${relative(srcRoot, path)}\0`).update(readFileSync(path)).update('\0');
    }
  };
  for (const d of CODE_DIRS) walk(join(srcRoot, d));
  return h.digest('hex');
}

const shortHash = (x: unknown) => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 12);

/** Where the built-ins of this model live: `<cache>/<model hash>/`. */
export function builtinCacheRoot(model: SteerableModel, cacheDir?: string): string {
  return join(cacheDir ?? join(model.dir, '.cache', 'serve'), (model.manifest?.source.sha256 ?? 'unprepared').slice(0, 12));
}

export async function builtinDirections(model: SteerableModel, o: BuiltinOptions): Promise<{ traits: TraitDirection[]; probes: ProbeControl[] }> {
  for (const t of o.traits) if (!isTrait(t)) throw new Error(`--traits: '${t}' is not a persona-world trait (${BUILTIN_TRAITS.join(', ')})`);
  for (const a of o.attributes) if (!isAttribute(a)) throw new Error(`--attributes: '${a}' is not a persona-world attribute (${BUILTIN_ATTRIBUTES.join(', ')})`);
  const root = builtinCacheRoot(model, o.cacheDir);
  const code = codeHash(o.srcRoot ?? join(import.meta.dirname, '..'));
  const say = o.onProgress ?? (() => {});
  const extract: ExtractConfig = { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: o.questions ?? 10, maxNewTokens: 48, batchSize: 25, ...o.extract };

  const vectorFiles: string[] = [];
  for (const trait of o.traits) {
    // The key covers everything the vector depends on: code, settings, trait, judge.
    const dir = join(root, `vectors-${trait}-${shortHash({ code, extract, trait, judge: 'lexicon' })}`);
    const run = await claim(dir, 'extract', { trait, extract, code }, `the built-in '${trait}' persona vector`, say);
    if (run) {
      say(`computing the built-in '${trait}' persona vector (first use; cached in ${dir})`);
      const file = parseTraitFile(buildTraitFile(trait as never), `persona world trait ${trait}`, trait);
      await extractPersonaVectors(model, file, new LexiconJudge(), run, extract);
      run.finish();
    }
    vectorFiles.push(join(dir, 'vectors.safetensors'));
  }

  let probes: ProbeControl[] = [];
  if (o.attributes.length) {
    const attributes = [...o.attributes].sort() as Attribute[];
    // Reading probes (TalkTuner's suffix, the dashboard's bars) and push probes (read where the model
    // answers a direct question, "neutral" kept, so a centroid is a class mean minus the uncued one).
    const sets = [
      { name: 'probes', what: 'the built-in probes', training: { ...DEFAULT_PROBE_TRAINING, attributes, control: false, k: 3 },
        dataset: { attributes, perClass: o.perClass ?? 20, conditions: ['explicit', 'implicit'], turns: [1, 2], seed: 0 } as ProbeDatasetOptions, rows: generateProbeDataset },
      { name: 'push-probes', what: 'the built-in push probes', training: { ...DEFAULT_PROBE_TRAINING, attributes, suffix: '', generationPrompt: true, includeNeutral: true, control: false, k: 3 },
        dataset: { attributes, perClass: o.perClass ?? 20, conditions: ['explicit', 'implicit'], turns: [1, 2], seed: 0 } as ProbeDatasetOptions,
        rows: (d: ProbeDatasetOptions) => generateDirectQuestionDataset({ ...d, conditions: ['explicit', 'implicit'] }) },
    ];
    const dirs: string[] = [];
    for (const set of sets) {
      const dir = join(root, `${set.name}-${attributes.join('-')}-${shortHash({ code, dataset: set.dataset, training: set.training })}`);
      const run = await claim(dir, 'probe train', { dataset: set.dataset, training: set.training, code }, `${set.what} for ${attributes.join(', ')}`, say);
      if (run) {
        say(`training ${set.what} for ${attributes.join(', ')} (first use; cached in ${dir})`);
        await runProbeTraining(model, set.rows(set.dataset), run, set.training);
        run.finish();
      }
      dirs.push(dir);
    }
    const files = (dir: string) => o.attributes.map((a) => join(dir, 'probes', `${a}.safetensors`));
    const push = probesFromFiles(model, files(dirs[1]!));
    probes = probesFromFiles(model, files(dirs[0]!)).map((p, i) => ({ ...p, push: push[i]!.probe }));
  }
  return { traits: traitsFromFiles(model, vectorFiles, o.layer), probes };
}

/**
 * The run directory of one cached direction, locked for this process to compute it, or null when
 * it is done. Another `persona serve` computing the same one (same host) is waited for, and its
 * result used; if it dies or fails, its lock is taken over and the work resumed here.
 */
async function claim(dir: string, command: string, config: Record<string, unknown>, what: string, say: (line: string) => void): Promise<RunDir | null> {
  let waiting = false;
  for (;;) {
    if (isDone(dir)) return null;
    try {
      return RunDir.open(dir, command, config);
    } catch (e) {
      if (!(e instanceof RunInUseError)) throw e;
      const { pid, host } = e.holder;
      if (host !== hostname())
        throw new Error(`${what}: pid ${pid} on host ${host} is computing it in ${dir} (a cache folder shared between machines), and a process on another host cannot be watched; start again once it is done, or give another --cache`);
      if (!waiting) say(`waiting for pid ${pid}, which is computing ${what} in ${dir}`);
      waiting = true;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function isDone(dir: string): boolean {
  return existsSync(join(dir, 'manifest.json')) && readManifest(dir).status === 'done';
}
