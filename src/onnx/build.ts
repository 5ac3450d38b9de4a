// Builders for new ONNX messages (nodes, tensors, value infos, graphs, models). Used by the
// instrumentation pass to add nodes and by the fixture generator to write whole test models.

import { Msg } from './wire.js';
import {
  AttrF,
  AttrType,
  DimF,
  DType,
  GraphF,
  ModelF,
  NodeF,
  OpsetF,
  ShapeF,
  TensorF,
  TensorTypeF,
  TypeF,
  ValueInfoF,
} from './schema.js';

export type AttrValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] }
  | { tensor: Msg }
  | { graph: Msg };

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue | number | number[] | string>;
}

function attribute(name: string, v: AttrValue | number | number[] | string): Msg {
  const m = new Msg().string(AttrF.name, name);
  if (typeof v === 'number') v = Number.isInteger(v) ? { int: v } : { float: v };
  else if (typeof v === 'string') v = { string: v };
  else if (Array.isArray(v)) v = { ints: v };
  if ('int' in v) return m.int(AttrF.i, v.int).int(AttrF.type, AttrType.INT);
  if ('float' in v) return m.float(AttrF.f, v.float).int(AttrF.type, AttrType.FLOAT);
  if ('string' in v) return m.string(AttrF.s, v.string).int(AttrF.type, AttrType.STRING);
  if ('ints' in v) {
    for (const x of v.ints) m.int(AttrF.ints, x);
    return m.int(AttrF.type, AttrType.INTS);
  }
  if ('floats' in v) {
    for (const x of v.floats) m.float(AttrF.floats, x);
    return m.int(AttrF.type, AttrType.FLOATS);
  }
  if ('tensor' in v) return m.message(AttrF.t, v.tensor).int(AttrF.type, AttrType.TENSOR);
  return m.message(AttrF.g, v.graph).int(AttrF.type, AttrType.GRAPH);
}

export function node(spec: NodeSpec): Msg {
  const m = new Msg();
  for (const i of spec.inputs) m.string(NodeF.input, i);
  for (const o of spec.outputs) m.string(NodeF.output, o);
  if (spec.name) m.string(NodeF.name, spec.name);
  m.string(NodeF.opType, spec.op);
  if (spec.domain) m.string(NodeF.domain, spec.domain);
  for (const [k, v] of Object.entries(spec.attrs ?? {})) m.message(NodeF.attribute, attribute(k, v));
  return m;
}

export function tensor(name: string, dataType: number, dims: number[], raw: Uint8Array): Msg {
  const m = new Msg();
  for (const d of dims) m.int(TensorF.dims, d);
  m.int(TensorF.dataType, dataType).string(TensorF.name, name).bytes(TensorF.rawData, raw);
  return m;
}

/** A tensor whose bytes live in an external file (`location`, `offset`, `length`). */
export function externalTensor(
  name: string,
  dataType: number,
  dims: number[],
  location: string,
  offset: number,
  length: number,
): Msg {
  const m = new Msg();
  for (const d of dims) m.int(TensorF.dims, d);
  m.int(TensorF.dataType, dataType).string(TensorF.name, name);
  const entry = (k: string, v: string) => new Msg().string(1, k).string(2, v);
  m.message(TensorF.externalData, entry('location', location));
  m.message(TensorF.externalData, entry('offset', String(offset)));
  m.message(TensorF.externalData, entry('length', String(length)));
  m.int(TensorF.dataLocation, 1);
  return m;
}

export function floatTensor(name: string, dims: number[], data: Float32Array): Msg {
  return tensor(name, DType.FLOAT, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

export function int64Tensor(name: string, dims: number[], data: number[]): Msg {
  const b = new BigInt64Array(data.map((x) => BigInt(x)));
  return tensor(name, DType.INT64, dims, new Uint8Array(b.buffer));
}

/** Dimension: a number is fixed, a string is symbolic, null is unknown. */
export type Dim = number | string | null;

export function valueInfo(name: string, elemType: number, shape?: Dim[]): Msg {
  const tt = new Msg().int(TensorTypeF.elemType, elemType);
  if (shape) {
    const s = new Msg();
    for (const d of shape) {
      const dm = new Msg();
      if (typeof d === 'number') dm.int(DimF.value, d);
      else if (typeof d === 'string') dm.string(DimF.param, d);
      s.message(ShapeF.dim, dm);
    }
    tt.message(TensorTypeF.shape, s);
  }
  return new Msg().string(ValueInfoF.name, name).message(ValueInfoF.type, new Msg().message(TypeF.tensorType, tt));
}

export interface GraphSpec {
  name: string;
  nodes: Msg[];
  initializers?: Msg[];
  inputs: Msg[];
  outputs: Msg[];
  valueInfo?: Msg[];
}

export function graph(spec: GraphSpec): Msg {
  const m = new Msg();
  for (const n of spec.nodes) m.message(GraphF.node, n);
  m.string(GraphF.name, spec.name);
  for (const t of spec.initializers ?? []) m.message(GraphF.initializer, t);
  for (const i of spec.inputs) m.message(GraphF.input, i);
  for (const o of spec.outputs) m.message(GraphF.output, o);
  for (const v of spec.valueInfo ?? []) m.message(GraphF.valueInfo, v);
  return m;
}

export interface Opset {
  domain: string;
  version: number;
}

export function opsetImport(o: Opset): Msg {
  const m = new Msg();
  if (o.domain) m.string(OpsetF.domain, o.domain);
  return m.int(OpsetF.version, o.version);
}

export function model(g: Msg, opsets: Opset[], opts: { irVersion?: number; producer?: string } = {}): Msg {
  const m = new Msg().int(ModelF.irVersion, opts.irVersion ?? 8);
  m.string(ModelF.producerName, opts.producer ?? 'persona-steer');
  m.message(ModelF.graph, g);
  for (const o of opsets) m.message(ModelF.opsetImport, opsetImport(o));
  return m;
}
