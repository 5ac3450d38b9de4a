// Truncated variants of an instrumented graph for reading activations: outputs hidden_states.0..K
// only, and only the nodes those outputs depend on (no LM head, no KV-cache outputs, nothing after
// block K). ONNX Runtime executes every node of a graph whatever the caller fetches, so skipping
// work means removing it from the graph. The variant also pools in the graph: an input
// `pool.weights` ([batch, positions, seq], e.g. 1/n over a response) and outputs
// `pooled.k` = pool.weights x hidden_states.k ([batch, positions, hidden], float32), so a batch
// hands back a few rows per layer instead of every token's state (onnxruntime-node copies each
// fetched output into a fresh buffer; with the mean in JavaScript, pooling and those copies were
// ~13% of a persona-tiny batch). Cached beside the instrumented file:
//   onnx/<stem>.persona.upto-K.onnx   the pruned graph (same folder: external data still resolves)
//   onnx/<stem>.persona.upto-K.json   which instrumented file (fingerprint) it was cut from; written last

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.js';
import { node, opsetImport, valueInfo } from '../../onnx/build.js';
import { DType, ModelF, GraphF, OpsetF } from '../../onnx/schema.js';
import { fieldString, Msg, readFields, rewrite, type Field } from '../../onnx/wire.js';
import type { ModelView } from '../../onnx/read.js';
import { fingerprint, loadModel, type SourceFingerprint } from './prepare.js';
import { hiddenName } from './edit.js';
import { fuseAttention, type AttentionFusion, type AttentionHeads } from './fuseAttention.js';

const MS_DOMAIN = 'com.microsoft';

/** Bump when the pruning changes, so cached variants are rebuilt. */
const TRUNCATE_FORMAT = 6; // 5: ONNX Attention in causal chunks (was GroupQueryAttention); 6: fewer Reshapes

/** The pooling input of a reading variant, and the output pooling hidden_states.k. */
export const POOL_INPUT = 'pool.weights';
export const pooledName = (k: number) => `pooled.${k}`;

interface TruncateManifest {
  format: number;
  from: SourceFingerprint;
  deepestLayer: number;
  /** Nodes fused (fuseAttention.ts: attention blocks, RoPE rotations); none: the plain variant serves. */
  fused?: { blocks: number; ropes: number };
  /** The reader's numerical check of the fused variant, once run. */
  checked?: boolean;
}

/**
 * The graph with only `keep` as outputs and the nodes, initializers and value infos they need.
 * Graph inputs all stay, so callers feed the same names (the past_key_values inputs too: attention
 * still reads the, empty, past at prefill). Null when the graph has subgraphs (If/Loop: merged decoders), whose implicit
 * outer-scope reads this pruning does not follow.
 */
export function pruneToOutputs(model: ModelView, keep: string[], opts: { pool?: boolean; fusion?: AttentionFusion } = {}): Msg | null {
  const g = model.graph;
  if (g.nodes.some((n) => [...n.attrs.values()].some((a) => a.g))) return null;
  const fusion = opts.fusion;
  const producer = new Map<string, number>();
  for (const n of g.nodes) for (const o of fusion?.writes.get(n.index) ?? n.outputs) if (o) producer.set(o, n.index);
  // A replaced node's own outputs are written by its replacement (above); nothing else of it stays.
  const reads = (i: number) => fusion?.reads.get(i) ?? g.nodes[i]!.inputs;
  const missing = keep.find((k) => !g.outputs.some((o) => o.name === k));
  if (missing) throw new Error(`${missing} is not an output of this graph`);

  const needed = new Set<string>(keep);
  const keptNodes = new Set<number>();
  const stack = [...keep];
  while (stack.length) {
    const v = stack.pop()!;
    const p = producer.get(v);
    if (p === undefined || keptNodes.has(p)) continue;
    keptNodes.add(p);
    for (const i of reads(p))
      if (i && !needed.has(i)) {
        needed.add(i);
        stack.push(i);
      }
  }
  const nodeAt = new Map(g.nodes.map((n) => [n.field.start, n.index]));
  const nameAt = new Map<number, string>();
  for (const t of g.initializers) nameAt.set(t.field.start, t.name);
  for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) nameAt.set(v.field.start, v.name);
  const keepOut = new Set(keep);
  // Pooling (see the file comment): one MatMul per kept hidden_states.k, float16 ones cast first.
  const pool = opts.pool ? poolingParts(model, keep) : undefined;
  const last = (no: number) => g.fields.reduce((acc, f, i) => (f.no === no ? i : acc), -1);
  const [lastNode, lastIn, lastOut] = [last(GraphF.node), last(GraphF.input), last(GraphF.output)];
  const indexAt = new Map(g.fields.map((f, i) => [f.start, i]));
  const graphMsg = rewrite(g.buf, g.fields, (f) => {
    const name = nameAt.get(f.start);
    const i = indexAt.get(f.start)!;
    const keepField = (() => {
      switch (f.no) {
        case GraphF.node:
          return keptNodes.has(nodeAt.get(f.start)!);
        case GraphF.initializer:
        case GraphF.valueInfo:
          return needed.has(name!);
        case GraphF.output:
          return keepOut.has(name!);
        default:
          return true;
      }
    })();
    const extra = !pool ? [] : i === lastNode ? pool.nodes.map((n) => [GraphF.node, n] as const) : i === lastIn ? [[GraphF.input, pool.input] as const] : i === lastOut ? pool.outputs.map((o) => [GraphF.output, o] as const) : [];
    const replaced = f.no === GraphF.node ? fusion?.replace.get(nodeAt.get(f.start)!) : undefined;
    if (!extra.length && !(keepField && replaced)) return keepField ? undefined : null;
    const m = new Msg();
    if (keepField && replaced) for (const n of replaced) m.message(GraphF.node, n);
    else if (keepField) m.field(g.buf, f);
    for (const [no, x] of extra) m.message(no, x);
    return m;
  });
  // The fused nodes are com.microsoft ops: the model imports that domain if it did not.
  const opset = fusion && !model.opsets.some((o) => o.domain === MS_DOMAIN) ? opsetImport({ domain: MS_DOMAIN, version: 1 }) : undefined;
  return rewrite(model.buf, model.fields, (f) => {
    // A raised default-domain opset (fuseAttention.ts: ONNX Attention is opset 23). The IR version
    // stays: ONNX Runtime runs opset 23 at IR 7 (the oldest a graph of opset 13 has) and up.
    if (fusion?.opset && f.no === ModelF.opsetImport && isDefaultDomain(model.buf, f)) return new Msg().message(ModelF.opsetImport, opsetImport({ domain: '', version: fusion.opset }));
    if (f !== model.graphField) return undefined;
    const m = new Msg().message(ModelF.graph, graphMsg);
    return opset ? m.message(ModelF.opsetImport, opset) : m;
  });
}

const defaultOpset = (model: ModelView) => model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 0;

function isDefaultDomain(buf: Uint8Array, f: Field): boolean {
  const d = readFields(buf, f.dataStart, f.dataEnd).find((x) => x.no === OpsetF.domain);
  const name = d ? fieldString(buf, d) : '';
  return name === '' || name === 'ai.onnx';
}

/** The pooling input, nodes and outputs for the kept hidden_states.k of `model`. */
function poolingParts(model: ModelView, keep: string[]): { input: Msg; nodes: Msg[]; outputs: Msg[] } {
  const g = model.graph;
  const input = valueInfo(POOL_INPUT, DType.FLOAT, ['batch_size', 'pool_positions', 'sequence_length']);
  const nodes: Msg[] = [];
  const outputs: Msg[] = [];
  for (const name of keep) {
    const k = Number(/^hidden_states\.(\d+)$/.exec(name)![1]);
    let h = name;
    if (g.outputs.find((o) => o.name === name)!.elemType !== DType.FLOAT) {
      h = `persona/pool/${name}/float`;
      nodes.push(node({ op: 'Cast', inputs: [name], outputs: [h], name: h, attrs: { to: DType.FLOAT } }));
    }
    nodes.push(node({ op: 'MatMul', inputs: [POOL_INPUT, h], outputs: [pooledName(k)], name: `persona/pool/${pooledName(k)}` }));
    outputs.push(valueInfo(pooledName(k), DType.FLOAT, ['batch_size', 'pool_positions', null]));
  }
  return { input, nodes, outputs };
}

/** Paths of the variant of `instrumented` that ends at hidden_states.<deepest> (`.fused`: attention fused). */
export function truncatedPaths(instrumented: string, deepest: number, fused = false): { onnx: string; manifest: string } {
  return variantPaths(instrumented, deepest, fused ? '.fused' : '');
}

/** The fused variant's files as versions before TRUNCATE_FORMAT 5 named them (`.gqa`). */
export function legacyPaths(instrumented: string, deepest: number): string[] {
  const { onnx, manifest } = variantPaths(instrumented, deepest, '.gqa');
  return [onnx, manifest];
}

function variantPaths(instrumented: string, deepest: number, suffix: string): { onnx: string; manifest: string } {
  const stem = `${join(dirname(instrumented), basename(instrumented).replace(/\.onnx$/, ''))}.upto-${deepest}${suffix}`;
  return { onnx: `${stem}.onnx`, manifest: `${stem}.json` };
}

export interface ReadingVariant {
  path: string;
  /** Attention blocks run as ONNX Attention, RoPE rotations as RotaryEmbedding (fuseAttention.ts); zeros in the plain variant. */
  fused: { blocks: number; ropes: number };
  /** Outcome of the reader's numerical check of a fused variant; undefined until it has run. */
  checked?: boolean;
}

const NONE = { blocks: 0, ropes: 0 };
export const isFused = (f: { blocks: number; ropes: number } | undefined): boolean => !!f && f.blocks + f.ropes > 0;

function readManifest(path: string): TruncateManifest | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as TruncateManifest;
  } catch {
    return null; // absent or unreadable: rebuild
  }
}

/**
 * The cached variant of an instrumented ONNX file that computes hidden_states.0..deepest and
 * nothing else, built on first use. With `fuse`, the variant whose attention blocks are fused,
 * unless none matches or an earlier check rejected it (then the plain one). Null when the graph
 * cannot be pruned (see pruneToOutputs).
 */
export function truncatedModel(instrumented: string, deepest: number, opts: { fuse?: AttentionHeads } = {}): ReadingVariant | null {
  const from = fingerprint(dirname(instrumented), basename(instrumented));
  const same = (m: TruncateManifest | null): m is TruncateManifest =>
    m?.format === TRUNCATE_FORMAT &&
    m.deepestLayer === deepest &&
    m.from.size === from.size &&
    m.from.mtimeMs === from.mtimeMs &&
    m.from.sha256 === from.sha256;
  let model: ModelView | undefined;
  const build = (fused: boolean): ReadingVariant | null => {
    const paths = truncatedPaths(instrumented, deepest, fused);
    const old = readManifest(paths.manifest);
    // Cached: the file, or (fused) the record that nothing in this graph fuses.
    if (same(old) && (existsSync(paths.onnx) || (fused && !isFused(old.fused)))) return { path: paths.onnx, fused: old.fused ?? NONE, checked: old.checked };
    // The GroupQueryAttention variant of earlier versions, as large as the blocks it holds: gone.
    if (fused) for (const f of legacyPaths(instrumented, deepest)) rmSync(f, { force: true });
    model ??= loadModel(instrumented);
    const keep = model.graph.outputs.map((o) => o.name).filter((n) => {
      const m = /^hidden_states\.(\d+)$/.exec(n);
      return m !== null && Number(m[1]) <= deepest;
    });
    if (!keep.includes(hiddenName(deepest))) throw new Error(`${instrumented} has no output ${hiddenName(deepest)}`);
    const fusion = fused && opts.fuse ? fuseAttention(model.graph, opts.fuse, defaultOpset(model)) : undefined;
    const done = fusion ? { blocks: fusion.blocks, ropes: fusion.ropes } : NONE;
    const manifest: TruncateManifest = { format: TRUNCATE_FORMAT, from, deepestLayer: deepest, fused: done };
    if (fused && !fusion) {
      writeJsonAtomic(paths.manifest, manifest); // nothing to fuse: remembered, the plain variant serves
      return { path: paths.onnx, fused: NONE };
    }
    const msg = pruneToOutputs(model, keep, { pool: true, fusion: fusion ?? undefined });
    if (!msg) return null;
    writeFileAtomic(paths.onnx, msg.parts);
    writeJsonAtomic(paths.manifest, manifest);
    return { path: paths.onnx, fused: done };
  };
  if (opts.fuse) {
    const v = build(true);
    if (v === null || (isFused(v.fused) && v.checked !== false)) return v;
  }
  return build(false);
}

/** Record the reader's check of a fused variant, so a rejected one is not built or tried again. */
export function recordFusionCheck(instrumented: string, deepest: number, ok: boolean): void {
  const { manifest } = truncatedPaths(instrumented, deepest, true);
  const m = readManifest(manifest);
  if (m) writeJsonAtomic(manifest, { ...m, checked: ok });
}
