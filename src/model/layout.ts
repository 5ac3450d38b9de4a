// Which kind of model folder this is, and where its ONNX graph and configuration are:
//
//   onnxruntime-genai  genai_config.json at the root (dims, special ids, I/O names, the graph's file
//                      name under model.decoder), model.onnx (+ .data) and tokenizer files beside it
//   transformers.js    config.json + onnx/model*.onnx (the Hugging Face hub layout of ONNX models)
//   optimum            config.json + model*.onnx at the root (what `optimum-cli export onnx` writes)
//
// Our own cached outputs (<stem>.persona.onnx, <stem>.persona-ablation.onnx, any <stem>.persona*.onnx)
// are never sources.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { readJsonObject } from '../io/json.js';
import { InstrumentError } from './instrument/errors.js';

export type FolderLayout = 'onnxruntime-genai' | 'transformers.js' | 'optimum';

/** Graph I/O names of a genai decoder (`%d` = layer index in the cache names). */
export interface GenaiIoNames {
  inputIds: string;
  attentionMask: string;
  positionIds: string;
  logits: string;
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
}

export interface ModelFolder {
  dir: string;
  layout: FolderLayout;
  /** The source ONNX file, relative to dir. */
  file: string;
  /** genai_config.json, parsed, when the folder has one. */
  genaiConfig?: Record<string, unknown>;
  genaiIo?: GenaiIoNames;
}

export const GENAI_CONFIG = 'genai_config.json';

/** Any `<stem>.persona*.onnx` (plain, -ablation, or other variants written beside the source). */
export function isInstrumentedFile(f: string): boolean {
  return /\.persona([.-][^/\\]*)?\.onnx$/.test(f);
}

function candidates(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^model.*\.onnx$/.test(f) && !isInstrumentedFile(f)) : [];
}

/** The one model file of a folder: model.onnx, else the only model*.onnx. */
function pick(dir: string, rel: string): string | undefined {
  const found = candidates(dir);
  if (found.includes('model.onnx')) return join(rel, 'model.onnx');
  if (found.length === 1) return join(rel, found[0]!);
  if (found.length > 1) throw new InstrumentError(`${dir}: several ONNX files (${found.join(', ')}); choose one with --file`);
  return undefined;
}

export function readGenaiConfig(dir: string): Record<string, unknown> {
  return readFolderJson(join(dir, GENAI_CONFIG));
}

/** A model folder's JSON object file (config.json, genai_config.json), as an InstrumentError naming FILE:LINE:COLUMN. */
export function readFolderJson(path: string): Record<string, unknown> {
  try {
    return readJsonObject(path);
  } catch (e) {
    throw new InstrumentError((e as Error).message);
  }
}

/** model.decoder of a genai config, or an error naming the missing field. */
export function genaiDecoder(cfg: Record<string, unknown>, where: string): Record<string, unknown> {
  const model = cfg['model'];
  const decoder = typeof model === 'object' && model !== null ? (model as Record<string, unknown>)['decoder'] : undefined;
  if (typeof decoder !== 'object' || decoder === null) throw new InstrumentError(`${where}: missing field "model.decoder"`);
  return decoder as Record<string, unknown>;
}

function genaiIo(decoder: Record<string, unknown>, where: string): GenaiIoNames {
  const section = (k: string) => (typeof decoder[k] === 'object' && decoder[k] !== null ? (decoder[k] as Record<string, unknown>) : {});
  const ins = section('inputs');
  const outs = section('outputs');
  const name = (o: Record<string, unknown>, k: string, dflt: string, field: string): string => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'string' || !v) throw new InstrumentError(`${where}: field "model.decoder.${field}.${k}" must be a name`);
    return v;
  };
  return {
    inputIds: name(ins, 'input_ids', 'input_ids', 'inputs'),
    attentionMask: name(ins, 'attention_mask', 'attention_mask', 'inputs'),
    positionIds: name(ins, 'position_ids', 'position_ids', 'inputs'),
    pastKey: name(ins, 'past_key_names', 'past_key_values.%d.key', 'inputs'),
    pastValue: name(ins, 'past_value_names', 'past_key_values.%d.value', 'inputs'),
    logits: name(outs, 'logits', 'logits', 'outputs'),
    presentKey: name(outs, 'present_key_names', 'present.%d.key', 'outputs'),
    presentValue: name(outs, 'present_value_names', 'present.%d.value', 'outputs'),
  };
}

/** genai_config.json `search`: whether the export asks for shared past/present buffers, and their length. */
export function genaiSharedBuffer(cfg: Record<string, unknown>, where: string): { share: boolean; maxLength?: number } {
  const search = typeof cfg['search'] === 'object' && cfg['search'] !== null ? (cfg['search'] as Record<string, unknown>) : {};
  const share = search['past_present_share_buffer'] ?? false;
  if (typeof share !== 'boolean') throw new InstrumentError(`${where}: field "search.past_present_share_buffer" must be true or false`);
  const max = search['max_length'];
  if (max !== undefined && !(typeof max === 'number' && Number.isInteger(max) && max > 0))
    throw new InstrumentError(`${where}: field "search.max_length" must be a positive integer, got ${JSON.stringify(max)}`);
  return { share, ...(typeof max === 'number' ? { maxLength: max } : {}) };
}

/**
 * Read a model folder's layout. `file` (relative to the folder or its onnx/ subfolder, or
 * absolute) overrides which ONNX file is the source.
 */
export function resolveModelFolder(dir: string, file?: string): ModelFolder {
  if (!existsSync(dir)) throw new InstrumentError(`model folder not found: ${dir}`);
  let genaiConfig: Record<string, unknown> | undefined;
  let io: GenaiIoNames | undefined;
  let layout: FolderLayout;
  let source: string | undefined;
  const genaiPath = join(dir, GENAI_CONFIG);
  if (existsSync(genaiPath)) {
    layout = 'onnxruntime-genai';
    genaiConfig = readGenaiConfig(dir);
    const decoder = genaiDecoder(genaiConfig, genaiPath);
    io = genaiIo(decoder, genaiPath);
    const f = decoder['filename'];
    if (typeof f !== 'string' || !f) throw new InstrumentError(`${genaiPath}: field "model.decoder.filename" must name the ONNX file`);
    if (!file && !existsSync(join(dir, f))) throw new InstrumentError(`${genaiPath}: model.decoder.filename '${f}' not found in ${dir}`);
    source = f;
  } else if (candidates(join(dir, 'onnx')).length) {
    layout = 'transformers.js';
    source = pick(join(dir, 'onnx'), 'onnx');
  } else {
    layout = existsSync(join(dir, 'onnx')) ? 'transformers.js' : 'optimum';
    source = pick(dir, '');
  }
  if (file) {
    const tried = isAbsolute(file) ? [file] : [join(dir, file), join(dir, 'onnx', file)];
    const hit = tried.find((p) => existsSync(p));
    if (!hit) throw new InstrumentError(`${tried[0]}: no such file${tried.length > 1 ? ` (nor ${tried[1]})` : ''}`);
    source = relative(dir, hit);
  }
  if (!source) throw new InstrumentError(`${dir}: no ONNX model (looked for ${GENAI_CONFIG}, onnx/model*.onnx and model*.onnx)`);
  return { dir, layout, file: source, ...(genaiConfig ? { genaiConfig, genaiIo: io } : {}) };
}
