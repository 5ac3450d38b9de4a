// The loaded model's final norm + LM head as its own ONNX session (see instrument/lensHead.ts):
// decode(hidden states) -> logits. Built in memory from the model's source graph on first use.

import * as ort from 'onnxruntime-node';
import { relative } from 'node:path';
import { buildLensHead, LENS_INPUT, LENS_OUTPUT } from './instrument/lensHead.js';
import { planModel } from './instrument/prepare.js';
import { findOnnxFile } from './load.js';
import { floatToHalf, halfToFloat } from '../io/fp16.js';
import type { SteerableModel } from './steerableModel.js';

export class LensHead {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly hiddenSize: number,
    readonly vocabSize: number,
    private readonly half: boolean,
  ) {}

  /** The head of `model`'s source ONNX file (the one its manifest names, else the default file). */
  static async load(model: SteerableModel): Promise<LensHead> {
    const file = model.manifest?.source.file ?? relative(model.dir, findOnnxFile(model.dir));
    const { plan, model: view } = planModel(model.dir, file);
    const bytes = buildLensHead(view, plan, `${model.dir}/${file}`);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    } catch (e) {
      throw new Error(`${model.dir}/${file}: the lens head built from this model does not load (${(e as Error).message})`);
    }
    return new LensHead(session, plan.hiddenSize, model.config.vocabSize, plan.dtype === 'float16');
  }

  /** hidden [rows, seq, H] float32 -> logits [rows, seq, vocab] float32. */
  async decode(hidden: Float32Array, rows: number, seq: number): Promise<Float32Array> {
    const H = this.hiddenSize;
    if (hidden.length !== rows * seq * H) throw new Error(`lens: hidden has ${hidden.length} values, expected ${rows}x${seq}x${H}`);
    const input = this.half ? new ort.Tensor('float16', floatToHalf(hidden), [rows, seq, H]) : new ort.Tensor('float32', hidden, [rows, seq, H]);
    const out = await this.session.run({ [LENS_INPUT]: input });
    const data = out[LENS_OUTPUT]!.data as Float32Array | Uint16Array;
    return data instanceof Float32Array ? data : halfToFloat(data);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
