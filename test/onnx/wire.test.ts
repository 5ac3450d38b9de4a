import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { floatTensor, graph, model, node, valueInfo } from '../../src/onnx/build.js';
import { readModel } from '../../src/onnx/read.js';
import { DType } from '../../src/onnx/schema.js';
import { Msg, readFields, rewrite } from '../../src/onnx/wire.js';

function tinyModel(): Uint8Array {
  const w = new Float32Array([1, 2, 3, 4, 5, 6]);
  const g = graph({
    name: 'tiny',
    nodes: [
      node({ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'], name: 'mm' }),
      node({ op: 'Add', inputs: ['y', 'y'], outputs: ['z'], name: 'add' }),
    ],
    initializers: [floatTensor('w', [3, 2], w)],
    inputs: [valueInfo('x', DType.FLOAT, ['batch', 3])],
    outputs: [valueInfo('z', DType.FLOAT, ['batch', 2])],
  });
  return model(g, [{ domain: '', version: 17 }]).finish();
}

describe('protobuf wire codec', () => {
  it('writes a model onnxruntime runs and reads it back', async () => {
    const bytes = tinyModel();
    const s = await ort.InferenceSession.create(bytes);
    const out = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 1, 1]), [1, 3]) });
    expect(Array.from(out.z!.data as Float32Array)).toEqual([18, 24]);
    const m = readModel(bytes);
    expect(m.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    expect(m.graph.initializers[0]!.dims).toEqual([3, 2]);
    expect(m.graph.inputs[0]!.shape).toEqual(['batch', 3]);
    expect(m.opsets).toEqual([{ domain: '', version: 17 }]);
  });

  it('rewriting with no edits reproduces the bytes exactly, unknown fields included', () => {
    const bytes = tinyModel();
    // Append a field number no ONNX version uses: it must survive a rewrite untouched.
    const withUnknown = new Msg().raw(bytes).string(999, 'from the future').finish();
    const fields = readFields(withUnknown);
    const again = rewrite(withUnknown, fields, () => undefined).finish();
    expect(Buffer.from(again).equals(Buffer.from(withUnknown))).toBe(true);
    expect(readFields(again).some((f) => f.no === 999)).toBe(true);
  });
});
