// loadModel: model folder -> SteerableModel. Reads config and tokenizer, instruments the ONNX
// file (hidden_states.k outputs, steer.k inputs) unless told not to, and opens the session.

import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { loadModelConfig } from './config.js';
import { prepareModel, type Manifest } from './instrument/prepare.js';
import { openSession } from './session.js';
import { SteerableModel } from './steerableModel.js';
import { loadTokenizer } from './tokenizer.js';

export interface LoadOptions {
  /** ONNX file: a path relative to the folder or to its onnx/ subfolder. Default onnx/model.onnx. */
  file?: string;
  /** Instrument the model first (default true); false runs the file exactly as it is. */
  prepare?: boolean;
  /** Instrument with ablate.k inputs too. */
  ablation?: boolean;
  /** Intra-op threads for ONNX Runtime. */
  threads?: number;
}

/** The ONNX file to run, before instrumentation. */
export function findOnnxFile(dir: string, file?: string): string {
  if (file) {
    const candidates = isAbsolute(file) ? [file] : [join(dir, file), join(dir, 'onnx', file)];
    const hit = candidates.find((p) => existsSync(p));
    if (!hit) throw new Error(`ONNX file not found: tried ${candidates.join(', ')}`);
    return hit;
  }
  const onnxDir = join(dir, 'onnx');
  if (existsSync(join(onnxDir, 'model.onnx'))) return join(onnxDir, 'model.onnx');
  const found = existsSync(onnxDir)
    ? readdirSync(onnxDir).filter((f) => /^model.*\.onnx$/.test(f) && !f.endsWith('.persona.onnx'))
    : [];
  if (found.length === 1) return join(onnxDir, found[0]!);
  if (!found.length) throw new Error(`no onnx/model*.onnx in model folder ${dir}`);
  throw new Error(`several ONNX files in ${onnxDir} (${found.join(', ')}): pass { file } to choose one`);
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<SteerableModel> {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`model folder not found: ${abs}`);
  const config = loadModelConfig(abs);
  const source = findOnnxFile(abs, opts.file);
  let onnxPath = source;
  let manifest: Manifest | undefined;
  // An already-instrumented file is run as it is.
  if ((opts.prepare ?? true) && !source.endsWith('.persona.onnx'))
    ({ onnxPath, manifest } = await prepareModel(abs, { file: relative(abs, source), ablation: opts.ablation }));
  const [tokenizer, session] = await Promise.all([loadTokenizer(abs), openSession(onnxPath, { threads: opts.threads })]);
  return new SteerableModel({ dir: abs, config, tokenizer, session, manifest });
}

/** What a run directory records to know which model made its records (path and source hash). */
export function modelIdentity(model: SteerableModel): { model: string; modelSha256: string | null } {
  return { model: model.dir, modelSha256: model.manifest?.source.sha256 ?? null };
}
