// Find the residual stream of a decoder graph from its structure alone.
//
// 1. From the `logits` output walk back through lm_head (MatMul / Gemm / MatMulNBits, Casts, bias,
//    soft-capping) and the final norm until the first tensor made by a residual Add (or a fused
//    Skip*LayerNormalization): that is h_L.
// 2. Walk the chain back: a residual `Add(a, b)` is one where a is an ancestor of b (the branch
//    reads the normalised residual); the chain continues with a. Stop at the first tensor that is
//    not such an Add: it must be the embedding (a Gather on input ids, maybe scaled or summed with
//    position embeddings).
// 3. Split the chain into num_hidden_layers blocks, each starting at an add whose branch holds
//    attention (2 adds per sequential block, 1 per parallel attention+MLP block); the last add of
//    each block is that layer's output h_k.
// Node names are only used afterwards as a cross-check (warnings, never failures).

import type { GraphView, ModelView, NodeView, TensorView } from '../../onnx/read.js';
import { DType } from '../../onnx/schema.js';
import { InstrumentError } from './errors.js';
import { GraphIndex } from './graphIndex.js';

export type ResidualDtype = 'float32' | 'float16';
/**
 * rename-output: the producer's output is renamed and `Add(pre, steer.k)` takes the old name.
 * fused-input: h_k is the sum output of a fused Skip*Norm node; the steer is added to one of its
 * inputs so both its sum and its normalised output see h_k + steer.
 * embed-segment: h_0 is EmbedLayerNormalization's embedding_sum; the steer enters as the node's
 * (unused) segment embedding, one row per position, so its sum and its normalised output both see
 * h_0 + steer, computed by the same kernel (zeros: the original bit for bit). Not ablatable.
 * none: observable only (an EmbedLayerNormalization that already uses its segment inputs).
 */
export type SteerVia = 'rename-output' | 'fused-input' | 'embed-segment' | 'none';
export type NameCheck = 'match' | 'mismatch' | 'no-names';
export type ResidualStyle = 'plain' | 'fused' | 'merged-if';

export interface ResidualPoint {
  /** 0 = embeddings, k = output of decoder block k. */
  layer: number;
  /** The residual tensor (for a fused node: its sum output, which the edit adds if missing). */
  tensor: string;
  /** node: position among its graph's nodes; index: output index of `tensor` on it. */
  producer: { name: string; opType: string; index: number; node: number };
  steerVia: SteerVia;
  /** The fused node lacks the sum output: the edit appends it under `tensor`. */
  addOutput: boolean;
  /** fused-input: which input gets the steer, which inputs sum to h_k (input, skip, bias). */
  fused?: { steerInput: number; sumInputs: number[] };
  nameCheck: NameCheck;
}

export interface BranchPlan {
  /** Position of the If node in the main graph. */
  ifNode: number;
  attr: string;
  graphName: string;
  style: 'plain' | 'fused';
  points: ResidualPoint[];
}

export interface ResidualPlan {
  numLayers: number;
  hiddenSize: number;
  dtype: ResidualDtype;
  style: ResidualStyle;
  /** k = 0..L; for a merged model, those of the first branch (see `branches`). */
  points: ResidualPoint[];
  warnings: string[];
  /** Residual adds per decoder block (2 sequential, 1 parallel attention+MLP). */
  addsPerLayer: number;
  branches?: BranchPlan[];
  /** Batch and sequence dims of `logits`, reused for the hidden_states outputs. */
  dims: [string | number, string | number];
  /** The graph output holding the logits (genai configs may rename it). */
  logits: string;
}

export interface FindOptions {
  numLayers: number;
  /** File name for error messages. */
  source: string;
  /** From config.json; checked against the embedding table. Inferred when absent. */
  hiddenSize?: number;
  /** Name of the logits output (genai_config.json model.decoder.outputs.logits); default `logits`. */
  logits?: string;
}

const SKIP_NORMS = new Set(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization']);
/** Ops whose input 0 is the data and the rest are indices / shapes / constants. */
const DATA_FIRST = new Set(['Slice', 'Gather', 'Reshape', 'Expand', 'Squeeze', 'Unsqueeze', 'Transpose', 'Cast', 'Pad', 'Tile']);
/** Seeing one of these upstream of a candidate embedding means we stopped inside the network. */
const HEAVY = new Set([
  'MatMul', 'Gemm', 'MatMulNBits', 'MatMulInteger', 'Softmax', 'Attention', 'MultiHeadAttention',
  'GroupQueryAttention', 'Conv', 'LayerNormalization', 'SimplifiedLayerNormalization',
  'SkipLayerNormalization', 'SkipSimplifiedLayerNormalization',
]);
/** Attention, decomposed (Softmax) or fused (com.microsoft *Attention, ONNX Attention). */
const isAttention = (n: NodeView) => n.opType === 'Softmax' || n.opType.endsWith('Attention');
const EMBED_LOOKUPS = new Set(['Gather', 'GatherBlockQuantized']);
const SUM_OUTPUT = 3;

interface Ctx {
  source: string;
  /** ' (then_branch)' etc., appended to the file name in messages. */
  where: string;
  numLayers: number;
  init(name: string): TensorView | undefined;
}

interface Link {
  node: NodeView;
  kind: 'add' | 'skip';
  /** Index of the residual operand among inputs 0/1. */
  residual: number;
  /** The branch added here contains attention (it starts a decoder block). */
  attention?: boolean;
}

interface Embedding {
  tensor: string;
  node: NodeView;
  out: number;
  fusedSum: boolean;
  table?: TensorView;
}

interface GraphPlan {
  points: ResidualPoint[];
  style: 'plain' | 'fused';
  addsPerLayer: number;
  warnings: string[];
  /** Evidence for dtype / hidden size, strongest first. */
  dtypes: number[];
  hidden: number[];
}

function describe(n: NodeView): string {
  return `node '${n.name || `#${n.index}`}' (${n.opType})`;
}

function fail(ctx: Ctx, what: string): never {
  throw new InstrumentError(`${ctx.source}${ctx.where}: ${what}`);
}

function stopped(ctx: Ctx, n: NodeView | string, why = ''): never {
  const at = typeof n === 'string' ? `graph input '${n}'` : describe(n);
  fail(ctx, `no residual chain from logits back to the embedding (stopped at ${at}${why})`);
}

/** For Add / Skip*Norm: which of inputs 0 and 1 is the residual (an ancestor of the other)? */
function residualOperand(gi: GraphIndex, n: NodeView): number | null {
  const [a, b] = n.inputs;
  if (!a || !b || !gi.isDynamic(a) || !gi.isDynamic(b)) return null;
  const aFirst = gi.dependsOn(b, a);
  const bFirst = gi.dependsOn(a, b);
  if (aFirst && !bFirst) return 0;
  if (bFirst && !aFirst) return 1;
  return null;
}

/** Step 1: from logits back to the node that makes h_L. */
function findLast(gi: GraphIndex, logits: string, ctx: Ctx): Link {
  let t = logits;
  for (let steps = 0; steps < 10_000; steps++) {
    const p = gi.producer.get(t);
    if (!p) stopped(ctx, t);
    const n = p.node;
    if (SKIP_NORMS.has(n.opType)) {
      const r = residualOperand(gi, n);
      if (r === null) stopped(ctx, n);
      return { node: n, kind: 'skip', residual: r };
    }
    if (n.opType === 'Add') {
      const r = residualOperand(gi, n);
      if (r !== null) return { node: n, kind: 'add', residual: r };
    }
    if (EMBED_LOOKUPS.has(n.opType) && gi.isConstant(n.inputs[0] ?? ''))
      stopped(ctx, n, ': an embedding lookup with no residual add after it');
    const dyn = n.inputs.filter((x) => gi.isDynamic(x));
    let next: string | undefined;
    if (DATA_FIRST.has(n.opType) && gi.isDynamic(n.inputs[0] ?? '')) next = n.inputs[0];
    else if (dyn.length === 1) next = dyn[0];
    else next = dyn.find((a) => dyn.every((b) => b === a || gi.dependsOn(b, a)));
    if (!next || n.opType === 'EmbedLayerNormalization') stopped(ctx, n);
    t = next;
  }
  stopped(ctx, t);
}

/** The candidate h_0 must come from an embedding lookup on a graph input, with no real compute. */
function checkEmbedding(gi: GraphIndex, tensor: string, ctx: Ctx): TensorView | undefined {
  const p = gi.producer.get(tensor);
  if (!p) stopped(ctx, tensor);
  const up = gi.upstream(tensor, 64);
  const lookup = up?.find(
    (n) => EMBED_LOOKUPS.has(n.opType) && gi.isConstant(n.inputs[0] ?? '') && gi.isDynamic(n.inputs[1] ?? ''),
  );
  if (!up || !lookup || up.some((n) => HEAVY.has(n.opType))) stopped(ctx, p.node);
  return lookup.opType === 'Gather' ? ctx.init(lookup.inputs[0]!) : undefined;
}

/** Step 2: the chain from h_L back to h_0, returned in forward order plus the embedding. */
function walkChain(gi: GraphIndex, last: Link, ctx: Ctx): { links: Link[]; embedding: Embedding } {
  const links: Link[] = [];
  let cur = last;
  for (;;) {
    links.push(cur);
    if (links.length > 100_000) stopped(ctx, cur.node);
    let t = cur.node.inputs[cur.residual]!;
    let next: Link | null = null;
    for (;;) {
      const p = gi.producer.get(t);
      if (!p) stopped(ctx, t);
      const m = p.node;
      if (m.opType === 'Identity') {
        t = m.inputs[0]!;
        continue;
      }
      if (m.opType === 'Add') {
        const r = residualOperand(gi, m);
        if (r !== null) next = { node: m, kind: 'add', residual: r };
      } else if (SKIP_NORMS.has(m.opType) && p.index === SUM_OUTPUT) {
        const r = residualOperand(gi, m);
        if (r === null) stopped(ctx, m);
        next = { node: m, kind: 'skip', residual: r };
      } else if (m.opType === 'EmbedLayerNormalization' && p.index === 2) {
        return { links: links.reverse(), embedding: { tensor: t, node: m, out: 2, fusedSum: true, table: ctx.init(m.inputs[2] ?? '') } };
      }
      if (!next) {
        const table = checkEmbedding(gi, t, ctx);
        return { links: links.reverse(), embedding: { tensor: t, node: m, out: p.index, fusedSum: false, table } };
      }
      break;
    }
    cur = next;
  }
}

/**
 * Step 3: group the chain into decoder blocks. A block starts at each residual add whose branch
 * contains attention, so the number of those must equal num_hidden_layers; this catches a wrong
 * config and tells sequential (attn add + MLP add) from parallel (one add) blocks. Graphs where no
 * attention op is recognisable fall back to an even split of the chain.
 */
function splitLayers(gi: GraphIndex, links: Link[], ctx: Ctx, warnings: string[]): Link[][] {
  const L = ctx.numLayers;
  const M = links.length;
  for (const l of links) {
    const n = l.node;
    l.attention = gi.branchHas(n.inputs[1 - l.residual]!, n.inputs[l.residual]!, isAttention);
  }
  const starts = links.flatMap((l, i) => (l.attention ? [i] : []));
  if (starts.length === 0) {
    if (M % L !== 0 || M / L > 2)
      fail(ctx, `residual chain length ${M} does not split into ${L} layers (num_hidden_layers in config.json)`);
    warnings.push(`${ctx.source}${ctx.where}: no attention op recognised on the residual branches; split the chain evenly`);
    return Array.from({ length: L }, (_, k) => links.slice((k * M) / L, ((k + 1) * M) / L));
  }
  if (starts.length !== L || starts[0] !== 0)
    fail(
      ctx,
      `residual chain of ${M} adds holds ${starts.length} attention blocks${starts[0] !== 0 ? ' (not starting with one)' : ''}; ` +
        `it does not split into ${L} layers (num_hidden_layers in config.json)`,
    );
  const groups = starts.map((s, k) => links.slice(s, starts[k + 1] ?? M));
  const sizes = new Set(groups.map((g) => g.length));
  if (sizes.size > 1 || [...sizes][0]! > 2)
    warnings.push(`${ctx.source}${ctx.where}: residual adds per layer: ${groups.map((g) => g.length).join(',')}`);
  return groups;
}

/** `layers.3`, `h.3`, `layer.3`, `blocks.3` in a node name -> 3. */
export function layerIndexInName(name: string): number | null {
  const m = /(?:^|[/._])(?:layers|layer|h|blocks|block)[._](\d+)(?=$|[/._])/.exec(name);
  return m ? Number(m[1]) : null;
}

function nameCheck(n: NodeView, layer: number, fused: boolean): NameCheck {
  if (!n.name) return 'no-names';
  const i = layerIndexInName(n.name);
  if (layer === 0) return i === null ? 'match' : 'mismatch';
  if (i === null) return 'no-names';
  // A fused Skip*Norm after block k is also block k+1's input norm and often carries its name.
  return i === layer - 1 || (fused && i === layer) ? 'match' : 'mismatch';
}

function skipBiasInput(n: NodeView): number {
  return n.opType === 'SkipLayerNormalization' ? 4 : 3;
}

function planGraph(gi: GraphIndex, logits: string, ctx: Ctx): GraphPlan {
  const last = findLast(gi, logits, ctx);
  const { links, embedding } = walkChain(gi, last, ctx);
  const L = ctx.numLayers;
  const warnings: string[] = [];
  const groups = splitLayers(gi, links, ctx, warnings);
  const per = links.length / L;

  const e = embedding;
  const points: ResidualPoint[] = [
    {
      layer: 0,
      tensor: e.tensor,
      producer: { name: e.node.name, opType: e.node.opType, index: e.out, node: e.node.index },
      // Segment inputs 1 (ids) and 4 (table) free: the steer can take their place.
      steerVia: e.fusedSum ? (!e.node.inputs[1] && !e.node.inputs[4] ? 'embed-segment' : 'none') : 'rename-output',
      addOutput: false,
      nameCheck: nameCheck(e.node, 0, false),
    },
  ];
  const dtypes: number[] = [];
  const hidden: number[] = [];
  for (let k = 1; k <= L; k++) {
    const group = groups[k - 1]!;
    const link = group[group.length - 1]!;
    const n = link.node;
    const fused = link.kind === 'skip';
    const sumName = fused ? (n.outputs[SUM_OUTPUT] ?? '') : n.outputs[0]!;
    const point: ResidualPoint = {
      layer: k,
      tensor: sumName || `persona/residual.${k}`,
      producer: { name: n.name, opType: n.opType, index: fused ? SUM_OUTPUT : 0, node: n.index },
      steerVia: fused ? 'fused-input' : 'rename-output',
      addOutput: fused && !sumName,
      nameCheck: nameCheck(n, k, fused),
    };
    if (fused) {
      const bias = skipBiasInput(n);
      const sumInputs = n.inputs[bias] ? [0, 1, bias] : [0, 1];
      point.fused = { steerInput: 1 - link.residual, sumInputs };
      const gamma = ctx.init(n.inputs[2] ?? '');
      if (gamma) {
        dtypes.push(gamma.dataType);
        hidden.push(gamma.dims[gamma.dims.length - 1]!);
      }
    }
    points.push(point);
  }
  for (const p of points)
    if (p.nameCheck === 'mismatch')
      warnings.push(
        `${ctx.source}${ctx.where}: residual point ${p.layer} is made by '${p.producer.name}', whose name suggests another layer`,
      );
  // Types: value_info of h_L, then the embedding table, then fused norm gains.
  const vi = [...gi.graph.valueInfo, ...gi.graph.outputs].find((v) => v.name === points[L]!.tensor);
  const evidence = [vi?.elemType ?? 0, e.table?.dataType ?? 0, ...dtypes].filter((t) => t > 0);
  if (e.table && e.table.dims.length === 2) hidden.unshift(e.table.dims[1]!);
  return {
    points,
    style: links.some((l) => l.kind === 'skip') ? 'fused' : 'plain',
    addsPerLayer: per,
    warnings,
    dtypes: evidence,
    hidden,
  };
}

function toDtype(t: number, ctx: Ctx): ResidualDtype {
  if (t === DType.FLOAT) return 'float32';
  if (t === DType.FLOAT16) return 'float16';
  fail(ctx, `unsupported residual element type ${t} (only float32 and float16)`);
}

export function findResidualStream(model: ModelView, opts: FindOptions): ResidualPlan {
  const g = model.graph;
  const ctx: Ctx = { source: opts.source, where: '', numLayers: opts.numLayers, init: () => undefined };
  if (!Number.isInteger(opts.numLayers) || opts.numLayers < 1) fail(ctx, `invalid number of layers ${opts.numLayers}`);
  const ours = [...g.inputs, ...g.outputs].find((v) => /^(steer|ablate|hidden_states)\.\d+$/.test(v.name));
  if (ours) fail(ctx, `already has '${ours.name}' (instrumented twice?)`);
  const logits = opts.logits ?? 'logits';
  const logitsOut = g.outputs.find((o) => o.name === logits);
  if (!logitsOut)
    fail(ctx, `no '${logits}' output (graph outputs: ${g.outputs.map((o) => o.name).join(', ') || 'none'})`);
  const shape = logitsOut.shape;
  const dims: [string | number, string | number] = [
    typeof shape?.[0] === 'string' ? shape[0] : 'batch_size',
    typeof shape?.[1] === 'string' ? shape[1] : 'sequence_length',
  ];
  let gi: GraphIndex;
  try {
    gi = new GraphIndex(g);
  } catch (e) {
    fail(ctx, (e as Error).message);
  }
  ctx.init = (name) => gi.initializers.get(name);

  const ifProducer = gi.producer.get(logits);
  let plans: { plan: GraphPlan; branch?: Omit<BranchPlan, 'points' | 'style'> }[];
  if (ifProducer?.node.opType === 'If') {
    const ifNode = ifProducer.node;
    const outer = { constants: gi.constantNames() };
    plans = ['then_branch', 'else_branch'].map((attr) => {
      const sub: GraphView | undefined = ifNode.attrs.get(attr)?.g;
      const bctx: Ctx = { ...ctx, where: ` (${attr} of ${describe(ifNode)})` };
      if (!sub) fail(bctx, 'If node without this subgraph');
      const out = sub.outputs[ifProducer.index];
      if (!out) fail(bctx, `subgraph has no output #${ifProducer.index} for logits`);
      const sgi = new GraphIndex(sub, outer);
      bctx.init = (name) => sgi.initializers.get(name) ?? gi.initializers.get(name);
      return { plan: planGraph(sgi, out.name, bctx), branch: { ifNode: ifNode.index, attr, graphName: sub.name } };
    });
  } else plans = [{ plan: planGraph(gi, logits, ctx) }];

  const first = plans[0]!.plan;
  const warnings = plans.flatMap((p) => p.plan.warnings);
  for (const p of plans.slice(1))
    if (p.plan.addsPerLayer !== first.addsPerLayer || p.plan.dtypes[0] !== first.dtypes[0])
      fail(ctx, 'the If branches have different residual structures');

  const dtypeCode = first.dtypes[0] ?? logitsOut.elemType;
  const dtype = toDtype(dtypeCode, ctx);
  const hiddenSize = opts.hiddenSize ?? first.hidden[0];
  if (hiddenSize === undefined) fail(ctx, 'cannot tell the hidden size (no embedding table; pass it from config.json)');
  if (opts.hiddenSize !== undefined && first.hidden.length && first.hidden[0] !== opts.hiddenSize)
    warnings.push(`${opts.source}: config hidden size ${opts.hiddenSize} but the graph's embedding/norm width is ${first.hidden[0]}`);

  const plan: ResidualPlan = {
    numLayers: opts.numLayers,
    hiddenSize,
    dtype,
    style: plans[0]!.branch ? 'merged-if' : first.style,
    points: first.points,
    warnings,
    addsPerLayer: first.addsPerLayer,
    dims,
    logits,
  };
  if (plans[0]!.branch)
    plan.branches = plans.map((p) => ({ ...p.branch!, style: p.plan.style, points: p.plan.points }));
  return plan;
}
