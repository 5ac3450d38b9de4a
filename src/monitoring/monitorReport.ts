// The monitoring report: drift curves (per trait vector: last-prompt and response-mean projection
// over assistant turns, one line per conversation) and a token-level view of each answer coloured
// by its tokens' projections.

import { lines, type Figure, type Report, type Section } from '../reports/html.js';
import type { TurnProjection } from './conversationMonitor.js';

export interface MonitoredConversation {
  name: string;
  turns: TurnProjection[];
}

/** Answers as rows of tokens, each cell coloured by that token's projection. */
export function tokenHeatmap(turns: TurnProjection[], vector: string, title: string): Figure {
  const width = Math.max(...turns.map((t) => t.tokens.length));
  const pad = <T>(row: T[], fill: T) => [...row, ...Array<T>(width - row.length).fill(fill)];
  return {
    data: [
      {
        type: 'heatmap',
        z: turns.map((t) => pad<number | null>(t.perToken[vector]!, null)),
        text: turns.map((t) => pad(t.tokens.map((s) => s.replace(/\s/g, '·')), '')),
        texttemplate: '%{text}',
        hovertemplate: 'turn %{y}, token %{x}: %{text}<br>projection %{z:.3f}<extra></extra>',
        y: turns.map((t) => t.turn),
        colorscale: 'RdBu',
        reversescale: true,
        colorbar: { title: { text: 'projection' } },
        hoverongaps: false,
        xgap: 1,
        ygap: 2,
      },
    ],
    layout: { title: { text: title }, xaxis: { title: { text: 'token' } }, yaxis: { title: { text: 'assistant turn' }, autorange: 'reversed', type: 'category' }, height: 120 + 60 * turns.length },
  };
}

export function monitorReport(conversations: MonitoredConversation[], vectors: string[], subtitle: string): Report {
  const sections: Section[] = vectors.map((v) => ({
    heading: `Drift along ${v}`,
    text: 'Last prompt token (before the answer: the predictor) and mean over the answer, per assistant turn.',
    figures: [
      lines(
        conversations.flatMap((c) => [
          { name: `${c.name} last prompt`, x: c.turns.map((t) => t.turn), y: c.turns.map((t) => t.lastPrompt[v]!) },
          { name: `${c.name} answer mean`, x: c.turns.map((t) => t.turn), y: c.turns.map((t) => t.responseMean[v]!) },
        ]),
        `projection on ${v}`,
        { x: 'assistant turn', y: 'a·v/|v|' },
      ),
    ],
    table: [['conversation', 'turn', 'last prompt', 'answer mean'], ...conversations.flatMap((c) => c.turns.map((t) => [c.name, t.turn, t.lastPrompt[v]!, t.responseMean[v]!]))],
  }));
  for (const c of conversations) {
    sections.push({ heading: `Tokens of ${c.name}`, figures: vectors.map((v) => tokenHeatmap(c.turns, v, `${c.name}: tokens coloured by projection on ${v}`)) });
  }
  return { title: 'Persona monitoring', subtitle, sections };
}
