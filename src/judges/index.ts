// Judge from a spec string, as the CLI takes it:
//   lexicon            the synthetic world's lexicon judge (embedded model)
//   openai[:MODEL]     OpenAI-compatible endpoint (PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL, *_API_KEY)
//   onnx:DIR           a local ONNX chat model run through our runtime

import { loadModel } from '../model/load.js';
import type { Judge } from './judge.js';
import { LexiconJudge } from './lexiconJudge.js';
import { OnnxJudge } from './onnxJudge.js';
import { endpointFromEnv, OpenAIJudge } from './openaiJudge.js';

export type { Judge, JudgeInput, TraitRubric } from './judge.js';
export { COHERENCE_PROMPT, fillRubric } from './judge.js';
export { LexiconJudge, OnnxJudge, OpenAIJudge };
export { scoreFromTopLogprobs, topLogprobsFromResponse, MIN_SCORE_MASS, type TokenLogprob } from './logprobScore.js';
export { chatCompletion, endpointFromEnv, JUDGE_DEFAULTS, judgeRequestBody, type OpenAIEndpoint } from './openaiJudge.js';
export { OpenAIRequestError } from '../io/openaiHttp.js';

export async function makeJudge(spec: string, opts: { baseUrl?: string; apiKey?: string; timeoutMs?: number; retries?: number } = {}): Promise<Judge> {
  if (spec === 'lexicon') return new LexiconJudge();
  if (spec === 'openai' || spec.startsWith('openai:')) {
    const model = spec.includes(':') ? spec.slice('openai:'.length) : undefined;
    const ep = endpointFromEnv({ baseUrl: opts.baseUrl, apiKey: opts.apiKey, timeoutMs: opts.timeoutMs, retries: opts.retries, ...(model ? { model } : {}) });
    if (!ep) throw new Error(`judge '${spec}': no endpoint configured (set --judge-base-url or PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL)`);
    return new OpenAIJudge(ep);
  }
  if (spec.startsWith('onnx:')) return new OnnxJudge(await loadModel(spec.slice('onnx:'.length)));
  throw new Error(`judge '${spec}': expected lexicon, openai[:MODEL] or onnx:DIR`);
}
