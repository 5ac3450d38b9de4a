// Report page of the finetuning study: scatter plots of screening dP, finetuning shift and trait
// expression across finetuned variants (one point per variant, per trait), correlations, and the
// effect of steering against the vector.

import { scatter, type Report } from '../reports/html.js';
import type { Correlation } from './stats.js';
import type { FinetuneStudyResult, VariantMeasure } from './finetuneStudy.js';

const fmt = (c: Correlation) => `${c.r.toFixed(3)}${c.ci ? ` [${c.ci[0].toFixed(2)}, ${c.ci[1].toFixed(2)}]` : ''} (n ${c.n})`;

export function finetuneStudyReport(r: FinetuneStudyResult, subtitle: string): Report {
  const traits = [...new Set(r.measures.map((m) => m.trait))];
  const pts = (x: keyof VariantMeasure, y: keyof VariantMeasure) =>
    traits.map((t) => {
      const ms = r.measures.filter((m) => m.trait === t);
      return { name: t, x: ms.map((m) => m[x] as number), y: ms.map((m) => m[y] as number), text: ms.map((m) => m.variant) };
    });
  return {
    title: 'Finetuning shift: screening, shift and trait expression across finetuned variants',
    subtitle,
    sections: [
      {
        heading: 'Correlations across variants (Pearson r, 95% Fisher-z CI; paper: 0.76-0.97)',
        table: [['trait', 'dP vs expression', 'shift vs expression', 'dP vs shift'], ...Object.entries(r.correlations).map(([t, c]) => [t, fmt(c.dPvsExpression), fmt(c.shiftVsExpression), fmt(c.dPvsShift)])],
      },
      {
        heading: 'Scatter plots',
        figures: [
          scatter(pts('dP', 'expression'), 'training-data screening dP vs trait expression after finetuning', { x: 'mean dP of the training data (base model)', y: 'trait score (neutral prompt)' }),
          scatter(pts('shift', 'expression'), 'finetuning shift vs trait expression', { x: 'shift along the vector (last prompt token)', y: 'trait score (neutral prompt)' }),
          scatter(pts('dP', 'shift'), 'screening dP vs finetuning shift', { x: 'mean dP of the training data', y: 'shift along the vector' }),
        ],
      },
      {
        heading: 'Per variant',
        text: 'expression: judged trait score of the finetuned model on the evaluation questions under the neutral system prompt; steered: the same while subtracting the vector (steering against it).',
        table: [
          ['variant', 'trait', 'dP', 'shift', 'expression', 'steered against', 'coherence', 'coherence steered'],
          ...r.measures.map((m) => [m.variant, m.trait, m.dP, m.shift, m.expression, m.steered, m.coherence, m.steeredCoherence]),
        ],
      },
    ],
  };
}
