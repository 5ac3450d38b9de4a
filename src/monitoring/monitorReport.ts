// The monitoring report: drift curves (per trait vector: last-prompt and response-mean projection
// over assistant turns, one line per conversation) and a token-level view of each answer coloured
// by its tokens' projections.

import { lines, type Figure, type Report, type Section } from '../reports/html.js';
import type { TurnProjection } from './conversationMonitor.js';

export interface MonitoredConversation {
  name: string;
  turns: TurnProjection[];
}

/** Tokens per row of the token view: wide enough cells to read each token. */
const ROW = 12;

/**
 * Answers as rows of tokens (each answer wrapped every ROW tokens), each cell coloured by that
 * token's projection: red above zero, blue below, grey near zero.
 */
export function tokenHeatmap(turns: TurnProjection[], vector: string, title: string): Figure {
  const z: (number | null)[][] = [];
  const text: string[][] = [];
  const y: string[] = [];
  for (const t of turns) {
    const values = t.perToken[vector]!;
    for (let i = 0; i < Math.max(1, t.tokens.length); i += ROW) {
      const pad = ROW - Math.min(ROW, t.tokens.length - i);
      z.push([...values.slice(i, i + ROW), ...Array<null>(pad).fill(null)]);
      text.push([...t.tokens.slice(i, i + ROW).map((s) => s.replace(/\s/g, '·')), ...Array<string>(pad).fill('')]);
      y.push(`turn ${t.turn} · ${i / ROW + 1}`);
    }
  }
  return {
    data: [
      {
        type: 'heatmap',
        z,
        text,
        y,
        texttemplate: '%{text}',
        textfont: { size: 12 },
        hovertemplate: '%{y}, token %{x}: %{text}<br>projection %{z:.3f}<extra></extra>',
        colorscale: 'RdBu',
        zmid: 0,
        colorbar: { title: { text: 'projection' } },
        hoverongaps: false,
        xgap: 2,
        ygap: 2,
      },
    ],
    layout: {
      title: { text: title },
      xaxis: { showticklabels: false },
      yaxis: { autorange: 'reversed', type: 'category' },
      height: 140 + 36 * y.length,
    },
  };
}

/** Turns are whole numbers: one tick per turn. */
function integerX(f: Figure): Figure {
  const layout = f.layout as { xaxis?: Record<string, unknown> };
  layout.xaxis = { ...layout.xaxis, dtick: 1 };
  return f;
}

export function monitorReport(conversations: MonitoredConversation[], vectors: string[], subtitle: string): Report {
  const sections: Section[] = vectors.map((v) => ({
    heading: `Drift along ${v}`,
    text: 'Last prompt token (before the answer: the predictor) and mean over the answer, per assistant turn.',
    figures: [
      integerX(lines(
        conversations.flatMap((c) => [
          { name: `${c.name} last prompt`, x: c.turns.map((t) => t.turn), y: c.turns.map((t) => t.lastPrompt[v]!) },
          { name: `${c.name} answer mean`, x: c.turns.map((t) => t.turn), y: c.turns.map((t) => t.responseMean[v]!) },
        ]),
        `projection on ${v}`,
        { x: 'assistant turn', y: 'a·v/|v|' },
      )),
    ],
    table: [['conversation', 'turn', 'last prompt', 'answer mean'], ...conversations.flatMap((c) => c.turns.map((t) => [c.name, t.turn, t.lastPrompt[v]!, t.responseMean[v]!]))],
  }));
  for (const c of conversations) {
    sections.push({ heading: `Tokens of ${c.name}`, figures: vectors.map((v) => tokenHeatmap(c.turns, v, `${c.name}: tokens coloured by projection on ${v}`)) });
  }
  return { title: 'Persona monitoring', subtitle, sections };
}
