// Dumps an ONNX model's float initializers to safetensors (names as in the graph) together with
// the logits of a fixed token sequence, so the training script can start a finetune from the
// committed weights and check that it rebuilt the same network.
//   npx tsx scripts/onnx-weights.ts --model models/persona-tiny --out build/persona-tiny-weights.safetensors

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSafetensors } from '../src/io/safetensors.js';
import { findOnnxFile, loadModel } from '../src/model/load.js';
import { readModel } from '../src/onnx/read.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'models/persona-tiny' }, out: { type: 'string', default: 'build/persona-tiny-weights.safetensors' } } });
const dir = values.model!;
const file = findOnnxFile(dir);
const view = readModel(readFileSync(file), file);
const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
for (const t of view.graph.initializers) {
  if (t.dataType !== 1 || !t.raw) continue; // FLOAT stored inline: every weight of our exports
  const copy = new Uint8Array(t.raw); // a copy: aligned, and not a view of the file buffer
  tensors[t.name] = { data: new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4), shape: t.dims };
}
const ids = [1, 10, 200, 300, 42, 7, 999, 1500, 3];
const model = await loadModel(dir, { threads: 1 });
const r = await model.forward({ inputIds: [ids], useCache: false });
tensors['check.input_ids'] = { data: Float32Array.from(ids), shape: [1, ids.length] };
tensors['check.logits'] = { data: r.logits, shape: [1, ids.length, r.vocab] };
await model.dispose();
writeSafetensors(values.out!, tensors, { source: join(dir) });
console.log(`wrote ${Object.keys(tensors).length} tensors from ${file} to ${values.out}`);
