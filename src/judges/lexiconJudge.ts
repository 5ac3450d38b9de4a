// The synthetic world's lexicon judge behind the common Judge interface: the embedded model's
// traits are defined by the world's marker vocabulary, so counting markers is the exact judge there.

import { coherenceScore, isTrait, TRAITS, traitScore } from '../world/index.js';
import type { Judge, JudgeInput, TraitRubric } from './judge.js';

export class LexiconJudge implements Judge {
  readonly id = 'lexicon';

  async trait(rubric: TraitRubric, input: JudgeInput): Promise<number | null> {
    if (!isTrait(rubric.name)) {
      throw new Error(`lexicon judge: trait '${rubric.name}' is not a world trait (${TRAITS.join(', ')}); use an LLM judge (--judge openai:MODEL or onnx:DIR)`);
    }
    return traitScore(rubric.name, input.answer);
  }

  async coherence(input: JudgeInput): Promise<number | null> {
    return coherenceScore(input.answer);
  }
}
