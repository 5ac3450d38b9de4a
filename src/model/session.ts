// An ONNX Runtime session plus what its input/output names tell us: the KV-cache pairs, the
// optional inputs (position_ids, use_cache_branch) and, on an instrumented model, the
// `hidden_states.k` outputs and `steer.k` / `ablate.k` inputs. The runtime relies on names only.

import * as ort from 'onnxruntime-node';

export type FloatType = 'float32' | 'float16';

export interface SessionOptions {
  /** Intra-op threads; default: ORT's choice (all physical cores). */
  threads?: number;
}

export interface ModelSession {
  session: ort.InferenceSession;
  path: string;
  /** Element type of logits, hidden states, KV cache and steer inputs. */
  floatType: FloatType;
  /** past_key_values.* input names, in graph order; `presentOf` maps each to its output. */
  pastInputs: string[];
  presentOf: Map<string, string>;
  /** [kvHeads, headDim] of the cache tensors, when the graph states them as numbers. */
  kvDims?: [number, number];
  hasPositionIds: boolean;
  hasUseCacheBranch: boolean;
  /** layer k -> `steer.k` / `ablate.k` input, `hidden_states.k` output. */
  steerInputs: Map<number, string>;
  ablateInputs: Map<number, string>;
  hiddenOutputs: Map<number, string>;
}

function indexed(names: readonly string[], re: RegExp): Map<number, string> {
  const out = new Map<number, string>();
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.set(Number(m[1]), n);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

function metaType(meta: readonly ort.InferenceSession.ValueMetadata[], name: string): string | undefined {
  const m = meta.find((x) => x.name === name);
  return m && m.isTensor ? m.type : undefined;
}

export async function openSession(path: string, opts: SessionOptions = {}): Promise<ModelSession> {
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, options);
  } catch (e) {
    throw new Error(`cannot load ONNX model ${path}: ${(e as Error).message}`);
  }
  const ins = session.inputNames;
  const outs = session.outputNames;
  for (const need of ['input_ids', 'attention_mask'])
    if (!ins.includes(need)) throw new Error(`${path}: expected a decoder with input "${need}"; inputs are ${ins.join(', ')}`);
  if (!outs.includes('logits')) throw new Error(`${path}: expected an output "logits"; outputs are ${outs.join(', ')}`);

  const pastInputs = ins.filter((n) => /^past_key_values\.\d+\.(key|value)$/.test(n));
  const presentOf = new Map<string, string>();
  for (const p of pastInputs) {
    const present = p.replace(/^past_key_values\./, 'present.');
    if (!outs.includes(present)) throw new Error(`${path}: cache input ${p} has no matching output ${present}`);
    presentOf.set(p, present);
  }

  const floatType = (metaType(session.outputMetadata, 'logits') ?? 'float32') as string;
  if (floatType !== 'float32' && floatType !== 'float16')
    throw new Error(`${path}: logits are ${floatType}; only float32 and float16 models are supported`);

  let kvDims: [number, number] | undefined;
  const kvMeta = session.inputMetadata.find((m) => m.name === pastInputs[0]);
  if (kvMeta?.isTensor) {
    const [, heads, , dim] = kvMeta.shape;
    if (typeof heads === 'number' && typeof dim === 'number') kvDims = [heads, dim];
  }

  return {
    session,
    path,
    floatType,
    pastInputs,
    presentOf,
    kvDims,
    hasPositionIds: ins.includes('position_ids'),
    hasUseCacheBranch: ins.includes('use_cache_branch'),
    steerInputs: indexed(ins, /^steer\.(\d+)$/),
    ablateInputs: indexed(ins, /^ablate\.(\d+)$/),
    hiddenOutputs: indexed(outs, /^hidden_states\.(\d+)$/),
  };
}
