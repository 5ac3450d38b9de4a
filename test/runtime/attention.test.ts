// How each graph's attention wants ragged rows and its cache fed (src/model/instrument/attention.ts):
// the contract read from the graph, the graphs whose rows cannot be padded, the errors of the
// right-padded path, and the shared-buffer forms that are refused.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attentionContract } from '../../src/model/instrument/attention.js';
import { loadModel as readOnnx } from '../../src/model/instrument/prepare.js';
import { loadModel } from '../../src/model/load.js';
import { defaultConfig, headDim } from '../fixtures/config.js';
import { writeFixtureDir } from '../fixtures/fixtureDir.js';
import { gpt2PastModel } from '../fixtures/fused/gpt2Past.js';
import { llamaFusedModel, type FusedAttention } from '../fixtures/fused/llamaFused.js';
import { makeFixture } from '../fixtures/index.js';
import { referenceForward } from '../fixtures/reference.js';
import { makeWeights } from '../fixtures/weights.js';
import { fixtureModel, relErr, rows } from './helpers.js';

const IDS = [
  [1, 40, 57, 99, 120, 7, 260, 13],
  [1, 33, 200, 64, 9],
];

function llamaFolder(attention: FusedAttention): { dir: string; reference: (ids: number[][]) => Float32Array } {
  const c = defaultConfig('llama');
  const built = llamaFusedModel(c, makeWeights(c, 0), { attention });
  const dir = join(mkdtempSync(join(tmpdir(), 'persona-attention-')), 'm');
  writeFixtureDir(dir, attention, c, { model: built.model.parts });
  return { dir, reference: (ids) => referenceForward(c, built.weights, ids).logits };
}

describe('attention contract', () => {
  it('reads each graph style: mask-masked graphs left-padded, the builder GQA right-padded and shareable', async () => {
    const contract = async (kind: Parameters<typeof makeFixture>[0]) => {
      const fx = await makeFixture(kind);
      const file = kind.startsWith('genai') ? 'model.onnx' : 'onnx/model.onnx';
      return attentionContract(readOnnx(join(fx.dir, file)));
    };
    expect(await contract('llama')).toMatchObject({ padding: 'left', sharedBuffer: false, ops: [] });
    expect(await contract('llama-fused')).toMatchObject({ padding: 'left', sharedBuffer: false, ops: ['GroupQueryAttention'] });
    expect(await contract('gpt2-past')).toMatchObject({ padding: 'left', sharedBuffer: false, ops: ['Attention'] });
    expect(await contract('genai-fp16')).toMatchObject({ padding: 'left', sharedBuffer: false, ops: ['MultiHeadAttention'] });
    const gqa = await contract('genai-gqa');
    expect(gqa).toMatchObject({ padding: 'right', sharedBuffer: true, ops: ['GroupQueryAttention'] });
    expect(gqa.reason).toMatch(/GroupQueryAttention '\/model\/layers\.0\/attn\/GroupQueryAttention' takes each row's length from the mask's row sums/);
  });

  it('a GQA graph that masks neither by bias nor by row sums runs equal-length rows and refuses ragged ones', async () => {
    const { dir, reference } = llamaFolder('gqa-total');
    const model = await loadModel(dir, { threads: 1 });
    expect(model.session.padding).toBe('none');
    const r = await model.forward({ inputIds: [IDS[0]!, IDS[0]!.slice().reverse()] });
    expect(relErr(rows(r.logits, 0, 8, r.vocab, 0, 8), reference([IDS[0]!]))).toBeLessThan(1e-4);
    await expect(model.forward({ inputIds: IDS })).rejects.toThrow(/cannot mask padding \(see persona inspect: attention\), so rows cannot be padded/);
    await model.dispose();
  });
});

describe('right-padded rows (builder GQA)', () => {
  it('refuses what the kernel cannot express: zeros inside a row, a ragged continuation of a cache', async () => {
    const { model } = await fixtureModel('genai-gqa');
    await expect(model.forward({ inputIds: [[1, 5, 6]], attentionMask: [[1, 0, 1]] })).rejects.toThrow(/takes right-padded rows .* attentionMask row 0 cannot have zeros between tokens/);
    const pre = await model.forward({ inputIds: IDS });
    await expect(model.forward({ inputIds: [[5, 6], [7]], cache: pre.cache })).rejects.toThrow(/continuing a cache with rows of different lengths is not possible on this graph \(row 1 has 1 of 2 tokens\)/);
    await model.dispose();
  });
});

describe('shared past/present buffers', () => {
  it("Attention with past_present_share_buffer=1 fails at load, naming the node, because ORT's CPU kernel does not run it", async () => {
    const c = defaultConfig('gpt2');
    const built = gpt2PastModel(c, makeWeights(c, 0), { shareBuffer: true });
    const dir = join(mkdtempSync(join(tmpdir(), 'persona-attention-')), 'm');
    writeFixtureDir(dir, 'share', c, { model: built.model.parts });
    const file = join(dir, 'onnx', 'model.onnx');
    // What ONNX Runtime itself does with it, fed the fixed buffers the form asks for.
    const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
    const i32 = (a: number[], d: number[]) => new ort.Tensor('int32', Int32Array.from(a), d);
    const feeds: Record<string, ort.Tensor> = { input_ids: i32([1, 5], [1, 2]), position_ids: i32([0, 1], [1, 2]), attention_mask: i32([1, 1], [1, 2]), past_sequence_length: i32([0], [1]) };
    for (let l = 0; l < c.numLayers; l++) feeds[`past_${l}`] = new ort.Tensor('float32', new Float32Array(2 * c.numHeads * 16 * headDim(c)), [2, 1, c.numHeads, 16, headDim(c)]);
    await expect(s.run(feeds)).rejects.toThrow(/past_sequence_length/);
    await s.release();
    const want = /node 'Attention_0' is a com\.microsoft Attention with past_present_share_buffer=1 \(past_sequence_length input 'past_sequence_length'\), which ONNX Runtime's CPU kernel does not run/;
    await expect(loadModel(dir, { threads: 1 })).rejects.toThrow(want);
    await expect(loadModel(dir, { threads: 1, prepare: false })).rejects.toThrow(want);
  });

  it('sharedCache: true on a graph whose attention cannot share buffers fails by name', async () => {
    const fx = await makeFixture('genai-fp16');
    await expect(loadModel(fx.dir, { threads: 1, sharedCache: true })).rejects.toThrow(/sharedCache: this graph's attention \(MultiHeadAttention\) cannot share past\/present buffers/);
    // genai_config.json asks for a growing cache there; default loading feeds one.
    const model = await loadModel(fx.dir, { threads: 1 });
    expect(model.session.sharedCache).toBeUndefined();
    await model.dispose();
  });
});
