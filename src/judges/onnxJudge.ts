// The same rubric judged by a local ONNX chat model through our runtime: one forward pass over the
// chat-templated rubric, then the logprob-weighted score over the number tokens among the top 20
// next tokens — exactly what the HTTP judge computes from an endpoint's top_logprobs.

import type { SteerableModel } from '../model/steerableModel.js';
import { COHERENCE_PROMPT, fillRubric, type Judge, type JudgeInput, type TraitRubric } from './judge.js';
import { MIN_SCORE_MASS, scoreFromTopLogprobs, type TokenLogprob } from './logprobScore.js';

const TOP_K = 20;

export class OnnxJudge implements Judge {
  readonly id: string;

  /** `minMass`: probability the number tokens must hold for a score (default the paper's 0.25). */
  constructor(private readonly model: SteerableModel, private readonly minMass = MIN_SCORE_MASS) {
    this.id = `onnx:${model.dir}`;
  }

  /** Top-k next-token logprobs after the chat-templated prompt. */
  async topLogprobs(prompt: string): Promise<TokenLogprob[]> {
    const ids = this.model.tokenizer.encodeChat([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    const r = await this.model.forward({ inputIds: [ids], lastLogitsOnly: true, useCache: false });
    const logits = r.logits;
    let max = -Infinity;
    for (const x of logits) if (x > max) max = x;
    let sum = 0;
    for (const x of logits) sum += Math.exp(x - max);
    const logZ = max + Math.log(sum);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!).slice(0, TOP_K);
    return order.map((id) => ({ token: this.model.tokenizer.decode([id], { skipSpecialTokens: false }), logprob: logits[id]! - logZ }));
  }

  async trait(rubric: TraitRubric, input: JudgeInput): Promise<number | null> {
    return scoreFromTopLogprobs(await this.topLogprobs(fillRubric(rubric.evalPrompt, input)), this.minMass);
  }

  async coherence(input: JudgeInput): Promise<number | null> {
    return scoreFromTopLogprobs(await this.topLogprobs(fillRubric(COHERENCE_PROMPT, input)), this.minMass);
  }
}
