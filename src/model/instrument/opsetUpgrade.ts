// Raising a graph's default-domain opset (a reading variant that runs ONNX Attention needs 23):
// the nodes whose form changed between the two versions, rewritten to the newer form. Between
// opsets 13 and 23 that is the reductions other than ReduceSum, whose axes moved from an attribute
// to an input at 18, and Split, which at 18 must be told its number of outputs when no sizes are
// given; every other op a decoder export uses (element-wise, shape, MatMul, Softmax, Cast, ...)
// only gained types. A node missed here makes ONNX Runtime refuse the variant (an attribute the
// newer op does not have), and the reader falls back to the plain one (model/reader.ts).

import { int64Tensor, node } from '../../onnx/build.js';
import type { GraphView } from '../../onnx/read.js';
import type { Msg } from '../../onnx/wire.js';

const REDUCTIONS_18 = new Set(['ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSumSquare']);

export interface NodeUpgrade {
  /** The node replaced. */
  index: number;
  nodes: Msg[];
  reads: string[];
  writes: string[];
}

/** The rewrites that let `g`, written for default-domain opset `from`, run at `to`. */
export function opsetUpgrades(g: GraphView, from: number, to: number): NodeUpgrade[] {
  if (from < 13) throw new Error(`opset ${from}: only graphs of opset 13 or later are raised`);
  const out: NodeUpgrade[] = [];
  if (!(from < 18 && to >= 18)) return out;
  for (const n of g.nodes) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    const axes = n.attrs.get('axes')?.ints;
    if (REDUCTIONS_18.has(n.opType) && axes) {
      const keepdims = n.attrs.get('keepdims')?.i;
      const axesName = `${n.name || n.outputs[0]}/axes`;
      const constant = node({ op: 'Constant', inputs: [], outputs: [axesName], name: axesName, attrs: { value: { tensor: int64Tensor('', [axes.length], axes) } } });
      const reduce = node({ op: n.opType, inputs: [n.inputs[0]!, axesName], outputs: n.outputs, name: n.name, attrs: keepdims === undefined ? {} : { keepdims } });
      out.push({ index: n.index, nodes: [constant, reduce], reads: [n.inputs[0]!], writes: [axesName, ...n.outputs] });
    } else if (n.opType === 'Split' && !n.inputs[1] && n.attrs.get('num_outputs') === undefined) {
      const axis = n.attrs.get('axis')?.i ?? 0;
      out.push({ index: n.index, nodes: [node({ op: 'Split', inputs: [n.inputs[0]!], outputs: n.outputs, name: n.name, attrs: { axis, num_outputs: n.outputs.length } })], reads: [n.inputs[0]!], writes: n.outputs.filter(Boolean) });
    }
  }
  return out;
}
