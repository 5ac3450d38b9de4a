// loadModel: model folder -> SteerableModel. Reads config and tokenizer, instruments the ONNX
// file (hidden_states.k outputs, steer.k inputs) unless told not to, and opens the session.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isInstrumentedFile, resolveModelFolder } from './layout.js';
import { loadModelConfig } from './config.js';
import { prepareModel, type Manifest } from './instrument/prepare.js';
import { executionProviders, openSession } from './session.js';
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
  /** ONNX Runtime execution provider: 'cpu' (default), 'cuda', ... (see README, "Running on a GPU"). */
  device?: string;
}

/** The ONNX file to run, before instrumentation (absolute path). */
export function findOnnxFile(dir: string, file?: string): string {
  return join(dir, resolveModelFolder(dir, file).file);
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<SteerableModel> {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`model folder not found: ${abs}`);
  executionProviders(opts.device); // an unknown device fails before instrumenting
  const folder = resolveModelFolder(abs, opts.file);
  const config = loadModelConfig(abs);
  let onnxPath = join(abs, folder.file);
  let manifest: Manifest | undefined;
  // An already-instrumented file is run as it is.
  if ((opts.prepare ?? true) && !isInstrumentedFile(folder.file))
    ({ onnxPath, manifest } = await prepareModel(abs, { file: folder.file, ablation: opts.ablation }));
  const [tokenizer, session] = await Promise.all([loadTokenizer(abs), openSession(onnxPath, { threads: opts.threads, device: opts.device, io: folder.genaiIo })]);
  return new SteerableModel({ dir: abs, config, tokenizer, session, manifest });
}

/** What a run directory records to know which model made its records (path and source hash). */
export function modelIdentity(model: SteerableModel): { model: string; modelSha256: string | null } {
  return { model: model.dir, modelSha256: model.manifest?.source.sha256 ?? null };
}
