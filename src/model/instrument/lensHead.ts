// The model's own output head as a model of its own: input `hidden` [batch, seq, H] (a residual
// stream state), output `logits`. Built by copying, byte for byte, the nodes between h_L and
// `logits` in the source graph (final norm, LM head, any soft-capping) with the initializers they
// read, so decoding hidden_states[L] through it gives exactly the model's logits; decoding an
// earlier layer's state through it is the logit lens (early decoding).
//
// A fused final norm (Skip*LayerNormalization whose sum output is h_L) is re-emitted with
// `hidden` as its input and an exact zero (hidden - hidden) as its skip, bias dropped: the norm
// then sees h_L + 0 = h_L.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GraphView, ModelView, NodeView, TensorView } from '../../onnx/read.js';
import { graph as buildGraph, model as buildModel, node as buildNode, tensor as buildTensor, valueInfo } from '../../onnx/build.js';
import { Msg, rewrite } from '../../onnx/wire.js';
import { DType, NodeF } from '../../onnx/schema.js';
import { InstrumentError } from './errors.js';
import { GraphIndex } from './graphIndex.js';
import type { ResidualPlan } from './residual.js';

export const LENS_INPUT = 'hidden';
export const LENS_OUTPUT = 'logits';
const ZERO = 'persona/lens.zero';

const payload = (buf: Uint8Array, f: { dataStart: number; dataEnd: number }): Msg => new Msg().raw(buf.subarray(f.dataStart, f.dataEnd));

/** The graph holding the head (an If branch for merged decoders) and its logits tensor. */
function headGraph(model: ModelView, plan: ResidualPlan, source: string): { g: GraphView; logits: string; outer?: GraphIndex } {
  const main = model.graph;
  const branch = plan.branches?.[0];
  if (!branch) return { g: main, logits: plan.logits };
  const ifNode = main.nodes[branch.ifNode]!;
  const sub = ifNode.attrs.get(branch.attr)?.g;
  const at = ifNode.outputs.indexOf(plan.logits);
  if (!sub || at < 0 || !sub.outputs[at]) throw new InstrumentError(`${source}: lens head: no logits in ${branch.attr} of the If node`);
  return { g: sub, logits: sub.outputs[at]!.name, outer: new GraphIndex(main) };
}

/** ONNX bytes of the head model of `model` (the source graph, not the instrumented one). */
export function buildLensHead(model: ModelView, plan: ResidualPlan, source: string): Uint8Array {
  const { g, logits, outer } = headGraph(model, plan, source);
  const gi = new GraphIndex(g, outer ? { constants: outer.constantNames() } : undefined);
  const point = plan.points[plan.numLayers]!;
  const hL = point.tensor;
  const fusedNode = point.steerVia === 'fused-input' ? g.nodes[point.producer.node] : undefined;
  const fail = (what: string): never => {
    throw new InstrumentError(`${source}: cannot build the lens head: ${what}`);
  };

  // Everything `logits` depends on, stopping at h_L (or at the fused node that makes it).
  const keep = new Set<number>();
  const initNames = new Set<string>();
  const stack = [logits];
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (!t || seen.has(t) || t === hL) continue;
    seen.add(t);
    const p = gi.producer.get(t);
    if (!p) {
      if (gi.initializers.has(t) || outer?.initializers.has(t)) initNames.add(t);
      else fail(`the final norm / LM head reads '${t}', which is neither h_L nor a constant`);
      continue;
    }
    if (keep.has(p.node.index)) continue;
    keep.add(p.node.index);
    const inputs = p.node === fusedNode ? fusedParams(p.node) : p.node.inputs;
    stack.push(...inputs);
  }
  if (!seen.has(logits)) fail('logits are h_L itself');

  const nodes: Msg[] = [];
  if (!fusedNode) nodes.push(buildNode({ op: 'Identity', inputs: [LENS_INPUT], outputs: [hL] }));
  else nodes.push(buildNode({ op: 'Sub', inputs: [LENS_INPUT, LENS_INPUT], outputs: [ZERO] }));
  for (const n of g.nodes) {
    if (!keep.has(n.index)) continue;
    if (n === fusedNode) nodes.push(refusedNorm(g.buf, n));
    else nodes.push(payload(g.buf, n.field));
  }
  if (logits !== LENS_OUTPUT) nodes.push(buildNode({ op: 'Identity', inputs: [logits], outputs: [LENS_OUTPUT] }));

  const inits: Msg[] = [];
  const files = new Map<string, Uint8Array>();
  for (const name of initNames) {
    const t = gi.initializers.get(name) ?? outer!.initializers.get(name)!;
    const buf = gi.initializers.has(name) ? g.buf : model.buf;
    inits.push(t.external ? inlineExternal(t, source, files) : payload(buf, t.field));
  }
  const dtype = plan.dtype === 'float16' ? DType.FLOAT16 : DType.FLOAT;
  const logitsType = model.graph.outputs.find((o) => o.name === plan.logits)?.elemType ?? dtype;
  const g2 = buildGraph({
    name: 'persona_lens_head',
    nodes,
    initializers: inits,
    inputs: [valueInfo(LENS_INPUT, dtype, [plan.dims[0], plan.dims[1], plan.hiddenSize])],
    outputs: [valueInfo(LENS_OUTPUT, logitsType)],
  });
  return buildModel(g2, model.opsets, { irVersion: model.irVersion, producer: 'persona-steer lens head' }).finish();
}

/** Inputs of a fused Skip*Norm that the head keeps: gamma (and beta), not the residual operands or bias. */
function fusedParams(n: NodeView): string[] {
  return n.opType === 'SkipLayerNormalization' ? [n.inputs[2]!, n.inputs[3] ?? ''] : [n.inputs[2]!];
}

/** The fused final norm again, reading `hidden` + exact zero, with only its normalised output. */
function refusedNorm(buf: Uint8Array, n: NodeView): Msg {
  const out = rewrite(buf, n.fields, (f) => (f.no === NodeF.input || f.no === NodeF.output ? null : undefined));
  for (const i of [LENS_INPUT, ZERO, ...fusedParams(n)]) out.string(NodeF.input, i);
  out.string(NodeF.output, n.outputs[0]!);
  return out;
}

/** External-data initializers are copied into the head (it is built in memory, not beside the source). */
function inlineExternal(t: TensorView, source: string, files: Map<string, Uint8Array>): Msg {
  const ext = t.external!;
  const file = join(dirname(source), ext.location);
  let all = files.get(file);
  if (!all) {
    try {
      all = readFileSync(file);
    } catch (e) {
      throw new InstrumentError(`${source}: lens head: cannot read external data of '${t.name}' from ${file} (${(e as Error).message})`);
    }
    files.set(file, all);
  }
  return buildTensor(t.name, t.dataType, t.dims, all.subarray(ext.offset, ext.length === null ? undefined : ext.offset + ext.length));
}
