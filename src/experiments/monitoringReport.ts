// Report page of the monitoring study: per trait, last-prompt projection vs judged score of the
// coming answer (one point per answer, coloured by prompt group), and the correlation table.

import { scatter, type Report } from '../reports/html.js';
import type { MonitoringStudyResult } from './monitoringStudy.js';

const fmtCi = (ci: [number, number] | null) => (ci ? `[${ci[0].toFixed(2)}, ${ci[1].toFixed(2)}]` : 'n/a');

export function monitoringStudyReport(results: MonitoringStudyResult[], subtitle: string): Report {
  return {
    title: 'Monitoring: the last prompt token predicts the answer\'s trait',
    subtitle,
    sections: [
      {
        heading: 'Pearson r per trait (95% CI, Fisher z)',
        text: 'Prompts: the trait\'s evaluation questions under 5 negative, the neutral, 5 positive and the held-out paraphrased system prompts, plus multi-turn chats whose earlier answers drift in trait intensity. Paper: r = 0.75-0.83.',
        table: [
          ['trait', 'layer', 'n', 'r', '95% CI', 'n (positive prompts)', 'r within positive prompts', '95% CI'],
          ...results.map((r) => [r.trait, r.layer, r.correlation.n, r.correlation.r, fmtCi(r.correlation.ci), r.withinPositive.n, r.withinPositive.r, fmtCi(r.withinPositive.ci)]),
        ],
      },
      ...results.map((r) => ({
        heading: `${r.trait} (layer ${r.layer}): r = ${r.correlation.r.toFixed(3)} ${fmtCi(r.correlation.ci)}`,
        figures: [
          scatter(
            r.groups.map((g) => {
              const s = r.samples.filter((x) => x.group === g.group && x.score !== null);
              return { name: g.group, x: s.map((x) => x.proj), y: s.map((x) => x.score!), text: s.map((x) => x.answer.slice(0, 100)) };
            }),
            `${r.trait}: last-prompt projection vs trait score of the answer`,
            { x: 'last-prompt-token projection a·v/|v|', y: `${r.trait} score (lexicon judge)` },
          ),
        ],
        table: [['group', 'n', 'mean projection', 'mean score'], ...r.groups.map((g) => [g.group, g.n, g.proj, g.score])],
      })),
    ],
  };
}
