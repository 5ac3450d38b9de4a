// loadModel: model folder -> SteerableModel. Reads config and tokenizer, instruments the ONNX
// file (hidden_states.k outputs, steer.k inputs) unless told not to, and opens the session.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { GENAI_CONFIG, genaiSharedBuffer, isInstrumentedFile, resolveModelFolder, type ModelFolder } from './layout.js';
import { loadModelConfig, type ModelConfig } from './config.js';
import { attentionContract, type AttentionContract } from './instrument/attention.js';
import { loadModel as readOnnx, prepareModel, type Manifest } from './instrument/prepare.js';
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
  /**
   * Run the KV cache as fixed-capacity past/present buffers that the graph writes in place. Default:
   * what genai_config.json asks for (search.past_present_share_buffer), where the graph's attention
   * can (GroupQueryAttention); false feeds a growing cache, true fails on a graph that cannot.
   */
  sharedCache?: boolean;
  /**
   * Reading variants (extraction) run each attention block as ONNX Attention nodes in causal
   * chunks (model/instrument/fuseAttention.ts), checked against the whole graph first; default true on
   * cpu. Hidden states then match the whole graph's to ~1e-6 relative; false: bit for bit.
   */
  fuseAttention?: boolean;
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
  // The manifest records the source graph's attention contract; an unprepared graph is read for it.
  const attention = manifest?.attention ?? attentionContract(readOnnx(onnxPath), onnxPath);
  const sharedCache = sharedCacheOf(folder, config, attention, opts.sharedCache, onnxPath);
  const [tokenizer, session] = await Promise.all([
    loadTokenizer(abs),
    openSession(onnxPath, { threads: opts.threads, device: opts.device, io: folder.genaiIo, padding: attention.padding, sharedCache, fuseAttention: opts.fuseAttention }),
  ]);
  return new SteerableModel({ dir: abs, config, tokenizer, session, manifest });
}

/** Whether (and how long) past/present buffers are shared: asked for by genai_config.json or the caller. */
function sharedCacheOf(folder: ModelFolder, config: ModelConfig, attention: AttentionContract, asked: boolean | undefined, path: string): { capacity: number } | undefined {
  const where = join(folder.dir, GENAI_CONFIG);
  const genai = folder.genaiConfig ? genaiSharedBuffer(folder.genaiConfig, where) : { share: false };
  if (!(asked ?? genai.share)) return undefined;
  if (!attention.sharedBuffer) {
    if (asked)
      throw new Error(
        `${path}: sharedCache: this graph's attention (${attention.ops.join(', ') || 'no fused attention op'}) cannot share past/present buffers; ` +
          'only GroupQueryAttention that reads row lengths from the mask writes them in place',
      );
    return undefined; // genai's other exports run with a growing cache too
  }
  const capacity = genai.maxLength ?? config.maxPositions;
  if (!capacity) throw new Error(`${path}: sharedCache needs a buffer length: ${where} has no search.max_length and the config no context length`);
  return { capacity };
}

/** What a run directory records to know which model made its records (path and source hash). */
export function modelIdentity(model: SteerableModel): { model: string; modelSha256: string | null } {
  return { model: model.dir, modelSha256: model.manifest?.source.sha256 ?? null };
}
