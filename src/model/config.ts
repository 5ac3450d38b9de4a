// config.json + generation_config.json of a Hugging Face model folder, normalised to one shape.
// Architectures spell the same numbers differently (llama: num_hidden_layers, gpt2: n_layer, ...);
// everything downstream reads ModelConfig only.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../io/json.js';

export interface ModelConfig {
  /** config.json `model_type` (llama, qwen2, gemma, phi3, gpt2, ...). */
  modelType: string;
  /** L, the number of decoder blocks; hidden states are indexed 0..L. */
  numLayers: number;
  /** H, the width of the residual stream. */
  hiddenSize: number;
  numHeads: number;
  /** Key/value heads (GQA); equals numHeads for plain multi-head attention. */
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  /** Every id that ends a turn: config.json and generation_config.json merged. */
  eosTokenIds: number[];
  bosTokenId?: number;
  padTokenId?: number;
  maxPositions?: number;
  /**
   * Attention window of (some) layers, where config.json sets one and applies it (qwen2's
   * use_sliding_window: false switches it off): keys further back than this are not seen.
   */
  slidingWindow?: number;
  /** The parsed config.json, for fields we do not normalise. */
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** Multimodal / nested configs (gemma3, some phi exports) keep the decoder under text_config. */
function decoderSection(cfg: Json): Json {
  const text = cfg['text_config'];
  return typeof text === 'object' && text !== null ? { ...cfg, ...(text as Json) } : cfg;
}

function firstInt(cfg: Json, file: string, names: string[], required: true): number;
function firstInt(cfg: Json, file: string, names: string[], required: false): number | undefined;
function firstInt(cfg: Json, file: string, names: string[], required: boolean): number | undefined {
  for (const n of names) {
    const v = cfg[n];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw new Error(`${file}: field "${n}" must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }
  if (required) throw new Error(`${file}: missing field ${names.map((n) => `"${n}"`).join(' / ')}`);
  return undefined;
}

/** eos_token_id may be a number or a list (llama 3 ends turns with several ids). */
function idList(cfg: Json, file: string, name: string): number[] {
  const v = cfg[name];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list)
    if (typeof x !== 'number' || !Number.isInteger(x))
      throw new Error(`${file}: field "${name}" must be an integer or a list of integers, got ${JSON.stringify(v)}`);
  return list as number[];
}

/**
 * `sliding_window` where it applies. It only decides whether decoding may keep its cache in masked
 * slots (model/kvSlots.ts), so an odd value does not stop a model loading: it reads as the narrowest
 * window, which keeps the contiguous cache.
 */
function slidingWindow(c: Json): number | undefined {
  const w = c['sliding_window'];
  if (w === undefined || w === null || w === false || c['use_sliding_window'] === false) return undefined;
  return typeof w === 'number' && w >= 1 ? Math.floor(w) : 1;
}

export function parseModelConfig(
  config: Json,
  generation: Json = {},
  where = 'config.json',
  gen = 'generation_config.json',
): ModelConfig {
  const c = decoderSection(config);
  const numLayers = firstInt(c, where, ['num_hidden_layers', 'n_layer', 'num_layers'], true);
  const hiddenSize = firstInt(c, where, ['hidden_size', 'n_embd', 'd_model'], true);
  const numHeads = firstInt(c, where, ['num_attention_heads', 'n_head', 'num_heads'], true);
  const numKvHeads = firstInt(c, where, ['num_key_value_heads', 'num_kv_heads', 'multi_query_group_num'], false) ?? numHeads;
  const headDim = firstInt(c, where, ['head_dim'], false) ?? hiddenSize / numHeads;
  const vocabSize = firstInt(c, where, ['vocab_size'], true);
  if (numLayers < 1) throw new Error(`${where}: number of layers must be >= 1, got ${numLayers}`);
  if (!Number.isInteger(headDim))
    throw new Error(`${where}: hidden size ${hiddenSize} is not divisible by ${numHeads} heads and no "head_dim" is given`);
  if (numKvHeads === 0 || numHeads % numKvHeads !== 0)
    throw new Error(`${where}: ${numHeads} attention heads are not divisible by ${numKvHeads} key/value heads`);

  // generation_config.json wins where both define a field (it is what HF generate() uses).
  const eos = [...new Set([...idList(generation, gen, 'eos_token_id'), ...idList(c, where, 'eos_token_id')])];
  const bos = firstInt(generation, gen, ['bos_token_id'], false) ?? firstInt(c, where, ['bos_token_id'], false);
  const pad = firstInt(generation, gen, ['pad_token_id'], false) ?? firstInt(c, where, ['pad_token_id'], false);
  return {
    modelType: String(c['model_type'] ?? 'unknown'),
    numLayers,
    hiddenSize,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize,
    eosTokenIds: eos,
    bosTokenId: bos,
    padTokenId: pad,
    maxPositions: firstInt(c, where, ['max_position_embeddings', 'n_positions', 'n_ctx'], false),
    slidingWindow: slidingWindow(c),
    raw: config,
  };
}

/**
 * onnxruntime-genai's genai_config.json: ids and vocab under `model`, dims under `model.decoder`
 * (head_size for head_dim, context_length for the longest sequence).
 */
export function parseGenaiConfig(cfg: Json, where = 'genai_config.json'): ModelConfig {
  const model = cfg['model'];
  if (typeof model !== 'object' || model === null) throw new Error(`${where}: missing field "model"`);
  const m = model as Json;
  const d = m['decoder'];
  if (typeof d !== 'object' || d === null) throw new Error(`${where}: missing field "model.decoder"`);
  const flat: Json = {
    ...(d as Json),
    model_type: m['type'],
    vocab_size: m['vocab_size'],
    eos_token_id: m['eos_token_id'],
    bos_token_id: m['bos_token_id'],
    pad_token_id: m['pad_token_id'],
    max_position_embeddings: m['context_length'],
    head_dim: (d as Json)['head_size'],
  };
  return parseModelConfig(flat, {}, where, where);
}

/**
 * Read `<dir>/config.json` and, when present, `<dir>/generation_config.json`; a folder with only
 * genai_config.json (onnxruntime-genai layout) is read from that.
 */
export function loadModelConfig(dir: string): ModelConfig {
  const cfgPath = join(dir, 'config.json');
  const genaiPath = join(dir, 'genai_config.json');
  if (!existsSync(cfgPath) && existsSync(genaiPath)) return parseGenaiConfig(readJsonObject(genaiPath), genaiPath);
  if (!existsSync(cfgPath)) throw new Error(`no config.json (nor genai_config.json) in model folder ${dir}`);
  const genPath = join(dir, 'generation_config.json');
  const gen = existsSync(genPath) ? readJsonObject(genPath) : {};
  return parseModelConfig(readJsonObject(cfgPath), gen, cfgPath, genPath);
}
