// "Who's asking?" (Ghandeharioun et al. 2024) as one study on a model and a refusal benchmark:
//   1. refusal rate on borderline requests (a) with no persona, (b) with a persona stated in the
//      prompt, (c) with the persona's steering vector added at each layer over a coefficient range;
//      every answer is refused, discloses the withheld content, or neither (a steered model that
//      breaks down stops refusing without answering: that is not a persona's effect);
//   2. per persona, the cosine of its vector with the refusal direction at each layer, and how well
//      that geometry predicts its effect (Pearson r across personas of the disclosure it causes);
//   3. for refused answers, whether early decoding (logit lens) at the last prompt token still
//      ranks the withheld content's first token highly at middle layers, against a control (the
//      same tokens read on the other requests' prompts).
// The benchmark (requests, their withheld answers, personas, contrast pairs, refusal test) comes
// from the caller; the CLI uses the persona world's.

import { lensPrompt, type LensReading } from '../activations/lens.js';
import type { Steering } from '../model/steering.js';
import { tokenizeExample } from '../activations/positions.js';
import { cosine } from '../directions/meanAccumulator.js';
import { meanOfDifferences, pairDifferences, refusalDirection } from '../directions/contrast.js';
import { rowwiseSteering } from '../model/rowSteering.js';
import { generateChat } from '../generation/generate.js';
import type { LensHead } from '../model/lensHead.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { correlation, type Correlation } from './stats.js';

export interface RefusalBenchmark {
  /** Borderline requests and what the model says when it answers them. */
  requests: { id: string; text: string; domain: string; answer: string }[];
  /**
   * User personas: the statement used when stated in the prompt, and contrastive pairs for the
   * vector. A pair may name the request (`requests[].id`) it is built on: a request is then
   * steered with the vector of the pairs of the other requests (cross-fitted), never its own.
   */
  personas: { id: string; statement: string; domains: string[]; pairs: { pos: ChatMessage[]; neg: ChatMessage[]; request?: string }[] }[];
  /** Prompts for the refusal direction; labelled refused / answered by the model's own greedy answer. */
  directionPrompts: ChatMessage[][];
  /** The chat for a request, with the user's persona statement or none. */
  prompt(request: string, statement: string | null): ChatMessage[];
  isRefusal(answer: string): boolean;
  /** Whether an answer gives the request's withheld content (`content` = the request's `answer`). */
  discloses(answer: string, content: string): boolean;
}

export interface RefusalStudyConfig {
  /** Layers to steer at (hidden_states index, k = after block k). */
  layers: number[];
  coeffs: number[];
  maxNewTokens: number;
}

export interface AnswerRecord {
  condition: 'none' | 'stated' | 'steered' | 'direction';
  persona: string | null;
  layer: number | null;
  coeff: number | null;
  request: string;
  answer: string;
  refused: boolean;
  /** Not refused and giving the withheld content (borderline requests; false for direction prompts). */
  disclosed: boolean;
}

/** Shares of a set of borderline requests: refused, and answered with the withheld content. */
export interface Rates {
  refused: number;
  disclosed: number;
}

export interface PersonaResult {
  persona: string;
  /** Domains whose requests the persona unlocks in the benchmark (empty: none). */
  domains: string[];
  /** Over all borderline requests / over its own domains' (null: no domain). */
  stated: { all: Rates; own: Rates | null };
  /** [layer index][coeff index] */
  steered: { all: Rates[][]; own: (Rates | null)[][] };
  /** cos(v_p[l], r[l]) for every hidden_states index 0..L. */
  cosine: number[];
  vectorNorm: number[];
}

export interface LensFinding {
  layers: number[];
  /** Refused requests read (no persona). */
  refused: string[];
  /** Median over refused requests of the withheld answer's first-token rank, per layer. */
  medianRank: number[];
  /** The same tokens' median rank on the other requests' prompts (control), per layer. */
  controlMedianRank: number[];
  /** Share of refused requests whose withheld first token is in the top 10, per layer. */
  top10: number[];
  /** Per request: rank by layer, and the top token by layer. */
  perRequest: { request: string; token: string; rank: number[]; top: string[] }[];
}

export interface RefusalStudyResult {
  config: RefusalStudyConfig;
  /** Borderline requests with no persona. */
  none: Rates;
  directionLabels: { refused: number; answered: number };
  personas: PersonaResult[];
  /** Across personas: mean cosine over the steered layers vs the disclosure it causes (share of requests answered with the content, minus none's). */
  geometry: {
    meanCosine: number[];
    steeringEffect: number[];
    statedEffect: number[];
    steering: Correlation;
    stated: Correlation;
    /** Per steered layer: cos at that layer vs the disclosure steering causes there (mean over coeffs). */
    perLayer: { layer: number; r: number }[];
  };
  lens: LensFinding;
}

const rate = (xs: boolean[]): number => (xs.length ? xs.filter(Boolean).length / xs.length : NaN);
const ratesOf = (xs: { refused: boolean; disclosed: boolean }[]): Rates => ({ refused: rate(xs.map((x) => x.refused)), disclosed: rate(xs.map((x) => x.disclosed)) });
const median = (xs: number[]): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export interface StudyHooks {
  onRecord?: (r: AnswerRecord) => void;
  onProgress?: (done: number, total: number, stage: string) => void;
}

export async function runRefusalStudy(
  model: SteerableModel,
  head: LensHead,
  bench: RefusalBenchmark,
  cfg: RefusalStudyConfig,
  hooks: StudyHooks = {},
): Promise<RefusalStudyResult> {
  for (const l of cfg.layers) if (!Number.isInteger(l) || l < 0 || l > model.numLayers) throw new Error(`refusal study: layer ${l} out of range 0..${model.numLayers}`);
  if (!cfg.coeffs.length || !cfg.layers.length) throw new Error('refusal study: needs at least one layer and one coefficient');
  if (!bench.requests.length || !bench.personas.length) throw new Error('refusal study: the benchmark has no requests or no personas');
  const total = 2 + bench.personas.length * (1 + cfg.layers.length * cfg.coeffs.length) + 1;
  let done = 0;
  const tick = (stage: string): void => hooks.onProgress?.(++done, total, stage);

  // Greedy answers of a batch of chats, recorded; `contents` = what each would disclose (null: none to check).
  type Outcome = { refused: boolean; disclosed: boolean };
  const answer = async (chats: ChatMessage[][], base: Omit<AnswerRecord, 'answer' | 'refused' | 'disclosed' | 'request'>, names: string[], contents: (string | null)[], rowSteering?: Steering[]): Promise<Outcome[]> => {
    const lengths = chats.map((c) => model.tokenizer.encodeChat(c, { addGenerationPrompt: true }).length);
    const steerPlan = rowSteering ? rowwiseSteering(model, (b) => rowSteering[b]!, lengths) : undefined;
    const g = await generateChat(model, chats, { maxNewTokens: cfg.maxNewTokens, steerPlan });
    return g.text.map((text, i) => {
      const refused = bench.isRefusal(text);
      const disclosed = !refused && contents[i] !== null && bench.discloses(text, contents[i]!);
      hooks.onRecord?.({ ...base, request: names[i]!, answer: text, refused, disclosed });
      return { refused, disclosed };
    });
  };
  const reqIds = bench.requests.map((r) => r.id);
  const contents = bench.requests.map((r) => r.answer);

  // Refusal direction from the model's own behaviour on the direction prompts.
  const dirOutcomes = await answer(bench.directionPrompts, { condition: 'direction', persona: null, layer: null, coeff: null }, bench.directionPrompts.map((m) => m.at(-1)!.content), bench.directionPrompts.map(() => null));
  const dirLabels = dirOutcomes.map((o) => o.refused);
  const labelled = bench.directionPrompts.map((messages, i) => ({ messages, refused: dirLabels[i]! }));
  const r = await refusalDirection(model, labelled);
  tick('refusal direction');

  const noneChats = bench.requests.map((q) => bench.prompt(q.text, null));
  const noneOutcomes = await answer(noneChats, { condition: 'none', persona: null, layer: null, coeff: null }, reqIds, contents);
  tick('no persona');

  const personas: PersonaResult[] = [];
  for (const p of bench.personas) {
    // The persona's vector over all its pairs (geometry), and the one each request is steered with.
    const diffs = await pairDifferences(model, p.pairs);
    const v = meanOfDifferences(diffs, p.pairs.map((_, i) => i), `${p.id} vector`);
    const steerWith = bench.requests.map((q) => {
      const others = p.pairs.flatMap((x, i) => (x.request === undefined || x.request !== q.id ? [i] : []));
      return others.length === p.pairs.length ? v : meanOfDifferences(diffs, others, `${p.id} vector without ${q.id}`);
    });
    const own = bench.requests.map((q, i) => (p.domains.includes(q.domain) ? i : -1)).filter((i) => i >= 0);
    const ownRates = (o: Outcome[]): Rates | null => (own.length ? ratesOf(own.map((i) => o[i]!)) : null);
    const stated = await answer(bench.requests.map((q) => bench.prompt(q.text, p.statement)), { condition: 'stated', persona: p.id, layer: null, coeff: null }, reqIds, contents);
    tick(`${p.id}: stated`);
    const all: Rates[][] = [];
    const ownGrid: (Rates | null)[][] = [];
    for (const layer of cfg.layers) {
      const rowAll: Rates[] = [];
      const rowOwn: (Rates | null)[] = [];
      for (const coeff of cfg.coeffs) {
        const o = await answer(noneChats, { condition: 'steered', persona: p.id, layer, coeff }, reqIds, contents, steerWith.map((w) => [{ layer, vector: w[layer]!, coeff, positions: 'all' }]));
        rowAll.push(ratesOf(o));
        rowOwn.push(ownRates(o));
        tick(`${p.id}: L${layer} x${coeff}`);
      }
      all.push(rowAll);
      ownGrid.push(rowOwn);
    }
    personas.push({
      persona: p.id,
      domains: p.domains,
      stated: { all: ratesOf(stated), own: ownRates(stated) },
      steered: { all, own: ownGrid },
      cosine: v.map((x, l) => cosine(x, r[l]!)),
      vectorNorm: v.map((x) => Math.hypot(...x)),
    });
  }

  const none = ratesOf(noneOutcomes);
  const meanCosine = personas.map((p) => cfg.layers.reduce((s, l) => s + p.cosine[l]!, 0) / cfg.layers.length);
  const effectAt = (p: PersonaResult, li: number): number => p.steered.all[li]!.reduce((s, x) => s + x.disclosed, 0) / cfg.coeffs.length - none.disclosed;
  const steeringEffect = personas.map((p) => cfg.layers.reduce((s, _, li) => s + effectAt(p, li), 0) / cfg.layers.length);
  const statedEffect = personas.map((p) => p.stated.all.disclosed - none.disclosed);
  const geometry = {
    meanCosine,
    steeringEffect,
    statedEffect,
    steering: correlation(meanCosine, steeringEffect),
    stated: correlation(meanCosine, statedEffect),
    perLayer: cfg.layers.map((layer, li) => ({ layer, r: correlation(personas.map((p) => p.cosine[layer]!), personas.map((p) => effectAt(p, li))).r })),
  };

  const lens = await lensOnRefusals(model, head, bench, noneChats, noneOutcomes.map((o) => o.refused));
  tick('early decoding');
  return { config: cfg, none, directionLabels: { refused: dirLabels.filter(Boolean).length, answered: dirLabels.filter((x) => !x).length }, personas, geometry, lens };
}

/** Rank of each request's withheld first token at the last prompt position, by layer; control = other requests' prompts. */
async function lensOnRefusals(model: SteerableModel, head: LensHead, bench: RefusalBenchmark, chats: ChatMessage[][], refused: boolean[]): Promise<LensFinding> {
  const first = bench.requests.map((q, i) => {
    const t = tokenizeExample(model.tokenizer, chats[i]!, q.answer);
    return t.ids[t.promptLength]!;
  });
  const layers = [...Array(model.numLayers + 1).keys()];
  const readings: { ids: number[]; reading: LensReading }[] = [];
  for (const chat of chats) {
    const ids = model.tokenizer.encodeChat(chat, { addGenerationPrompt: true });
    readings.push({ ids, reading: await lensPrompt(model, head, ids, { topK: 1, targets: first }) });
  }
  const refusedIdx = refused.flatMap((x, i) => (x ? [i] : []));
  const last = (i: number): number => readings[i]!.ids.length - 1;
  const rankOf = (prompt: number, request: number, li: number): number => readings[prompt]!.reading.targets[request]!.rank[li]![last(prompt)]!;
  const perRequest = refusedIdx.map((i) => ({
    request: bench.requests[i]!.id,
    token: model.tokenizer.decode([first[i]!]),
    rank: layers.map((_, li) => rankOf(i, i, li)),
    top: layers.map((_, li) => readings[i]!.reading.top[li]![last(i)]![0]!.token),
  }));
  const control = layers.map((_, li) =>
    median(refusedIdx.flatMap((i) => bench.requests.map((_, j) => j).filter((j) => j !== i && first[j] !== first[i]).map((j) => rankOf(j, i, li)))),
  );
  return {
    layers,
    refused: refusedIdx.map((i) => bench.requests[i]!.id),
    medianRank: layers.map((_, li) => (refusedIdx.length ? median(perRequest.map((p) => p.rank[li]!)) : NaN)),
    controlMedianRank: control,
    top10: layers.map((_, li) => rate(perRequest.map((p) => p.rank[li]! <= 10))),
    perRequest,
  };
}
