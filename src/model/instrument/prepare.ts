// Instrument a model folder once and cache the result next to the source:
//   onnx/<stem>.persona.onnx   the edited graph (same folder, so external-data locations resolve)
//   onnx/<stem>.persona.json   manifest: what was found and added, and a fingerprint of the source
// The manifest is written last, so its presence means the .persona.onnx beside it is complete.

import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.js';
import { packageVersion } from '../../io/packageRoot.js';
import { OnnxFormatError, readModel, type ModelView } from '../../onnx/read.js';
import { attentionContract, type AttentionContract } from './attention.js';
import { applyPlan, type PortSpec } from './edit.js';
import { InstrumentError } from './errors.js';
import { parseGenaiConfig, type ModelConfig } from '../config.js';
import { GENAI_CONFIG, readFolderJson, readGenaiConfig, resolveModelFolder } from '../layout.js';
import { findResidualStream, type ResidualDtype, type ResidualPlan, type ResidualPoint, type ResidualStyle } from './residual.js';

/** Bump when the manifest's fields change. Changes to the edit itself are caught by instrumenterHash. */
export const MANIFEST_FORMAT = 4; // 2: ablate.k is a rank-r subspace [ab, r, H]; 3: instrumenter hash, ablation in its own file; 4: attention contract
const MB = 1 << 20;

export interface SourceFingerprint {
  /** Relative to the model folder, e.g. onnx/model.onnx. */
  file: string;
  size: number;
  mtimeMs: number;
  /** sha256 of size + first MB + last MB (whole file when <= 2 MB). */
  sha256: string;
}

export interface Manifest {
  format: number;
  toolkitVersion: string;
  /** sha256 of the instrumentation code that wrote the file (see instrumenterHash). */
  instrumenter: string;
  source: SourceFingerprint;
  /** Relative to the model folder. */
  instrumented: string;
  numLayers: number;
  hiddenSize: number;
  dtype: ResidualDtype;
  style: ResidualStyle;
  addsPerLayer: number;
  points: ResidualPoint[];
  /** For merged models: the points found in each If branch. */
  branches?: { attr: string; points: ResidualPoint[] }[];
  inputsAdded: PortSpec[];
  outputsAdded: PortSpec[];
  ablation: boolean;
  /** How the source graph's attention wants ragged rows and its cache fed (attention.ts). */
  attention: AttentionContract;
  warnings: string[];
  createdAt: string;
}

export interface PreparedModel {
  onnxPath: string;
  manifest: Manifest;
}

export interface PrepareProgress {
  stage: 'cached' | 'read' | 'plan' | 'edit' | 'write' | 'done';
  message: string;
}

export interface PrepareOptions {
  /** Relative to modelDir. Default onnx/model.onnx, else the only onnx/model*.onnx. */
  file?: string;
  ablation?: boolean;
  /** Rebuild even when the cached manifest matches. */
  force?: boolean;
  onProgress?: (p: PrepareProgress) => void;
}

export interface ModelDims {
  numLayers: number;
  hiddenSize: number;
  modelType: string;
  architectures: string[];
}

type Json = Record<string, unknown>;

/** num_hidden_layers / n_layer and hidden_size / n_embd (top level or under text_config). */
export function readModelDims(modelDir: string): ModelDims {
  const path = join(modelDir, 'config.json');
  if (!existsSync(path) && existsSync(join(modelDir, GENAI_CONFIG))) {
    const where = join(modelDir, GENAI_CONFIG);
    let c: ModelConfig;
    try {
      c = parseGenaiConfig(readGenaiConfig(modelDir), where);
    } catch (e) {
      throw e instanceof InstrumentError ? e : new InstrumentError((e as Error).message);
    }
    return { numLayers: c.numLayers, hiddenSize: c.hiddenSize, modelType: c.modelType, architectures: [] };
  }
  const cfg = readFolderJson(path);
  const text = cfg['text_config'];
  const sections = [cfg, ...(typeof text === 'object' && text !== null ? [text as Json] : [])];
  const pick = (keys: string[]): number | undefined => {
    for (const s of sections)
      for (const k of keys) if (typeof s[k] === 'number' && Number.isInteger(s[k]) && (s[k] as number) > 0) return s[k] as number;
    return undefined;
  };
  const numLayers = pick(['num_hidden_layers', 'n_layer', 'num_layers']);
  if (numLayers === undefined) throw new InstrumentError(`${path}: missing num_hidden_layers (or n_layer)`);
  const hiddenSize = pick(['hidden_size', 'n_embd', 'd_model']);
  if (hiddenSize === undefined) throw new InstrumentError(`${path}: missing hidden_size (or n_embd)`);
  const archs = cfg['architectures'];
  return {
    numLayers,
    hiddenSize,
    modelType: typeof cfg['model_type'] === 'string' ? cfg['model_type'] : 'unknown',
    architectures: Array.isArray(archs) ? archs.filter((a): a is string => typeof a === 'string') : [],
  };
}

/** The source ONNX file of a model folder, relative to it (see ../layout.ts). */
export function resolveOnnxFile(modelDir: string, file?: string): string {
  return resolveModelFolder(modelDir, file).file;
}

export function fingerprint(modelDir: string, file: string): SourceFingerprint {
  const path = join(modelDir, file);
  const st = statSync(path);
  const h = createHash('sha256').update(String(st.size));
  const fd = openSync(path, 'r');
  try {
    const read = (pos: number, len: number) => {
      const b = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, b, got, len - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      h.update(b.subarray(0, got));
    };
    if (st.size <= 2 * MB) read(0, st.size);
    else {
      read(0, MB);
      read(st.size - MB, MB);
    }
  } finally {
    closeSync(fd);
  }
  return { file, size: st.size, mtimeMs: st.mtimeMs, sha256: h.digest('hex') };
}

/**
 * The source files whose code decides what the instrumented graph holds: this folder (residual
 * detection, the edit, this cache), the protobuf reader/writer (../../onnx), and the config and
 * folder-layout readers that give the plan its layer count and hidden size (../config, ../layout).
 * Their contents, not a version number, key the cache, so any change to them rebuilds cached files.
 */
export function instrumenterFiles(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const ext = extname(fileURLToPath(import.meta.url));
  const folders = [here, join(here, '..', '..', 'onnx')].flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith(ext) && !f.endsWith(`.d${ext}`))
      .sort()
      .map((f) => join(d, f)),
  );
  return [...folders, ...['config', 'layout'].map((f) => join(here, '..', `${f}${ext}`))];
}

/** sha256 over the files' paths relative to `root` and their contents, in the order given. */
export function hashFiles(files: string[], root: string): string {
  const h = createHash('sha256');
  for (const f of files) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

/** Root the instrumenter's files are named from in the hash (src/ or dist/src/). */
const HASH_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cachedHash: string | undefined;
export function instrumenterHash(): string {
  return (cachedHash ??= hashFiles(instrumenterFiles(), HASH_ROOT));
}

/**
 * Paths of the instrumented model and its manifest for a source file (relative to modelDir). The
 * variant with ablate.k inputs has its own pair, so switching --ablation on and off reuses both.
 */
export function outputPaths(file: string, ablation = false): { onnx: string; manifest: string } {
  const stem = basename(file).replace(/\.onnx$/, '') + (ablation ? '.persona-ablation' : '.persona');
  return { onnx: join(dirname(file), `${stem}.onnx`), manifest: join(dirname(file), `${stem}.json`) };
}

/** Read + parse the ONNX file, turning protobuf errors into InstrumentErrors naming the file. */
export function loadModel(path: string): ModelView {
  let buf: Uint8Array;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new InstrumentError(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return readModel(buf, path);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new InstrumentError(e.message);
    throw new InstrumentError(`${path}: not a readable ONNX model (${(e as Error).message})`);
  }
}

/** The logits output's name: genai_config.json's, else `logits`. */
function logitsName(modelDir: string, file: string): string {
  return resolveModelFolder(modelDir, file).genaiIo?.logits ?? 'logits';
}

/** Plan for a model folder without writing anything (used by prepare and inspect). */
export function planModel(modelDir: string, file: string): { plan: ResidualPlan; dims: ModelDims; model: ModelView } {
  const dims = readModelDims(modelDir);
  const path = join(modelDir, file);
  const model = loadModel(path);
  const plan = findResidualStream(model, { numLayers: dims.numLayers, hiddenSize: dims.hiddenSize, source: path, logits: logitsName(modelDir, file) });
  return { plan, dims, model };
}

function readManifest(path: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

function sameSource(a: SourceFingerprint, b: SourceFingerprint): boolean {
  return a.file === b.file && a.size === b.size && a.mtimeMs === b.mtimeMs && a.sha256 === b.sha256;
}

export async function prepareModel(modelDir: string, opts: PrepareOptions = {}): Promise<PreparedModel> {
  const progress = opts.onProgress ?? (() => {});
  const ablation = !!opts.ablation;
  const file = resolveOnnxFile(modelDir, opts.file);
  const out = outputPaths(file, ablation);
  const onnxPath = join(modelDir, out.onnx);
  const manifestPath = join(modelDir, out.manifest);
  const source = fingerprint(modelDir, file);
  const dims = readModelDims(modelDir);

  const old = opts.force ? null : readManifest(manifestPath);
  if (
    old &&
    old.format === MANIFEST_FORMAT &&
    old.instrumenter === instrumenterHash() &&
    old.ablation === ablation &&
    old.numLayers === dims.numLayers &&
    old.source &&
    sameSource(old.source, source) &&
    existsSync(onnxPath)
  ) {
    progress({ stage: 'cached', message: `using ${out.onnx}` });
    return { onnxPath, manifest: old };
  }

  progress({ stage: 'read', message: `reading ${file} (${(source.size / MB).toFixed(1)} MB)` });
  const path = join(modelDir, file);
  const model = loadModel(path);
  progress({ stage: 'plan', message: 'finding the residual stream' });
  const plan = findResidualStream(model, { numLayers: dims.numLayers, hiddenSize: dims.hiddenSize, source: path, logits: logitsName(modelDir, file) });
  const attention = attentionContract(model, path);
  progress({ stage: 'edit', message: `adding steer/hidden_states for ${plan.numLayers + 1} residual points` });
  const edit = applyPlan(model, plan, { ablation, source: path });
  progress({ stage: 'write', message: `writing ${out.onnx}` });
  writeFileAtomic(onnxPath, edit.msg.parts);

  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    toolkitVersion: packageVersion(),
    instrumenter: instrumenterHash(),
    source,
    instrumented: out.onnx,
    numLayers: plan.numLayers,
    hiddenSize: plan.hiddenSize,
    dtype: plan.dtype,
    style: plan.style,
    addsPerLayer: plan.addsPerLayer,
    points: plan.points,
    ...(plan.branches ? { branches: plan.branches.map((b) => ({ attr: b.attr, points: b.points })) } : {}),
    inputsAdded: edit.inputsAdded,
    outputsAdded: edit.outputsAdded,
    ablation,
    attention,
    warnings: plan.warnings,
    createdAt: new Date().toISOString(),
  };
  writeJsonAtomic(manifestPath, manifest);
  progress({ stage: 'done', message: `${out.onnx} ready` });
  return { onnxPath, manifest };
}
