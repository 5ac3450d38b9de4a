// The new key/value columns of each decode step as outputs of their own, so the generation loop can
// fetch those (a few KB a step) instead of the whole present cache. In onnxruntime-node 1.30 on CPU
// every fetched output is copied into a fresh JavaScript buffer, a preallocated one included (it is
// written and then copied again for the result), so fetching present.N.* cost a full copy of the
// cache plus an allocation per step; model/kvBuffers.ts then appends the columns to buffers it owns.
//
// Where: a graph output made by a Concat of a graph input (the past) and one more tensor along axis
// 2 (-2), as Optimum's decomposed attention writes present.N.key / value. That tensor is exposed as
// `<present>.new` through an Identity. Fused attention ops (GroupQueryAttention, MultiHeadAttention,
// packed Attention) and merged decoders (If) write present themselves and get nothing here.

import { node } from '../../onnx/build.js';
import type { GraphView } from '../../onnx/read.js';
import type { Msg } from '../../onnx/wire.js';

/** Output name of the new columns of cache output `present`. */
export const columnsName = (present: string) => `${present}.new`;

export interface ColumnOutput {
  /** The present output, and the tensor Concat appends to the past to make it. */
  present: string;
  columns: string;
  /** Index of the Concat node (the Identity goes right after it). */
  concatNode: number;
}

/** The present outputs this graph builds as Concat(past, new columns) along the sequence axis. */
export function findColumnOutputs(g: GraphView): ColumnOutput[] {
  const inputs = new Set(g.inputs.map((i) => i.name));
  for (const t of g.initializers) inputs.delete(t.name);
  const outputs = new Set(g.outputs.map((o) => o.name));
  const found: ColumnOutput[] = [];
  for (const n of g.nodes) {
    if (n.opType !== 'Concat' || n.domain !== '' || n.inputs.length !== 2 || n.outputs.length !== 1) continue;
    const axis = n.attrs.get('axis')?.i;
    const [past, cols] = n.inputs as [string, string];
    if ((axis === 2 || axis === -2) && inputs.has(past) && cols && outputs.has(n.outputs[0]!))
      found.push({ present: n.outputs[0]!, columns: columnsName(n.outputs[0]!), concatNode: n.index });
  }
  return found;
}

/** The Identity node that exposes one ColumnOutput (its tensor is the Concat's second input). */
export function columnNode(g: GraphView, c: ColumnOutput): Msg {
  const source = g.nodes[c.concatNode]!.inputs[1]!;
  return node({ op: 'Identity', inputs: [source], outputs: [c.columns], name: `persona/${c.columns}` });
}
