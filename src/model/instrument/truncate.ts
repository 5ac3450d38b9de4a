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

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../../io/atomic.js';
import { node, valueInfo } from '../../onnx/build.js';
import { DType, ModelF, GraphF } from '../../onnx/schema.js';
import { Msg, rewrite } from '../../onnx/wire.js';
import type { ModelView } from '../../onnx/read.js';
import { fingerprint, loadModel, type SourceFingerprint } from './prepare.js';
import { hiddenName } from './edit.js';

/** Bump when the pruning changes, so cached variants are rebuilt. */
const TRUNCATE_FORMAT = 2;

/** The pooling input of a reading variant, and the output pooling hidden_states.k. */
export const POOL_INPUT = 'pool.weights';
export const pooledName = (k: number) => `pooled.${k}`;

interface TruncateManifest {
  format: number;
  from: SourceFingerprint;
  deepestLayer: number;
}

/**
 * The graph with only `keep` as outputs and the nodes, initializers and value infos they need.
 * Graph inputs all stay, so callers feed the same names (the past_key_values inputs too: attention
 * still reads the, empty, past at prefill). Null when the graph has subgraphs (If/Loop: merged decoders), whose implicit
 * outer-scope reads this pruning does not follow.
 */
export function pruneToOutputs(model: ModelView, keep: string[], opts: { pool?: boolean } = {}): Msg | null {
  const g = model.graph;
  if (g.nodes.some((n) => [...n.attrs.values()].some((a) => a.g))) return null;
  const producer = new Map<string, number>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n.index);
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
    for (const i of g.nodes[p]!.inputs)
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
    if (!extra.length) return keepField ? undefined : null;
    const m = new Msg();
    if (keepField) m.field(g.buf, f);
    for (const [no, x] of extra) m.message(no, x);
    return m;
  });
  return rewrite(model.buf, model.fields, (f) => (f === model.graphField ? new Msg().message(ModelF.graph, graphMsg) : undefined));
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

/** Paths of the variant of `instrumented` that ends at hidden_states.<deepest>. */
export function truncatedPaths(instrumented: string, deepest: number): { onnx: string; manifest: string } {
  const stem = join(dirname(instrumented), basename(instrumented).replace(/\.onnx$/, ''));
  return { onnx: `${stem}.upto-${deepest}.onnx`, manifest: `${stem}.upto-${deepest}.json` };
}

/**
 * The cached variant of an instrumented ONNX file that computes hidden_states.0..deepest and
 * nothing else, built on first use. Null when the graph cannot be pruned (see pruneToOutputs).
 */
export function truncatedModel(instrumented: string, deepest: number): string | null {
  const paths = truncatedPaths(instrumented, deepest);
  const from = fingerprint(dirname(instrumented), basename(instrumented));
  const same = (m: TruncateManifest | null) =>
    m?.format === TRUNCATE_FORMAT &&
    m.deepestLayer === deepest &&
    m.from.size === from.size &&
    m.from.mtimeMs === from.mtimeMs &&
    m.from.sha256 === from.sha256;
  let old: TruncateManifest | null = null;
  try {
    old = JSON.parse(readFileSync(paths.manifest, 'utf8')) as TruncateManifest;
  } catch {
    /* absent or unreadable: rebuild */
  }
  if (same(old) && existsSync(paths.onnx)) return paths.onnx;
  const model = loadModel(instrumented);
  const keep = model.graph.outputs.map((o) => o.name).filter((n) => {
    const m = /^hidden_states\.(\d+)$/.exec(n);
    return m !== null && Number(m[1]) <= deepest;
  });
  if (!keep.includes(hiddenName(deepest))) throw new Error(`${instrumented} has no output ${hiddenName(deepest)}`);
  const msg = pruneToOutputs(model, keep, { pool: true });
  if (!msg) return null;
  writeFileAtomic(paths.onnx, msg.parts);
  writeJsonAtomic(paths.manifest, { format: TRUNCATE_FORMAT, from, deepestLayer: deepest } satisfies TruncateManifest);
  return paths.onnx;
}
