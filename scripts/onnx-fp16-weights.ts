// Stores an ONNX model's large float32 weights as float16, each followed by a Cast back to float32
// (compute stays float32; onnxruntime folds the casts once at load). Halves the file size of the
// finetuned variants committed under models/ at the cost of fp16 rounding of the weights.
//   npx tsx scripts/onnx-fp16-weights.ts models/NAME/onnx/model.onnx

import { readFileSync } from 'node:fs';
import { floatToHalf } from '../src/io/fp16.js';
import { writeFileAtomic } from '../src/io/atomic.js';
import { node, tensor } from '../src/onnx/build.js';
import { readModel } from '../src/onnx/read.js';
import { GraphF, ModelF } from '../src/onnx/schema.js';
import { Msg, rewrite } from '../src/onnx/wire.js';

const FLOAT = 1;
const FLOAT16 = 10;
const file = process.argv[2];
if (!file) throw new Error('usage: onnx-fp16-weights.ts MODEL.onnx');
const model = readModel(readFileSync(file), file);
const g = model.graph;
const big = new Map(g.initializers.filter((t) => t.dataType === FLOAT && t.raw && t.raw.length >= 4096).map((t) => [t.field.start, t]));
if (!big.size) throw new Error(`${file}: no float32 weights to convert (already converted?)`);
const firstNode = g.fields.findIndex((f) => f.no === GraphF.node);
let before = 0;
let after = 0;
const graph = rewrite(g.buf, g.fields, (f) => {
  const m = new Msg();
  // The casts go first, so every consumer sees its weight under the original name.
  if (f === g.fields[firstNode]) for (const t of big.values()) m.message(GraphF.node, node({ op: 'Cast', inputs: [`${t.name}.fp16`], outputs: [t.name], attrs: { to: FLOAT } }));
  const t = f.no === GraphF.initializer ? big.get(f.start) : undefined;
  if (!t) return f === g.fields[firstNode] ? m.field(g.buf, f) : undefined;
  const copy = new Uint8Array(t.raw!);
  const half = floatToHalf(new Float32Array(copy.buffer, 0, copy.length / 4));
  before += copy.length;
  after += half.byteLength;
  return m.message(GraphF.initializer, tensor(`${t.name}.fp16`, FLOAT16, t.dims, new Uint8Array(half.buffer)));
});
const out = rewrite(model.buf, model.fields, (f) => (f === model.graphField ? new Msg().message(ModelF.graph, graph) : undefined));
writeFileAtomic(file, out.finish());
console.log(`${file}: ${big.size} weights to float16 (${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB)`);
