// An ONNX Runtime session plus what its declared inputs and outputs tell us. Every input the graph
// declares is classified here, with its element type, so forward() can feed each one in the type
// the graph asks for:
//   token ids, attention mask, position ids   int32 or int64 (mask and positions may be absent)
//   KV cache                                  past_key_values.N.key/value -> present.N.key/value
//                                             ([batch, kv_heads, past, head_dim]), or packed
//                                             past_N -> present_N ([2, batch, heads, past, head_dim],
//                                             the ORT-transformers GPT-2 form); genai names per
//                                             genai_config.json
//   use_cache_branch                          bool (merged Optimum decoders)
//   steer.k / ablate.k, hidden_states.k       added by our instrumentation
// An input that is none of these fails at load, by name.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Padding } from './instrument/attention.js';
import { columnsName } from './instrument/cacheColumns.js';
import { POOL_INPUT } from './instrument/truncate.js';
import type { GenaiIoNames } from './layout.js';

export type FloatType = 'float32' | 'float16';
export type IntType = 'int32' | 'int64';

export interface SessionOptions {
  /** Intra-op threads; default: ORT's choice (all physical cores). */
  threads?: number;
  /** ONNX Runtime execution provider: cpu (default), cuda, webgpu, ... */
  device?: string;
  /** Graph I/O names from genai_config.json; default the Optimum names. */
  io?: GenaiIoNames;
  /** Where ragged rows put their pads (instrument/attention.ts); default left. */
  padding?: Padding;
  /** Run the cache as fixed-capacity past/present buffers written in place, this many columns. */
  sharedCache?: { capacity: number };
  /** Reading variants run attention as ONNX Attention in causal chunks (instrument/fuseAttention.ts); default true on cpu. */
  fuseAttention?: boolean;
}

export interface IntInput {
  name: string;
  type: IntType;
}

export interface CacheInput {
  /** The past input and the present output that continues it. */
  past: string;
  present: string;
  /** kv: [batch, heads, past, dim]; packed: [2, batch, heads, past, dim] (key and value stacked). */
  layout: 'kv' | 'packed';
  type: FloatType;
  /** heads and head dim when the graph states them as numbers. */
  heads?: number;
  dim?: number;
  /** Output holding only this call's new columns (instrument/cacheColumns.ts), when the graph has one. */
  columns?: string;
}

export interface ModelSession {
  session: ort.InferenceSession;
  path: string;
  /** What it was opened with (a pruned reading variant is opened alike). */
  options: SessionOptions;
  /** False on a variant pruned for reading hidden states (instrument/truncate.ts). */
  hasLogits: boolean;
  /** False when the cache inputs have no present outputs (a reading variant): forward runs without a cache. */
  hasCacheOutputs: boolean;
  /** The execution provider the session runs on. */
  device: string;
  /** Element type of logits. */
  floatType: FloatType;
  /** Element type of the steer / ablate inputs (the residual stream's). */
  residualType: FloatType;
  inputIds: IntInput;
  attentionMask?: IntInput;
  positionIds?: IntInput;
  logits: string;
  /** Cache inputs in graph order. */
  cache: CacheInput[];
  /** Where ragged rows put their pads (see instrument/attention.ts). */
  padding: Padding;
  /** Past and present share fixed-capacity buffers (genai past_present_share_buffer). */
  sharedCache?: { capacity: number };
  hasUseCacheBranch: boolean;
  /** layer k -> `steer.k` / `ablate.k` input, `hidden_states.k` output. */
  steerInputs: Map<number, string>;
  ablateInputs: Map<number, string>;
  hiddenOutputs: Map<number, string>;
  /** Reading variants (instrument/truncate.ts): the pooling input, and layer k -> `pooled.k`. */
  poolInput?: string;
  pooledOutputs: Map<number, string>;
}

function indexed(names: readonly string[], re: RegExp): Map<number, string> {
  const out = new Map<number, string>();
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.set(Number(m[1]), n);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/** A genai name template ('past_key_values.%d.key') as a regex capturing the layer. */
function template(t: string): RegExp {
  return new RegExp(`^${t.split('%d').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('(\\d+)')}$`);
}

/** Where onnxruntime-node keeps its native binding and the provider libraries it loads beside it. */
function bindingDir(): string {
  const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
  return join(dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Execution providers this install can run: those built into the binding, and the others whose
 * provider library (libonnxruntime_providers_<name>.so / .dll / .dylib) is present beside it —
 * what `ONNXRUNTIME_NODE_INSTALL=true npm rebuild onnxruntime-node` downloads for CUDA.
 */
export function installedProviders(): string[] {
  const dir = bindingDir();
  const lib = (name: string) =>
    [`libonnxruntime_providers_${name}.so`, `onnxruntime_providers_${name}.dll`, `libonnxruntime_providers_${name}.dylib`].some((f) => existsSync(join(dir, f)));
  return ort.listSupportedBackends().filter((b) => b.bundled || lib(b.name)).map((b) => b.name);
}

/** The execution provider list for `device`, or an error naming it and what is available. */
export function executionProviders(device = 'cpu'): string[] {
  const known = ort.listSupportedBackends().map((b) => b.name);
  if (!known.includes(device)) throw new Error(`device '${device}': not an ONNX Runtime execution provider of this install (known: ${known.join(', ')})`);
  if (!installedProviders().includes(device))
    throw new Error(
      `device '${device}': ONNX Runtime's ${device} provider is not installed (npm install skips its download; ` +
        `see the README section "Running on a GPU"; installed: ${installedProviders().join(', ')})`,
    );
  return [device];
}

/** Intra-op spinning: between runs too (generation), or only while a run lasts (reading). */
type Spin = 'always' | 'in-runs';

async function createSession(path: string, opts: SessionOptions, spin: Spin): Promise<ort.InferenceSession> {
  const device = opts.device ?? 'cpu';
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: executionProviders(device),
    graphOptimizationLevel: 'all',
    // ORT's memory patterns plan one allocation per set of input shapes, and a decode loop or a
    // dataset of ragged batches feeds a new set nearly every call: `persona screen` grew 1.29x in
    // peak RSS from 128 to 1,024 rows with them, 1.06x without, at no measurable cost in speed
    // (8x64 extraction of a 135M model 605/608 ms with, 626/595 ms without).
    enableMemPattern: false,
    ...(spin === 'always' ? {} : { extra: { session: { force_spinning_stop: '1' } } }),
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
  };
  try {
    return await ort.InferenceSession.create(path, options);
  } catch (e) {
    const msg = (e as Error).message;
    const backend = ort.listSupportedBackends().find((b) => b.name === device);
    if (backend && !backend.bundled && /load (shared )?librar/i.test(msg))
      throw new Error(`device '${device}': ONNX Runtime's ${device} provider is installed but does not load (its own libraries, e.g. CUDA 12, are missing). ONNX Runtime said: ${msg.split('\n')[0]}`);
    throw new Error(`cannot load ONNX model ${path}${device === 'cpu' ? '' : ` on device '${device}'`}: ${msg}`);
  }
}

/**
 * need.logits false: a reading variant (instrument/truncate.ts), whose intra-op threads spin between
 * ops only while a run lasts (`session.force_spinning_stop`). ONNX Runtime's workers otherwise spin
 * ~30 ms after every run, and on few cores that steals a core from the next run of any other
 * session or process; not spinning at all costs a thread wake-up per parallel op instead, dear on a
 * VM (persona-tiny 8x64 on 2 cores, 10 batches back to back: 12.8 ms a batch not spinning, 11.1
 * spinning in runs; SmolLM2-shaped 718 / 698 ms). Generation sessions spin always: a decode
 * step's many small ops gain from it (SmolLM2-shaped: 27.5 vs 32.6 ms a token without).
 */
export async function openSession(path: string, opts: SessionOptions = {}, need: { logits: boolean } = { logits: true }): Promise<ModelSession> {
  const session = await createSession(path, opts, need.logits ? 'always' : 'in-runs');
  const io = opts.io;
  const ins = session.inputNames;
  const outs = session.outputNames;
  const meta = new Map(session.inputMetadata.map((m) => [m.name, m]));
  const outMeta = new Map(session.outputMetadata.map((m) => [m.name, m]));
  const typeOf = (name: string) => {
    const m = meta.get(name) ?? outMeta.get(name);
    return m?.isTensor ? m.type : undefined;
  };
  const intInput = (name: string, required: boolean): IntInput | undefined => {
    if (!ins.includes(name)) {
      if (required) throw new Error(`${path}: expected a decoder with input "${name}"; inputs are ${ins.join(', ')}`);
      return undefined;
    }
    const t = typeOf(name) ?? 'int64';
    if (t !== 'int32' && t !== 'int64') throw new Error(`${path}: input "${name}" is ${t}; expected int32 or int64`);
    return { name, type: t };
  };

  const logits = io?.logits ?? 'logits';
  const hasLogits = outs.includes(logits);
  if (!hasLogits && need.logits) throw new Error(`${path}: expected an output "${logits}"; outputs are ${outs.join(', ')}`);
  const floatType = (typeOf(hasLogits ? logits : outs[0]!) ?? 'float32') as string;
  if (floatType !== 'float32' && floatType !== 'float16')
    throw new Error(`${path}: logits are ${floatType}; only float32 and float16 models are supported`);

  const inputIds = intInput(io?.inputIds ?? 'input_ids', true)!;
  const attentionMask = intInput(io?.attentionMask ?? 'attention_mask', false);
  const positionIds = intInput(io?.positionIds ?? 'position_ids', false);

  // Cache naming schemes: (past regex, present name of layer/kind, layout).
  const schemes: { re: RegExp; present: (m: RegExpExecArray) => string; layout: CacheInput['layout'] }[] = [
    { re: /^past_(\d+)$/, present: (m) => `present_${m[1]}`, layout: 'packed' },
    { re: /^past_key_values\.(\d+)\.(key|value)$/, present: (m) => `present.${m[1]}.${m[2]}`, layout: 'kv' },
  ];
  if (io)
    for (const [p, q] of [[io.pastKey, io.presentKey], [io.pastValue, io.presentValue]] as const)
      schemes.unshift({ re: template(p), present: (m) => q.replace('%d', m[1]!), layout: 'kv' });

  const cache: CacheInput[] = [];
  const steerInputs = indexed(ins, /^steer\.(\d+)$/);
  const ablateInputs = indexed(ins, /^ablate\.(\d+)$/);
  const poolInput = ins.includes(POOL_INPUT) ? POOL_INPUT : undefined;
  const known = new Set([inputIds.name, attentionMask?.name, positionIds?.name, 'use_cache_branch', poolInput, ...steerInputs.values(), ...ablateInputs.values()]);
  for (const name of ins) {
    if (known.has(name)) continue;
    const scheme = schemes.map((s) => ({ s, m: s.re.exec(name) })).find((x) => x.m);
    if (!scheme)
      throw new Error(
        `${path}: input "${name}" is not one persona-steer can feed (it feeds token ids, attention mask, position ids, ` +
          `past_key_values.N.key/value, packed past_N, use_cache_branch, steer.k, ablate.k)`,
      );
    const present = scheme.s.present(scheme.m!);
    // A reading variant keeps the past inputs (fed empty) but has no cache outputs.
    if (!outs.includes(present) && need.logits) throw new Error(`${path}: cache input ${name} has no matching output ${present}`);
    const t = typeOf(name) ?? floatType;
    if (t !== 'float32' && t !== 'float16') throw new Error(`${path}: cache input "${name}" is ${t}; expected float32 or float16`);
    const m = meta.get(name);
    const shape = m?.isTensor ? m.shape : [];
    const [heads, dim] = scheme.s.layout === 'packed' ? [shape[2], shape[4]] : [shape[1], shape[3]];
    cache.push({
      past: name,
      present,
      layout: scheme.s.layout,
      type: t,
      ...(typeof heads === 'number' ? { heads } : {}),
      ...(typeof dim === 'number' ? { dim } : {}),
      ...(scheme.s.layout === 'kv' && outs.includes(columnsName(present)) ? { columns: columnsName(present) } : {}),
    });
  }
  const firstSteer = [...steerInputs.values()][0];
  const residualType = ((firstSteer && typeOf(firstSteer)) ?? floatType) as FloatType;

  return {
    session,
    path,
    options: opts,
    hasLogits,
    hasCacheOutputs: cache.every((c) => outs.includes(c.present)),
    device: opts.device ?? 'cpu',
    floatType,
    residualType,
    inputIds,
    attentionMask,
    positionIds,
    logits,
    cache,
    padding: opts.padding ?? 'left',
    ...(opts.sharedCache && cache.length ? { sharedCache: opts.sharedCache } : {}),
    hasUseCacheBranch: ins.includes('use_cache_branch'),
    steerInputs,
    ablateInputs,
    hiddenOutputs: indexed(outs, /^hidden_states\.(\d+)$/),
    ...(poolInput ? { poolInput } : {}),
    pooledOutputs: indexed(outs, /^pooled\.(\d+)$/),
  };
}
