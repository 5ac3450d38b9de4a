// Apply a ResidualPlan to the model's protobuf bytes: per layer k, insert
//   [ablate.k: h <- h - (h U^T) U]  ->  h + steer.k  ->  everything downstream, and Identity -> hidden_states.k.
// Only the node that makes each residual tensor is re-emitted (one output or input renamed, maybe
// the fused sum output appended); every other node, initializer and unknown field is copied byte
// for byte (../../onnx/wire.ts `rewrite`), and external-data references are left as they were.

import { int64Tensor, node, tensor, valueInfo, type Dim } from '../../onnx/build.js';
import type { GraphView, ModelView, NodeView } from '../../onnx/read.js';
import { AttrF, DType, GraphF, ModelF, NodeF } from '../../onnx/schema.js';
import { Msg, readFields, rewrite } from '../../onnx/wire.js';
import { columnNode, findColumnOutputs } from './cacheColumns.js';
import { InstrumentError } from './errors.js';
import { GraphIndex } from './graphIndex.js';
import type { ResidualDtype, ResidualPlan, ResidualPoint } from './residual.js';

export interface PortSpec {
  name: string;
  dtype: ResidualDtype;
  shape: Dim[];
}

export interface EditResult {
  /** The new model; `msg.parts` can be streamed to disk, `msg.finish()` gives one buffer. */
  msg: Msg;
  inputsAdded: PortSpec[];
  outputsAdded: PortSpec[];
}

export interface EditOptions {
  /** Add `ablate.k` inputs (r orthonormal rows U, [ab, r, H]; zeros = identity). */
  ablation?: boolean;
  source?: string;
}

export const steerName = (k: number) => `steer.${k}`;
export const ablateName = (k: number) => `ablate.${k}`;
export const hiddenName = (k: number) => `hidden_states.${k}`;

/** How one existing node is re-emitted. */
interface NodeEdit {
  inputs: Map<number, string>;
  outputs: Map<number, string>;
  /** Output names appended after the existing ones ('' skips an optional output). */
  appendOutputs: string[];
  /** Attribute name -> replacement subgraph payload. */
  graphs: Map<string, Msg>;
  before: Msg[];
  after: Msg[];
  /** A new node name (copies of a node must not share its name: ONNX Runtime refuses the model). */
  name?: string;
}

function newEdit(): NodeEdit {
  return { inputs: new Map(), outputs: new Map(), appendOutputs: [], graphs: new Map(), before: [], after: [] };
}

function editNode(buf: Uint8Array, n: NodeView, e: NodeEdit): Msg {
  let inIdx = 0;
  let outIdx = 0;
  const lastOut = n.fields.reduce((acc, f, i) => (f.no === NodeF.output ? i : acc), -1);
  const out = new Msg();
  n.fields.forEach((f, i) => {
    if (f.no === NodeF.input) {
      const r = e.inputs.get(inIdx++);
      if (r !== undefined) out.string(NodeF.input, r);
      else out.field(buf, f);
    } else if (f.no === NodeF.output) {
      const r = e.outputs.get(outIdx++);
      if (r !== undefined) out.string(NodeF.output, r);
      else out.field(buf, f);
    } else if (f.no === NodeF.name && e.name !== undefined) {
      out.string(NodeF.name, e.name);
    } else if (f.no === NodeF.attribute && e.graphs.size) {
      const attr = [...n.attrs.values()].find((a) => a.field.start === f.start);
      const g = attr && e.graphs.get(attr.name);
      if (!g) out.field(buf, f);
      else {
        const afs = readFields(buf, f.dataStart, f.dataEnd);
        out.message(NodeF.attribute, rewrite(buf, afs, (af) => (af.no === AttrF.g ? new Msg().message(AttrF.g, g) : undefined)));
      }
    } else out.field(buf, f);
    if (i === lastOut) for (const o of e.appendOutputs) out.string(NodeF.output, o);
  });
  return out;
}

/** A copy of node `n` reading `inputs` and writing `outputs` (position by position), named `name`. */
export function renamedNode(buf: Uint8Array, n: NodeView, inputs: string[], outputs: string[], name: string): Msg {
  const e = newEdit();
  inputs.forEach((x, i) => e.inputs.set(i, x));
  outputs.forEach((o, i) => e.outputs.set(i, o));
  e.name = name;
  return editNode(buf, n, e);
}

/** Re-emit a graph: edited nodes with their new neighbours, extra inputs/outputs after the last ones. */
function editGraph(g: GraphView, edits: Map<number, NodeEdit>, newInputs: Msg[], newOutputs: Msg[]): Msg {
  const buf = g.buf;
  const byStart = new Map(g.nodes.map((n) => [n.field.start, n]));
  const lastOf = (no: number) => g.fields.reduce((acc, f, i) => (f.no === no ? i : acc), -1);
  const lastIn = lastOf(GraphF.input);
  const lastOut = lastOf(GraphF.output);
  const fieldIndex = new Map(g.fields.map((f, i) => [f.start, i]));
  const out = rewrite(buf, g.fields, (f) => {
    const i = fieldIndex.get(f.start)!;
    const m = new Msg();
    const n = f.no === GraphF.node ? byStart.get(f.start) : undefined;
    const e = n && edits.get(n.index);
    if (n && e) {
      for (const b of e.before) m.message(GraphF.node, b);
      m.message(GraphF.node, editNode(buf, n, e));
      for (const a of e.after) m.message(GraphF.node, a);
    } else m.field(buf, f);
    if (i === lastIn) for (const x of newInputs) m.message(GraphF.input, x);
    if (i === lastOut) for (const x of newOutputs) m.message(GraphF.output, x);
    return m;
  });
  if (lastIn < 0) for (const x of newInputs) out.message(GraphF.input, x);
  if (lastOut < 0) for (const x of newOutputs) out.message(GraphF.output, x);
  return out;
}

/** Fresh tensor/node names under a prefix that no exporter uses. */
class Names {
  constructor(private readonly taken: Set<string>) {}
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.taken.has(name); i++) name = `${base}_${i}`;
    this.taken.add(name);
    return name;
  }
}

interface PointCtx {
  prefix: string;
  ablation: boolean;
  names: Names;
  hiddenSize: number;
  /** Add the steer through a fused sum node that keeps float16 (see steerSumFp16). */
  fp16Sum: boolean;
}

/**
 * h + steer in float16 without an Add node. ONNX Runtime's CPU provider has no float16 Add, so it
 * wraps one in casts to float32; before a float16 norm that pulls the norm into float32 as well
 * and the zero-steered model no longer reproduces the original bit for bit (seen at the embedding
 * output of onnxruntime-genai fp16 graphs). SkipSimplifiedLayerNormalization has a float16 kernel
 * and its output 3 is exactly input + skip rounded to float16, so with the steer (expanded to h's
 * shape) as the skip the sum stays float16 and zeros leave h untouched. The normalised output is
 * unused.
 */
function steerSumFp16(h: string, k: number, out: string, c: PointCtx, nodes: Msg[]): void {
  const p = `${c.prefix}L${k}/steer`;
  const shape = c.names.fresh(`${p}/shape`);
  const expanded = c.names.fresh(`${p}/expanded`);
  const gamma = c.names.fresh(`${p}/gamma`);
  const normed = c.names.fresh(`${p}/unused_norm`);
  const ones = new Uint16Array(c.hiddenSize).fill(0x3c00); // float16 1.0
  nodes.push(
    node({ op: 'Shape', inputs: [h], outputs: [shape], name: shape }),
    node({ op: 'Expand', inputs: [steerName(k), shape], outputs: [expanded], name: expanded }),
    node({ op: 'Constant', inputs: [], outputs: [gamma], name: gamma, attrs: { value: { tensor: tensor('', DType.FLOAT16, [c.hiddenSize], new Uint8Array(ones.buffer)) } } }),
    node({ op: 'SkipSimplifiedLayerNormalization', domain: MS_DOMAIN, inputs: [h, expanded, gamma], outputs: [normed, '', '', out], name: c.names.fresh(`${p}/sum`) }),
  );
}

const MS_DOMAIN = 'com.microsoft';

/**
 * steer.k as EmbedLayerNormalization's segment inputs: the steer expanded to [batch, seq, H] and
 * flattened is the segment table, and segment id b * seq + s picks position (b, s)'s row. The node
 * adds it to word + position embeddings before its own layer norm.
 */
function steerAsSegment(n: NodeView, k: number, c: PointCtx, e: NodeEdit): void {
  const p = `${c.prefix}L${k}/segment`;
  const ids = n.inputs[0]!;
  const f = (base: string) => c.names.fresh(`${p}/${base}`);
  const [shape, hdim, full, expanded, flat, table, count, zero, one, range, rows, segIds] =
    ['shape', 'hidden', 'full_shape', 'expanded', 'flat_shape', 'table', 'count', 'zero', 'one', 'range', 'rows', 'ids'].map(f) as [string, string, string, string, string, string, string, string, string, string, string, string];
  const i64 = (name: string, v: number[], dims: number[]) => node({ op: 'Constant', inputs: [], outputs: [name], name, attrs: { value: { tensor: int64Tensor('', dims, v) } } });
  e.before.push(
    node({ op: 'Shape', inputs: [ids], outputs: [shape], name: shape }),
    i64(hdim, [c.hiddenSize], [1]),
    node({ op: 'Concat', inputs: [shape, hdim], outputs: [full], name: full, attrs: { axis: 0 } }),
    node({ op: 'Expand', inputs: [steerName(k), full], outputs: [expanded], name: expanded }),
    i64(flat, [-1, c.hiddenSize], [2]),
    node({ op: 'Reshape', inputs: [expanded, flat], outputs: [table], name: table }),
    node({ op: 'Size', inputs: [ids], outputs: [count], name: count }),
    i64(zero, [0], []),
    i64(one, [1], []),
    node({ op: 'Range', inputs: [zero, count, one], outputs: [range], name: range }),
    node({ op: 'Reshape', inputs: [range, shape], outputs: [rows], name: rows }),
    node({ op: 'Cast', inputs: [rows], outputs: [segIds], name: segIds, attrs: { to: DType.INT32 } }),
  );
  e.inputs.set(1, segIds);
  e.inputs.set(4, table);
}

/**
 * h - (h U^T) U with U = ablate.k of shape [ab, r, H] (r orthonormal rows; r = 1 is one direction):
 * h U^T gives the r coordinates per position, and MatMul back by U the part to remove.
 */
function ablateNodes(h: string, k: number, c: PointCtx, nodes: Msg[]): string {
  const p = `${c.prefix}L${k}/ablate`;
  const uT = c.names.fresh(`${p}/uT`);
  const proj = c.names.fresh(`${p}/proj`);
  const delta = c.names.fresh(`${p}/delta`);
  const out = c.names.fresh(`${p}/out`);
  nodes.push(
    node({ op: 'Transpose', inputs: [ablateName(k)], outputs: [uT], name: uT, attrs: { perm: [0, 2, 1] } }),
    node({ op: 'MatMul', inputs: [h, uT], outputs: [proj], name: proj }),
    node({ op: 'MatMul', inputs: [proj, ablateName(k)], outputs: [delta], name: delta }),
    node({ op: 'Sub', inputs: [h, delta], outputs: [out], name: out }),
  );
  return out;
}

/** Nodes for one residual point; `hidden` is the name its Identity copy is exposed under. */
function pointEdit(n: NodeView, pt: ResidualPoint, c: PointCtx, e: NodeEdit, hidden: string): void {
  const k = pt.layer;
  const p = `${c.prefix}L${k}`;
  if (pt.steerVia === 'rename-output') {
    let cur = c.names.fresh(`${p}/pre`);
    e.outputs.set(pt.producer.index, cur);
    if (c.ablation) cur = ablateNodes(cur, k, c, e.after);
    if (c.fp16Sum) steerSumFp16(cur, k, pt.tensor, c, e.after);
    else e.after.push(node({ op: 'Add', inputs: [cur, steerName(k)], outputs: [pt.tensor], name: c.names.fresh(`${p}/steer`) }));
  } else if (pt.steerVia === 'embed-segment') steerAsSegment(n, k, c, e);
  else if (pt.steerVia === 'fused-input') {
    const f = pt.fused!;
    let cur = n.inputs[f.steerInput]!;
    if (c.ablation) {
      // The fused node computes h = input + skip (+ bias) internally; recompute it to get h.u, and
      // subtract (hU^T)U from the steered input so the node's sum becomes h - (hU^T)U + steer.
      let h = n.inputs[f.sumInputs[0]!]!;
      for (const j of f.sumInputs.slice(1)) {
        const s = c.names.fresh(`${p}/sum`);
        e.before.push(node({ op: 'Add', inputs: [h, n.inputs[j]!], outputs: [s], name: s }));
        h = s;
      }
      const uT = c.names.fresh(`${p}/ablate/uT`);
      const proj = c.names.fresh(`${p}/ablate/proj`);
      const delta = c.names.fresh(`${p}/ablate/delta`);
      const out = c.names.fresh(`${p}/ablate/out`);
      e.before.push(
        node({ op: 'Transpose', inputs: [ablateName(k)], outputs: [uT], name: uT, attrs: { perm: [0, 2, 1] } }),
        node({ op: 'MatMul', inputs: [h, uT], outputs: [proj], name: proj }),
        node({ op: 'MatMul', inputs: [proj, ablateName(k)], outputs: [delta], name: delta }),
        node({ op: 'Sub', inputs: [cur, delta], outputs: [out], name: out }),
      );
      cur = out;
    }
    const steered = c.names.fresh(`${p}/steered_input`);
    e.before.push(node({ op: 'Add', inputs: [cur, steerName(k)], outputs: [steered], name: steered }));
    e.inputs.set(f.steerInput, steered);
  }
  if (pt.addOutput) {
    // Optional outputs before it that the exporter left out are written as '' (ONNX convention);
    // a slot written as '' is filled in place.
    const i = pt.producer.index;
    if (i < n.outputs.length) e.outputs.set(i, pt.tensor);
    else e.appendOutputs.push(...Array<string>(i - n.outputs.length).fill(''), pt.tensor);
  }
  e.after.push(node({ op: 'Identity', inputs: [pt.tensor], outputs: [hidden], name: c.names.fresh(`${p}/hidden`) }));
}

function planEdits(
  g: GraphView,
  points: ResidualPoint[],
  c: PointCtx,
  outName: (k: number) => string,
): { edits: Map<number, NodeEdit>; hidden: string[] } {
  const edits = new Map<number, NodeEdit>();
  const hidden: string[] = [];
  for (const pt of points) {
    const n = g.nodes[pt.producer.node]!;
    if (edits.has(n.index)) throw new InstrumentError(`two residual points on one node ${n.name}`);
    const e = newEdit();
    edits.set(n.index, e);
    const hid = outName(pt.layer);
    pointEdit(n, pt, c, e, hid);
    hidden.push(hid);
  }
  return { edits, hidden };
}

export function applyPlan(model: ModelView, plan: ResidualPlan, opts: EditOptions = {}): EditResult {
  const source = opts.source ?? '<model>';
  const ablation = !!opts.ablation;
  const g = model.graph;
  const H = plan.hiddenSize;
  const elem = plan.dtype === 'float16' ? DType.FLOAT16 : DType.FLOAT;
  const gi = new GraphIndex(g);
  const taken = gi.allNames();
  for (const n of g.nodes) for (const a of n.attrs.values()) if (a.g) for (const x of new GraphIndex(a.g).allNames()) taken.add(x);
  const existing = [...taken].find((x) => /^(steer|ablate|hidden_states)\.\d+$/.test(x));
  if (existing) throw new InstrumentError(`${source}: already has '${existing}' (instrumented twice?)`);
  const names = new Names(taken);
  // Only where the graph already uses com.microsoft ops (the fused float16 exports that need it).
  const fp16Sum = plan.dtype === 'float16' && model.opsets.some((o) => o.domain === MS_DOMAIN);

  const steerable = plan.points.filter((p) => p.steerVia !== 'none').map((p) => p.layer);
  const ablatable = plan.points.filter((p) => p.steerVia !== 'none' && p.steerVia !== 'embed-segment').map((p) => p.layer);
  const inputsAdded: PortSpec[] = steerable.map((k) => ({ name: steerName(k), dtype: plan.dtype, shape: ['steer_batch', 'steer_seq', H] }));
  if (ablation)
    inputsAdded.push(...ablatable.map((k) => ({ name: ablateName(k), dtype: plan.dtype, shape: ['ablate_batch', 'ablate_rank', H] as Dim[] })));
  const outputsAdded: PortSpec[] = plan.points.map((p) => ({
    name: hiddenName(p.layer),
    dtype: plan.dtype,
    shape: [plan.dims[0], plan.dims[1], H],
  }));
  const port = (s: PortSpec) => valueInfo(s.name, elem, s.shape);

  let graphMsg: Msg;
  if (!plan.branches) {
    const { edits } = planEdits(g, plan.points, { prefix: 'persona/', ablation, names, hiddenSize: H, fp16Sum }, (k) => hiddenName(k));
    // Each decode step's new KV columns as outputs of their own (instrument/cacheColumns.ts).
    const columns = findColumnOutputs(g);
    const columnOuts: Msg[] = [];
    for (const c of columns) {
      if (taken.has(c.columns)) throw new InstrumentError(`${source}: already has '${c.columns}' (instrumented twice?)`);
      let e = edits.get(c.concatNode);
      if (!e) edits.set(c.concatNode, (e = newEdit()));
      e.after.push(columnNode(g, c));
      columnOuts.push(valueInfo(c.columns, g.outputs.find((o) => o.name === c.present)!.elemType));
    }
    graphMsg = editGraph(g, edits, inputsAdded.map(port), [...outputsAdded.map(port), ...columnOuts]);
  } else {
    const ifNode = g.nodes[plan.branches[0]!.ifNode]!;
    const ifEdit = newEdit();
    for (const b of plan.branches) {
      const sub = ifNode.attrs.get(b.attr)?.g;
      if (!sub) throw new InstrumentError(`${source}: If node lost its ${b.attr}`);
      const c = { prefix: `persona/${b.attr}/`, ablation, names, hiddenSize: H, fp16Sum };
      // Branch outputs get their own names; the If node's outputs carry hidden_states.k.
      const { edits, hidden } = planEdits(sub, b.points, c, (k) => names.fresh(`${c.prefix}${hiddenName(k)}`));
      const branchOuts = hidden.map((h, i) => valueInfo(h, elem, outputsAdded[i]!.shape));
      ifEdit.graphs.set(b.attr, editGraph(sub, edits, [], branchOuts));
    }
    ifEdit.appendOutputs.push(...outputsAdded.map((o) => o.name));
    graphMsg = editGraph(g, new Map([[ifNode.index, ifEdit]]), inputsAdded.map(port), outputsAdded.map(port));
  }
  const msg = rewrite(model.buf, model.fields, (f) =>
    f === model.graphField ? new Msg().message(ModelF.graph, graphMsg) : undefined,
  );
  return { msg, inputsAdded, outputsAdded };
}

/** applyPlan, as one buffer. */
export function instrumentBytes(model: ModelView, plan: ResidualPlan, opts: EditOptions = {}): Uint8Array {
  return applyPlan(model, plan, opts).msg.finish();
}
