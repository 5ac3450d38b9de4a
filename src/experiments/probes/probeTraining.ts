// Probe training study (TalkTuner section 3; Reading Between the Prompts section 4): for each
// attribute, read every conversation with the attribute's reading suffix and without it (the
// control probe), fit one probe per layer with k-fold cross-validation, and save the probes.
// Readings stream into activation stores inside the run directory, so an interrupted run resumes
// where it stopped and memory stays flat in the dataset size.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readIntoStore, readingIds, readingSuffix } from '../../activations/reading.js';
import { ActivationStore } from '../../activations/store.js';
import { classesOf, labelledLine, NEUTRAL_LABEL, type LabelledConversation } from '../../data/labelledConversations.js';
import { loadProbe, PROBE_FORMAT, PROBE_PAIRING, saveProbe, type ProbeSet } from '../../directions/probes/probeFile.js';
import { trainLayerProbes, type LayerProbe } from '../../directions/probes/trainProbes.js';
import { LAYER_CONVENTION } from '../../directions/vectorFile.js';
import type { RunDir } from '../../logs/runDir.js';
import type { SteerableModel } from '../../model/steerableModel.js';

export interface ProbeTrainingConfig {
  /** Attributes to probe; default every label key with at least two classes. */
  attributes?: string[];
  /** Reading suffix template ({attribute} is filled in). */
  suffix: string;
  /** Template with the assistant header before the suffix (read where the answer begins). */
  generationPrompt: boolean;
  /** Also fit control probes (no suffix). */
  control: boolean;
  /** Keep "neutral" (no cue) as a class of its own. */
  includeNeutral: boolean;
  k: number;
  seed: number;
  C: number;
  standardize: boolean;
  batchSize: number;
}

export const DEFAULT_PROBE_TRAINING: ProbeTrainingConfig = {
  suffix: ' I think the {attribute} of this user is',
  generationPrompt: false,
  control: true,
  includeNeutral: false,
  k: 5,
  seed: 0,
  C: 1,
  standardize: false,
  batchSize: 8,
};

export type ProbeKind = 'reading' | 'control';

export interface LayerAccuracy {
  attribute: string;
  probe: ProbeKind;
  layer: number;
  mean: number;
  std: number;
  folds: number[];
  /** [true class][predicted class], summed over folds. */
  confusion: number[][];
}

export interface AttributeProbes {
  attribute: string;
  classes: string[];
  counts: Record<string, number>;
  rows: number;
  /** Share of the most frequent class: what a probe that learned nothing scores. */
  chance: number;
  layers: Record<ProbeKind, LayerAccuracy[]>;
  best: { layer: number; mean: number; std: number };
  files: Partial<Record<ProbeKind, string>>;
}

export type ProgressFn = (stage: string, done: number, total: number) => void;

export function probeAttributes(rows: LabelledConversation[], cfg: Pick<ProbeTrainingConfig, 'attributes' | 'includeNeutral'>): string[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.labels)))];
  if (!cfg.attributes) return keys.filter((a) => classesOf(rows, a, cfg).length >= 2);
  for (const a of cfg.attributes) {
    const n = classesOf(rows, a, cfg).length;
    if (n < 2) throw new Error(`attribute '${a}': the data has ${n} class(es) for it${keys.includes(a) ? '' : ` (label keys: ${keys.join(', ')})`}; a probe needs at least two`);
  }
  return cfg.attributes;
}

/** sha256 of the rows as JSONL: what the sidecar records to tie a probe to its data. */
export function dataHash(rows: LabelledConversation[]): string {
  const h = createHash('sha256');
  for (const r of rows) h.update(labelledLine(r));
  return h.digest('hex');
}

export async function runProbeTraining(
  model: SteerableModel,
  rows: LabelledConversation[],
  run: RunDir,
  cfg: ProbeTrainingConfig,
  onProgress?: ProgressFn,
): Promise<AttributeProbes[]> {
  const attributes = probeAttributes(rows, cfg);
  const layers = model.hiddenLayers;
  if (!layers.length) throw new Error(`${model.dir}: no hidden_states outputs; load the model with prepare: true`);
  const H = model.hiddenSize;
  const identity = { model: model.dir, modelSha256: model.manifest?.source.sha256 ?? null };

  // The control reading (no suffix) is the same for every attribute: read every row once.
  let control: ActivationStore | undefined;
  if (cfg.control) {
    control = ActivationStore.open(run.path('features/control'), layers, H, { ...identity, suffix: null, generationPrompt: cfg.generationPrompt, data: dataHash(rows) });
    const seqs = (function* () {
      for (const r of rows) yield readingIds(model.tokenizer, r.messages, null, cfg.generationPrompt);
    })();
    await readIntoStore(model, seqs, rows.length, control, { batchSize: cfg.batchSize, onProgress: (d, t) => onProgress?.('control reading', d, t) });
  }

  const layerKey = (r: LayerAccuracy) => `${r.attribute}/${r.probe}/${r.layer}`;
  const done = new Map(run.keyedRecords<LayerAccuracy>('layers', layerKey).map((r) => [layerKey(r), r]));
  const out: AttributeProbes[] = [];
  for (const attribute of attributes) {
    const counted = classesOf(rows, attribute, cfg);
    const classes = counted.map((c) => c.cls);
    const picked = rows.flatMap((r, i) => (classes.includes(r.labels[attribute]!) ? [i] : []));
    const subset = picked.map((i) => rows[i]!);
    const labels = Int32Array.from(subset, (r) => classes.indexOf(r.labels[attribute]!));
    const suffix = readingSuffix(cfg.suffix, attribute)!;
    const hash = dataHash(subset);

    const reading = ActivationStore.open(run.path(`features/${attribute}-reading`), layers, H, { ...identity, suffix, generationPrompt: cfg.generationPrompt, data: hash });
    const seqs = (function* () {
      for (const r of subset) yield readingIds(model.tokenizer, r.messages, suffix, cfg.generationPrompt);
    })();
    await readIntoStore(model, seqs, subset.length, reading, { batchSize: cfg.batchSize, onProgress: (d, t) => onProgress?.(`${attribute} reading`, d, t) });

    const result: AttributeProbes = {
      attribute,
      classes,
      counts: Object.fromEntries(counted.map((c) => [c.cls, c.count])),
      rows: subset.length,
      chance: Math.max(...counted.map((c) => c.count)) / subset.length,
      layers: { reading: [], control: [] },
      best: { layer: 0, mean: 0, std: 0 },
      files: {},
    };
    const kinds: [ProbeKind, ActivationStore, Int32Array | undefined][] = [['reading', reading, undefined]];
    if (control) kinds.push(['control', control, Int32Array.from(picked)]);
    for (const [kind, store, select] of kinds) {
      const file = `probes/${attribute}${kind === 'control' ? '-control' : ''}.safetensors`;
      const cached = layers.map((l) => done.get(`${attribute}/${kind}/${l}`));
      if (cached.every(Boolean) && existsSync(run.path(file))) {
        // Resumed run: this probe was fitted and saved before the interruption (loading checks the file is whole).
        loadProbe(run.path(file));
        result.layers[kind] = cached as LayerAccuracy[];
      } else {
        onProgress?.(`${attribute} ${kind} probes`, 0, layers.length);
        const fitted = await trainLayerProbes(store, labels, classes.length, {
          k: cfg.k,
          seed: cfg.seed,
          C: cfg.C,
          standardize: cfg.standardize,
          rows: select,
          onLayer: (l) => onProgress?.(`${attribute} ${kind} probes`, layers.indexOf(l) + 1, layers.length),
        });
        result.layers[kind] = fitted.map((p) => accuracyRecord(attribute, kind, p));
        saveProbe(run.path(file), probeSet(model, attribute, classes, kind === 'reading' ? suffix : null, fitted, cfg, subset, hash, run.dir));
        for (const r of result.layers[kind]) run.append('layers', r as unknown as Record<string, unknown>);
      }
      result.files[kind] = file;
    }
    const best = result.layers.reading.reduce((a, b) => (b.mean > a.mean ? b : a));
    result.best = { layer: best.layer, mean: best.mean, std: best.std };
    out.push(result);
  }
  return out;
}

function accuracyRecord(attribute: string, probe: ProbeKind, p: LayerProbe): LayerAccuracy {
  return { attribute, probe, layer: p.layer, mean: p.cv.mean, std: p.cv.std, folds: p.cv.foldAccuracies, confusion: p.cv.confusion };
}

function probeSet(
  model: SteerableModel,
  attribute: string,
  classes: string[],
  suffix: string | null,
  fitted: LayerProbe[],
  cfg: ProbeTrainingConfig,
  rows: LabelledConversation[],
  hash: string,
  runDir: string,
): ProbeSet {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.labels[attribute]!] = (counts[r.labels[attribute]!] ?? 0) + 1;
  return {
    weight: fitted.map((p) => p.weight),
    bias: fitted.map((p) => p.bias),
    centroid: fitted.map((p) => p.centroids),
    meta: {
      format: PROBE_FORMAT,
      attribute,
      classes,
      suffix,
      model: {
        path: model.dir,
        modelType: model.config.modelType,
        numLayers: model.numLayers,
        hiddenSize: model.hiddenSize,
        sha256: model.manifest?.source.sha256 ?? null,
      },
      layerConvention: LAYER_CONVENTION,
      pairing: PROBE_PAIRING,
      fit: { solver: 'lbfgs', C: cfg.C, standardize: cfg.standardize, iterations: fitted.map((p) => p.iterations), converged: fitted.map((p) => p.converged) },
      cv: {
        k: cfg.k,
        seed: cfg.seed,
        mean: fitted.map((p) => p.cv.mean),
        std: fitted.map((p) => p.cv.std),
        folds: fitted.map((p) => p.cv.foldAccuracies),
        confusion: fitted.map((p) => p.cv.confusion),
      },
      data: { rows: rows.length, counts, sha256: hash },
      generationPrompt: cfg.generationPrompt,
      neutralIsClass: classes.includes(NEUTRAL_LABEL),
      createdAt: new Date().toISOString(),
      run: runDir,
    },
  };
}
