// Report page of the "Who's asking?" study: refusal rates by condition, steering grids, geometry
// vs effect, and the early-decoding finding.

import { bars, heatmap, lines, scatter, type Report } from '../reports/html.js';
import type { RefusalStudyResult } from './refusalStudy.js';

const pct = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(0)}%`);
const fix = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** The lowest refusal rate any steering setting reached, and where. */
export function bestSteering(s: RefusalStudyResult, p: RefusalStudyResult['personas'][number], which: 'all' | 'own' = 'all'): { rate: number | null; layer: number; coeff: number } {
  let best = { rate: null as number | null, layer: s.config.layers[0]!, coeff: s.config.coeffs[0]! };
  s.config.layers.forEach((layer, li) =>
    s.config.coeffs.forEach((coeff, ci) => {
      const v = p.steered[which][li]![ci]!;
      if (v !== null && (best.rate === null || v < best.rate)) best = { rate: v, layer, coeff };
    }),
  );
  return best;
}

export function refusalReport(s: RefusalStudyResult, model: string): Report {
  const names = s.personas.map((p) => p.persona);
  const cols = s.config.layers.flatMap((l) => s.config.coeffs.map((c) => `L${l} x${c}`));
  const g = s.geometry;
  const L = s.lens;
  const mid = Math.floor((L.layers.length - 1) / 2);
  return {
    title: "Who's asking? User personas and refusal",
    subtitle: `${model}: ${s.personas.length} personas, borderline requests answered greedily (${s.config.maxNewTokens} tokens)`,
    sections: [
      {
        heading: 'Refusal rate by condition',
        text: `No persona: ${pct(s.none)} of borderline requests refused. Stated = the persona's statement before the request; steered = the best (lowest) rate over layers ${s.config.layers.join(',')} x coefficients ${s.config.coeffs.join(',')} with no statement. "own" = the persona's own domain's requests.`,
        figures: [
          bars(
            [
              { name: 'no persona', y: names.map(() => s.none) },
              { name: 'stated (all)', y: s.personas.map((p) => p.stated.all) },
              { name: 'stated (own)', y: s.personas.map((p) => p.stated.own) },
              { name: 'steered best (all)', y: s.personas.map((p) => bestSteering(s, p).rate) },
              { name: 'steered best (own)', y: s.personas.map((p) => bestSteering(s, p, 'own').rate) },
            ],
            names,
            'refusal rate on borderline requests',
            { x: 'persona', y: 'refusal rate' },
          ),
        ],
        table: [
          ['persona', 'domain', 'stated (all)', 'stated (own)', 'steered best (all)', 'at', 'steered best (own)', 'at'],
          ...s.personas.map((p) => {
            const a = bestSteering(s, p);
            const o = bestSteering(s, p, 'own');
            return [p.persona, p.domains.join(', ') || '-', pct(p.stated.all), pct(p.stated.own), pct(a.rate), `L${a.layer} x${a.coeff}`, pct(o.rate), o.rate === null ? '-' : `L${o.layer} x${o.coeff}`];
          }),
        ],
      },
      {
        heading: 'Steering grid',
        figures: [
          heatmap(s.personas.map((p) => p.steered.all.flat()), cols, names, 'refusal rate, all borderline requests', { x: 'layer x coefficient', y: 'persona', z: 'refusal' }),
          heatmap(s.personas.map((p) => p.steered.own.flat()), cols, names, "refusal rate, the persona's own domain", { x: 'layer x coefficient', y: 'persona', z: 'refusal' }),
        ],
      },
      {
        heading: 'Geometry: persona vectors and the refusal direction',
        text: `Refusal direction = mean last-prompt state of refused minus answered direction prompts (${s.directionLabels.refused} refused, ${s.directionLabels.answered} answered by the model). Across personas, mean cosine over the steered layers vs the drop in refusal: steering r = ${fix(g.steering.r)}${g.steering.ci ? ` [${fix(g.steering.ci[0], 2)}, ${fix(g.steering.ci[1], 2)}]` : ''}, stated r = ${fix(g.stated.r)}; per layer ${g.perLayer.map((x) => `L${x.layer} ${fix(x.r, 2)}`).join(', ')}.`,
        figures: [
          lines(s.personas.map((p) => ({ name: p.persona, x: p.cosine.map((_, l) => l), y: p.cosine })), 'cosine(persona vector, refusal direction)', { x: 'layer', y: 'cosine' }),
          scatter([{ name: 'personas', x: g.meanCosine, y: g.steeringEffect, text: names }], `steering effect vs geometry (r = ${fix(g.steering.r, 2)})`, { x: 'mean cosine with the refusal direction', y: 'drop in refusal rate (steered)' }),
          scatter([{ name: 'personas', x: g.meanCosine, y: g.statedEffect, text: names }], `stated effect vs geometry (r = ${fix(g.stated.r, 2)})`, { x: 'mean cosine with the refusal direction', y: 'drop in refusal rate (stated)' }),
        ],
        table: [['persona', ...s.personas[0]!.cosine.map((_, l) => `cos L${l}`), 'steering effect', 'stated effect'], ...s.personas.map((p, i) => [p.persona, ...p.cosine.map((c) => fix(c)), fix(g.steeringEffect[i]!), fix(g.statedEffect[i]!)])],
      },
      {
        heading: 'Early decoding of refused answers',
        text: `${L.refused.length} refused requests with no persona. At the last prompt token, the withheld answer's first token has median rank ${L.medianRank.map((r) => fix(r, 1)).join(' / ')} by layer (control: the same tokens on other requests' prompts, ${L.controlMedianRank.map((r) => fix(r, 1)).join(' / ')}); in the top 10 at layer ${L.layers[mid]} for ${pct(L.top10[mid]!)} of them.`,
        figures: [
          {
            ...lines([{ name: 'withheld token, own prompt', x: L.layers, y: L.medianRank }, { name: 'control: other prompts', x: L.layers, y: L.controlMedianRank, dash: true }], 'median rank of the withheld first token', { x: 'layer', y: 'rank' }),
            layout: { title: { text: 'median rank of the withheld first token (1 = top)' }, xaxis: { title: { text: 'layer' } }, yaxis: { title: { text: 'rank' }, type: 'log', autorange: 'reversed' } },
          },
        ],
        table: [['request', 'withheld token', ...L.layers.map((l) => `rank L${l}`), ...L.layers.map((l) => `top L${l}`)], ...L.perRequest.map((p) => [p.request, JSON.stringify(p.token), ...p.rank, ...p.top.map((t) => JSON.stringify(t))])],
      },
    ],
  };
}
