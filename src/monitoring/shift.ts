// Finetuning shift (persona vectors paper, section 5): how far finetuning moved the model along a
// persona vector, measured on prompts alone, before any answer is generated:
//   shift_l = mean_x(h_l^finetuned(x) - h_l^base(x)) · v_l/|v_l|
// with h_l(x) the last prompt token's state at layer l on the trait's evaluation prompts.

import { extractActivations } from '../activations/extract.js';
import { cosine, MeanAccumulator, norm, projection, sub } from '../directions/meanAccumulator.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';

export interface LayerShift {
  layer: number;
  /** Projection of the mean activation difference on v_l/|v_l|. */
  shift: number;
  /** Cosine between the mean difference and v_l. */
  cos: number;
  /** |mean difference|. */
  norm: number;
}

async function meanLastPrompt(model: SteerableModel, prompts: ChatMessage[][], batchSize: number): Promise<Float32Array[]> {
  const acc = new MeanAccumulator(model.dir);
  const examples = prompts.map((m) => ({ promptIds: model.tokenizer.encodeChat(m, { addGenerationPrompt: true }), responseIds: [] }));
  // Chunks keep memory flat for long prompt lists.
  for (let i = 0; i < examples.length; i += 64) {
    for (const a of await extractActivations(model, examples.slice(i, i + 64), { positions: ['last-prompt'], batchSize })) acc.add(a.at['last-prompt']!);
  }
  return acc.mean();
}

/** vectors[l] is the persona vector of hidden_states index l (0..L), as in vector files. */
export async function finetuningShift(base: SteerableModel, finetuned: SteerableModel, prompts: ChatMessage[][], vectors: Float32Array[], opts: { batchSize?: number } = {}): Promise<LayerShift[]> {
  if (base.numLayers !== finetuned.numLayers || base.hiddenSize !== finetuned.hiddenSize) {
    throw new Error(`${finetuned.dir}: ${finetuned.numLayers} layers x ${finetuned.hiddenSize}, but the base ${base.dir} has ${base.numLayers} x ${base.hiddenSize}: not a finetune of it`);
  }
  if (vectors.length !== base.numLayers + 1) throw new Error(`finetuningShift: ${vectors.length} layer vectors for a model with hidden_states 0..${base.numLayers}`);
  if (!prompts.length) throw new Error('finetuningShift: no prompts');
  const [b, f] = [await meanLastPrompt(base, prompts, opts.batchSize ?? 8), await meanLastPrompt(finetuned, prompts, opts.batchSize ?? 8)];
  return vectors.map((v, layer) => {
    const d = sub(f[layer]!, b[layer]!);
    return { layer, shift: projection(d, v), cos: cosine(d, v), norm: norm(d) };
  });
}
