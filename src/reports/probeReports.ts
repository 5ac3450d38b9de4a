// Report pages for the probe experiments: accuracy by layer (with the spread over folds), confusion
// matrices, intervention success rates, the model's picture of the user turn by turn, and the
// stereotype study before / after intervening.

import type { AttributeProbes } from '../experiments/probes/probeTraining.js';
import type { SteerCell } from '../experiments/probes/probeSteering.js';
import type { TurnReading } from '../experiments/probes/probeReading.js';
import type { StereotypeSummary } from '../experiments/probes/stereotypeStudy.js';
import { bars, heatmap, lines, type Report, type Section } from './html.js';

const pct = (x: number | null) => (x === null ? null : Math.round(1000 * x) / 10);

export function probeTrainingReport(results: AttributeProbes[], subtitle: string): Report {
  const sections: Section[] = results.map((r) => {
    const layers = r.layers.reading.map((l) => l.layer);
    const series = [
      { name: 'reading probe', x: layers, y: r.layers.reading.map((l) => pct(l.mean)), error: r.layers.reading.map((l) => pct(l.std)!) },
      ...(r.layers.control.length
        ? [{ name: 'control probe (no suffix)', x: layers, y: r.layers.control.map((l) => pct(l.mean)), error: r.layers.control.map((l) => pct(l.std)!) }]
        : []),
      { name: 'chance', x: layers, y: layers.map(() => pct(r.chance)), dash: true },
    ];
    const best = r.layers.reading.find((l) => l.layer === r.best.layer)!;
    const confusion = best.confusion.map((row) => {
      const n = row.reduce((a, b) => a + b, 0);
      return row.map((v) => (n ? pct(v / n) : null));
    });
    return {
      heading: `${r.attribute}: ${r.classes.join(' / ')}`,
      text: `${r.rows} conversations (${Object.entries(r.counts).map(([c, n]) => `${c} ${n}`).join(', ')}). Best layer ${r.best.layer}: ${pct(r.best.mean)}% +- ${pct(r.best.std)} (chance ${pct(r.chance)}%). Error bars: standard deviation over folds.`,
      figures: [
        lines(series, `${r.attribute}: cross-validated accuracy by layer`, { x: 'layer (hidden_states index)', y: 'accuracy %' }),
        heatmap(confusion, r.classes, r.classes, `${r.attribute}: confusion at layer ${r.best.layer} (% of each true class)`, { x: 'predicted', y: 'true', z: '%' }),
      ],
      table: [
        ['layer', 'reading %', 'sd', ...(r.layers.control.length ? ['control %', 'sd'] : [])],
        ...r.layers.reading.map((l, i) => [l.layer, pct(l.mean)!, pct(l.std)!, ...(r.layers.control[i] ? [pct(r.layers.control[i]!.mean)!, pct(r.layers.control[i]!.std)!] : [])]),
      ],
    };
  });
  return { title: 'Probe training: where the model represents the user', subtitle, sections };
}

export function probeSteeringReport(cells: SteerCell[], subtitle: string): Report {
  const sections: Section[] = [];
  for (const kind of ['direct', 'tailoring'] as const) {
    const mine = cells.filter((c) => c.kind === kind);
    if (!mine.length) continue;
    const cats = [...new Set(mine.map((c) => `${c.attribute}: ${c.target}`))];
    const rate = (cond: string) => cats.map((cat) => pct(mine.find((c) => `${c.attribute}: ${c.target}` === cat && c.condition === cond)?.successRate ?? null));
    sections.push({
      heading: kind === 'direct' ? 'Direct questions: the answer names the target class' : 'Tailoring: the answer is targeted to the target class',
      figures: [bars(['probe', 'random', 'none'].map((cond) => ({ name: cond === 'probe' ? 'toward target' : cond === 'random' ? 'random control' : 'no intervention', y: rate(cond) })), cats, `${kind}: success rate by attribute and target`, { x: 'attribute: target', y: '% of answers' })],
      text: kind === 'direct' ? 'Selectivity: success toward the target minus how often the answer names the target when pushing toward the other classes of the attribute (a push that always lands on one default class has none).' : undefined,
      table: [
        ['attribute', 'target', 'toward target %', 'random control %', 'no intervention %', ...(kind === 'direct' ? ['selectivity'] : []), 'n'],
        ...cats.map((cat, i) => {
          const probe = mine.find((c) => `${c.attribute}: ${c.target}` === cat && c.condition === 'probe');
          const sel = probe?.selectivity;
          return [...cat.split(': '), rate('probe')[i] ?? '-', rate('random')[i] ?? '-', rate('none')[i] ?? '-', ...(kind === 'direct' ? [sel === null || sel === undefined ? '-' : pct(sel)!] : []), probe?.n ?? 0];
        }),
      ],
    });
  }
  return { title: 'Probe interventions: changing the model\'s picture of the user', subtitle, sections };
}

export function probeReadingReport(readings: TurnReading[], subtitle: string): Report {
  const attributes = [...new Set(readings.map((r) => r.attribute))];
  return {
    title: 'The model\'s picture of the user, turn by turn',
    subtitle,
    sections: attributes.map((a) => {
      const mine = readings.filter((r) => r.attribute === a);
      const classes = Object.keys(mine[0]!.probabilities);
      return {
        heading: `${a} (probe layer ${mine[0]!.layer})`,
        figures: [lines(classes.map((c) => ({ name: c, x: mine.map((r) => r.turn + 1), y: mine.map((r) => pct(r.probabilities[c]!)) })), `${a}: class probability after each user turn`, { x: 'user turn', y: 'probability %' })],
        table: [['turn', 'predicted', ...classes], ...mine.map((r) => [r.turn + 1, r.predicted, ...classes.map((c) => pct(r.probabilities[c]!)!)])],
      };
    }),
  };
}

export function stereotypeReport(summary: StereotypeSummary[], subtitle: string): Report {
  const attrs = [...new Set(summary.map((s) => s.attribute))];
  const share = (s: StereotypeSummary | undefined, what: 'probe' | 'answer', f: 'stated' | 'stereotype') => (s && s.n ? pct(s[what][f] / s.n) : null);
  const get = (a: string, phase: string) => summary.find((s) => s.attribute === a && s.phase === phase);
  return {
    title: 'Stated identity or stereotype? (Reading Between the Prompts)',
    subtitle,
    sections: (['probe', 'answer'] as const).map((what) => ({
      heading: what === 'probe' ? 'What the probe reads' : 'What the model answers when asked directly',
      figures: [
        bars(
          [
            { name: 'follows stereotype, before', y: attrs.map((a) => share(get(a, 'before'), what, 'stereotype')) },
            { name: 'follows stereotype, after intervening', y: attrs.map((a) => share(get(a, 'after'), what, 'stereotype')) },
            { name: 'follows stated identity, before', y: attrs.map((a) => share(get(a, 'before'), what, 'stated')) },
            { name: 'follows stated identity, after intervening', y: attrs.map((a) => share(get(a, 'after'), what, 'stated')) },
          ],
          attrs,
          `${what}: share of contradicting conversations`,
          { x: 'attribute', y: '%' },
        ),
      ],
      table: [
        ['attribute', 'n', 'stereotype before %', 'stereotype after %', 'stated before %', 'stated after %'],
        ...attrs.map((a) => [a, get(a, 'before')?.n ?? 0, share(get(a, 'before'), what, 'stereotype') ?? '-', share(get(a, 'after'), what, 'stereotype') ?? '-', share(get(a, 'before'), what, 'stated') ?? '-', share(get(a, 'after'), what, 'stated') ?? '-']),
      ],
    })),
  };
}
