// Report page of the "Who's asking?" study: refusal rates by condition, steering grids, geometry
// vs effect, and the early-decoding finding.

import { bars, heatmap, lines, scatter, type Report } from '../reports/html.js';
import type { Rates, RefusalStudyResult } from './refusalStudy.js';

const pct = (x: number | null): string => (x === null || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(0)}%`);
const fix = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** The steering setting that disclosed the most (ties: the lower refusal rate), and its rates. */
export function bestSteering(s: RefusalStudyResult, p: RefusalStudyResult['personas'][number], which: 'all' | 'own' = 'all'): { rates: Rates | null; layer: number; coeff: number } {
  let best = { rates: null as Rates | null, layer: s.config.layers[0]!, coeff: s.config.coeffs[0]! };
  s.config.layers.forEach((layer, li) =>
    s.config.coeffs.forEach((coeff, ci) => {
      const v = p.steered[which][li]![ci]!;
      const better = (a: Rates, b: Rates) => a.disclosed > b.disclosed || (a.disclosed === b.disclosed && a.refused < b.refused);
      if (v !== null && (best.rates === null || better(v, best.rates))) best = { rates: v, layer, coeff };
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
        heading: 'Refusal and disclosure by condition',
        text: `No persona: ${pct(s.none.refused)} of borderline requests refused, ${pct(s.none.disclosed)} answered with the withheld content. Stated = the persona's statement before the request; steered = the setting that disclosed the most over layers ${s.config.layers.join(',')} x coefficients ${s.config.coeffs.join(',')}, with no statement. "own" = the requests of the persona's own domains. An answer that neither refuses nor gives the content (a steered model breaking down) counts in neither rate.`,
        figures: [
          bars(
            [
              { name: 'no persona', y: names.map(() => s.none.refused) },
              { name: 'stated (all)', y: s.personas.map((p) => p.stated.all.refused) },
              { name: 'stated (own)', y: s.personas.map((p) => p.stated.own?.refused ?? null) },
              { name: 'steered best (all)', y: s.personas.map((p) => bestSteering(s, p).rates?.refused ?? null) },
              { name: 'steered best (own)', y: s.personas.map((p) => bestSteering(s, p, 'own').rates?.refused ?? null) },
            ],
            names,
            'refusal rate on borderline requests',
            { x: 'persona', y: 'refusal rate' },
          ),
          bars(
            [
              { name: 'no persona', y: names.map(() => s.none.disclosed) },
              { name: 'stated (all)', y: s.personas.map((p) => p.stated.all.disclosed) },
              { name: 'steered best (all)', y: s.personas.map((p) => bestSteering(s, p).rates?.disclosed ?? null) },
            ],
            names,
            'withheld content disclosed',
            { x: 'persona', y: 'share of borderline requests' },
          ),
        ],
        table: [
          ['persona', 'domains', 'stated refused (all / own)', 'stated disclosed (all)', 'steered best: refused / disclosed (all)', 'at', 'steered best (own): refused / disclosed', 'at'],
          ...s.personas.map((p) => {
            const a = bestSteering(s, p);
            const o = bestSteering(s, p, 'own');
            return [
              p.persona, p.domains.join(', ') || '-', `${pct(p.stated.all.refused)} / ${pct(p.stated.own?.refused ?? null)}`, pct(p.stated.all.disclosed),
              `${pct(a.rates?.refused ?? null)} / ${pct(a.rates?.disclosed ?? null)}`, `L${a.layer} x${a.coeff}`,
              o.rates ? `${pct(o.rates.refused)} / ${pct(o.rates.disclosed)}` : '-', o.rates ? `L${o.layer} x${o.coeff}` : '-',
            ];
          }),
        ],
      },
      {
        heading: 'Steering grid',
        figures: [
          heatmap(s.personas.map((p) => p.steered.all.flat().map((r) => r.refused)), cols, names, 'refusal rate, all borderline requests', { x: 'layer x coefficient', y: 'persona', z: 'refused' }),
          heatmap(s.personas.map((p) => p.steered.all.flat().map((r) => r.disclosed)), cols, names, 'withheld content disclosed, all borderline requests', { x: 'layer x coefficient', y: 'persona', z: 'disclosed' }),
          heatmap(s.personas.map((p) => p.steered.own.flat().map((r) => r?.disclosed ?? null)), cols, names, "withheld content disclosed, the persona's own domains", { x: 'layer x coefficient', y: 'persona', z: 'disclosed' }),
        ],
      },
      {
        heading: 'Geometry: persona vectors and the refusal direction',
        text: `Refusal direction = mean last-prompt state of refused minus answered direction prompts (${s.directionLabels.refused} refused, ${s.directionLabels.answered} answered by the model). Across personas, mean cosine over the steered layers vs the disclosure the persona causes (share of requests answered with the content, minus no persona's; steered: mean over the grid): steering r = ${fix(g.steering.r)}${g.steering.ci ? ` [${fix(g.steering.ci[0], 2)}, ${fix(g.steering.ci[1], 2)}]` : ''}, stated r = ${fix(g.stated.r)}; per layer ${g.perLayer.map((x) => `L${x.layer} ${fix(x.r, 2)}`).join(', ')}.`,
        figures: [
          lines(s.personas.map((p) => ({ name: p.persona, x: p.cosine.map((_, l) => l), y: p.cosine })), 'cosine(persona vector, refusal direction)', { x: 'layer', y: 'cosine' }),
          scatter([{ name: 'personas', x: g.meanCosine, y: g.steeringEffect, text: names }], `steering effect vs geometry (r = ${fix(g.steering.r, 2)})`, { x: 'mean cosine with the refusal direction', y: 'disclosure gain (steered, mean over the grid)' }),
          scatter([{ name: 'personas', x: g.meanCosine, y: g.statedEffect, text: names }], `stated effect vs geometry (r = ${fix(g.stated.r, 2)})`, { x: 'mean cosine with the refusal direction', y: 'disclosure gain (stated)' }),
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
