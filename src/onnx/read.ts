// A read-only view of an ONNX model: nodes, tensors and value infos with their byte ranges, so an
// editor can replace or append fields while every other byte stays as it was.

import {
  Field,
  fieldBytes,
  fieldFloat,
  fieldInt,
  fieldString,
  readFields,
  repeatedFloats,
  repeatedInts,
  Wire,
} from './wire.js';
import {
  AttrF,
  DimF,
  GraphF,
  ModelF,
  NodeF,
  OpsetF,
  ShapeF,
  StringEntryF,
  TensorF,
  TensorTypeF,
  TypeF,
  ValueInfoF,
} from './schema.js';

export interface AttrView {
  name: string;
  field: Field;
  i?: number;
  f?: number;
  s?: string;
  ints?: number[];
  floats?: number[];
  /** Subgraph (If/Loop/Scan bodies). */
  g?: GraphView;
  t?: TensorView;
}

export interface NodeView {
  /** Position among the graph's nodes. */
  index: number;
  field: Field;
  fields: Field[];
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrView>;
}

export interface TensorView {
  field: Field;
  name: string;
  dataType: number;
  dims: number[];
  /** Payload when stored inline as raw_data. */
  raw?: Uint8Array;
  /** Inline typed fields (float_data / int64_data / int32_data), decoded. */
  values?: number[];
  external?: { location: string; offset: number; length: number | null };
}

export interface ValueInfoView {
  field: Field;
  name: string;
  elemType: number;
  /** number: fixed; string: symbolic; null: unknown. Undefined shape: rank unknown. */
  shape?: (number | string | null)[];
}

export interface GraphView {
  buf: Uint8Array;
  /** The graph message's own range (payload of its parent field). */
  start: number;
  end: number;
  fields: Field[];
  name: string;
  nodes: NodeView[];
  initializers: TensorView[];
  inputs: ValueInfoView[];
  outputs: ValueInfoView[];
  valueInfo: ValueInfoView[];
}

export interface ModelView {
  buf: Uint8Array;
  fields: Field[];
  graphField: Field;
  graph: GraphView;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
}

export class OnnxFormatError extends Error {}

function strings(buf: Uint8Array, fields: Field[], no: number): string[] {
  return fields.filter((f) => f.no === no).map((f) => fieldString(buf, f));
}

function first(fields: Field[], no: number): Field | undefined {
  return fields.find((f) => f.no === no);
}

export function readTensor(buf: Uint8Array, field: Field): TensorView {
  const fs = readFields(buf, field.dataStart, field.dataEnd);
  const nameF = first(fs, TensorF.name);
  const dtF = first(fs, TensorF.dataType);
  const t: TensorView = {
    field,
    name: nameF ? fieldString(buf, nameF) : '',
    dataType: dtF ? fieldInt(buf, dtF) : 0,
    dims: repeatedInts(buf, fs, TensorF.dims),
  };
  const rawF = first(fs, TensorF.rawData);
  if (rawF) t.raw = fieldBytes(buf, rawF);
  const locF = first(fs, TensorF.dataLocation);
  if (locF && fieldInt(buf, locF) === 1) {
    const entries = new Map<string, string>();
    for (const e of fs.filter((f) => f.no === TensorF.externalData)) {
      const efs = readFields(buf, e.dataStart, e.dataEnd);
      const k = first(efs, StringEntryF.key);
      const v = first(efs, StringEntryF.value);
      if (k && v) entries.set(fieldString(buf, k), fieldString(buf, v));
    }
    t.external = {
      location: entries.get('location') ?? '',
      offset: Number(entries.get('offset') ?? 0),
      length: entries.has('length') ? Number(entries.get('length')) : null,
    };
  }
  if (fs.some((f) => f.no === TensorF.floatData)) t.values = repeatedFloats(buf, fs, TensorF.floatData);
  else if (fs.some((f) => f.no === TensorF.int64Data)) t.values = repeatedInts(buf, fs, TensorF.int64Data);
  else if (fs.some((f) => f.no === TensorF.int32Data)) t.values = repeatedInts(buf, fs, TensorF.int32Data);
  return t;
}

function readValueInfo(buf: Uint8Array, field: Field): ValueInfoView {
  const fs = readFields(buf, field.dataStart, field.dataEnd);
  const nameF = first(fs, ValueInfoF.name);
  const vi: ValueInfoView = { field, name: nameF ? fieldString(buf, nameF) : '', elemType: 0 };
  const typeF = first(fs, ValueInfoF.type);
  if (!typeF) return vi;
  const tfs = readFields(buf, typeF.dataStart, typeF.dataEnd);
  const ttF = first(tfs, TypeF.tensorType);
  if (!ttF) return vi;
  const ttfs = readFields(buf, ttF.dataStart, ttF.dataEnd);
  const etF = first(ttfs, TensorTypeF.elemType);
  if (etF) vi.elemType = fieldInt(buf, etF);
  const shF = first(ttfs, TensorTypeF.shape);
  if (shF) {
    vi.shape = readFields(buf, shF.dataStart, shF.dataEnd)
      .filter((f) => f.no === ShapeF.dim)
      .map((d) => {
        const dfs = readFields(buf, d.dataStart, d.dataEnd);
        const v = first(dfs, DimF.value);
        if (v) return fieldInt(buf, v);
        const p = first(dfs, DimF.param);
        return p ? fieldString(buf, p) : null;
      });
  }
  return vi;
}

function readAttr(buf: Uint8Array, field: Field): AttrView {
  const fs = readFields(buf, field.dataStart, field.dataEnd);
  const nameF = first(fs, AttrF.name);
  const a: AttrView = { name: nameF ? fieldString(buf, nameF) : '', field };
  for (const f of fs) {
    if (f.no === AttrF.i && f.wire === Wire.Varint) a.i = fieldInt(buf, f);
    else if (f.no === AttrF.f && f.wire === Wire.I32) a.f = fieldFloat(buf, f);
    else if (f.no === AttrF.s && f.wire === Wire.Len) a.s = fieldString(buf, f);
    else if (f.no === AttrF.g && f.wire === Wire.Len) a.g = readGraph(buf, f.dataStart, f.dataEnd);
    else if (f.no === AttrF.t && f.wire === Wire.Len) a.t = readTensor(buf, f);
  }
  if (fs.some((f) => f.no === AttrF.ints)) a.ints = repeatedInts(buf, fs, AttrF.ints);
  if (fs.some((f) => f.no === AttrF.floats)) a.floats = repeatedFloats(buf, fs, AttrF.floats);
  return a;
}

function readNode(buf: Uint8Array, field: Field, index: number): NodeView {
  const fs = readFields(buf, field.dataStart, field.dataEnd);
  const attrs = new Map<string, AttrView>();
  for (const f of fs) {
    if (f.no !== NodeF.attribute) continue;
    const a = readAttr(buf, f);
    attrs.set(a.name, a);
  }
  const opF = first(fs, NodeF.opType);
  const nameF = first(fs, NodeF.name);
  const domF = first(fs, NodeF.domain);
  return {
    index,
    field,
    fields: fs,
    name: nameF ? fieldString(buf, nameF) : '',
    opType: opF ? fieldString(buf, opF) : '',
    domain: domF ? fieldString(buf, domF) : '',
    inputs: strings(buf, fs, NodeF.input),
    outputs: strings(buf, fs, NodeF.output),
    attrs,
  };
}

export function readGraph(buf: Uint8Array, start: number, end: number): GraphView {
  const fields = readFields(buf, start, end);
  const g: GraphView = {
    buf,
    start,
    end,
    fields,
    name: '',
    nodes: [],
    initializers: [],
    inputs: [],
    outputs: [],
    valueInfo: [],
  };
  for (const f of fields) {
    switch (f.no) {
      case GraphF.node:
        g.nodes.push(readNode(buf, f, g.nodes.length));
        break;
      case GraphF.name:
        g.name = fieldString(buf, f);
        break;
      case GraphF.initializer:
        g.initializers.push(readTensor(buf, f));
        break;
      case GraphF.input:
        g.inputs.push(readValueInfo(buf, f));
        break;
      case GraphF.output:
        g.outputs.push(readValueInfo(buf, f));
        break;
      case GraphF.valueInfo:
        g.valueInfo.push(readValueInfo(buf, f));
        break;
    }
  }
  return g;
}

/** Parse a whole model. `source` names the file in error messages. */
export function readModel(buf: Uint8Array, source = '<model>'): ModelView {
  let fields: Field[];
  try {
    fields = readFields(buf);
  } catch (e) {
    throw new OnnxFormatError(`${source}: not an ONNX protobuf (${(e as Error).message})`);
  }
  const graphField = first(fields, ModelF.graph);
  if (!graphField || graphField.wire !== Wire.Len) throw new OnnxFormatError(`${source}: ModelProto has no graph`);
  const irF = first(fields, ModelF.irVersion);
  const prodF = first(fields, ModelF.producerName);
  const opsets = fields
    .filter((f) => f.no === ModelF.opsetImport)
    .map((f) => {
      const ofs = readFields(buf, f.dataStart, f.dataEnd);
      const d = first(ofs, OpsetF.domain);
      const v = first(ofs, OpsetF.version);
      return { domain: d ? fieldString(buf, d) : '', version: v ? fieldInt(buf, v) : 0 };
    });
  let graph: GraphView;
  try {
    graph = readGraph(buf, graphField.dataStart, graphField.dataEnd);
  } catch (e) {
    throw new OnnxFormatError(`${source}: malformed graph (${(e as Error).message})`);
  }
  return {
    buf,
    fields,
    graphField,
    graph,
    irVersion: irF ? fieldInt(buf, irF) : 0,
    opsets,
    producer: prodF ? fieldString(buf, prodF) : '',
  };
}
