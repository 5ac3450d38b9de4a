// The logit-lens report: a layer x position heatmap of the top decoded token (cell label) and its
// probability (colour), and the rank of chosen target tokens by layer.

import type { LensReading } from '../activations/lens.js';
import { heatmap, lines, type Report, type Section } from './html.js';

/** Position labels unique per column (a category axis would merge repeated tokens). */
const positionLabels = (r: LensReading): string[] => r.tokens.map((t, i) => `${i}:${JSON.stringify(t).slice(1, -1)}`);

/**
 * Rank of each target by layer at one position: for a prompt, the last one (where the answer
 * starts); for a generation, the step where the final layer ranks it best.
 */
export function targetRanksByLayer(r: LensReading): { token: string; position: number; rank: number[] }[] {
  const L = r.layers.length - 1;
  return r.targets.map((t) => {
    let position = r.tokens.length - 1;
    if (r.generated) position = t.rank[L]!.indexOf(Math.min(...t.rank[L]!));
    return { token: t.token, position, rank: t.rank.map((row) => row[position]!) };
  });
}

export function lensSections(r: LensReading, title: string): Section[] {
  const x = positionLabels(r);
  const z = r.top.map((row) => row.map((cell) => cell[0]!.prob));
  const text = r.top.map((row) => row.map((cell) => cell[0]!.token));
  const sections: Section[] = [
    {
      heading: title,
      text: r.generated
        ? `Generated: ${r.generated.text}. Column t is the state fed at step t (t = 0: the last prompt token), which predicts generated token t.`
        : 'Column p is the state at input position p, which predicts token p + 1.',
      figures: [heatmap(z, x, r.layers, 'top decoded token and its probability', { x: 'position', y: 'layer (hidden_states index)', z: 'probability' }, text)],
    },
  ];
  const ranks = targetRanksByLayer(r);
  if (ranks.length) {
    sections.push({
      heading: 'Target tokens by layer',
      text: r.generated ? 'At the step where the final layer ranks each target best.' : 'At the last position (where the answer starts).',
      figures: [
        {
          ...lines(ranks.map((t) => ({ name: `${JSON.stringify(t.token)} @${t.position}`, x: r.layers, y: t.rank })), 'rank of target tokens (1 = top)', { x: 'layer', y: 'rank' }),
          layout: { title: { text: 'rank of target tokens (1 = top)' }, xaxis: { title: { text: 'layer' } }, yaxis: { title: { text: 'rank' }, type: 'log', autorange: 'reversed' } },
        },
      ],
      table: [['target', 'position', ...r.layers.map((l) => `L${l}`)], ...ranks.map((t) => [JSON.stringify(t.token), t.position, ...t.rank])],
    });
  }
  return sections;
}

export function lensReport(r: LensReading, model: string, title = 'Early decoding'): Report {
  return { title: 'Logit lens', subtitle: `${model}: every layer decoded through the model's own final norm and LM head`, sections: lensSections(r, title) };
}
