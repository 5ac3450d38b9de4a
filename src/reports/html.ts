// Self-contained HTML reports: plotly.js is inlined so a report opens offline, years later, from a
// run directory copied anywhere. Figures are plain plotly {data, layout} objects.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { writeFileAtomic } from '../io/atomic.js';

export interface Figure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
}

export interface Section {
  heading: string;
  text?: string;
  figures?: Figure[];
  /** Rows of cells; the first row is the header. */
  table?: (string | number)[][];
}

export interface Report {
  title: string;
  subtitle?: string;
  sections: Section[];
}

let plotlySource: string | null = null;
function plotly(): string {
  if (plotlySource === null) {
    const require = createRequire(import.meta.url);
    plotlySource = readFileSync(require.resolve('plotly.js-dist-min'), 'utf8');
  }
  return plotlySource;
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
// JSON inside <script>: stop "</script>" in data from closing the tag.
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function fmt(c: string | number): string {
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : c.toFixed(3);
  return esc(c);
}

export function renderReport(r: Report): string {
  const figures: Figure[] = [];
  const body = r.sections
    .map((s) => {
      const figs = (s.figures ?? [])
        .map((f) => {
          figures.push(f);
          return `<div class="fig" id="fig-${figures.length - 1}"></div>`;
        })
        .join('\n');
      const table = s.table
        ? `<table><thead><tr>${s.table[0]!.map((c) => `<th>${fmt(c)}</th>`).join('')}</tr></thead><tbody>${s.table
            .slice(1)
            .map((row) => `<tr>${row.map((c) => `<td>${fmt(c)}</td>`).join('')}</tr>`)
            .join('')}</tbody></table>`
        : '';
      return `<section><h2>${esc(s.heading)}</h2>${s.text ? `<p>${esc(s.text)}</p>` : ''}${figs}${table}</section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}.fig{width:100%;height:480px}</style>
<script>${plotly()}</script></head>
<body><h1>${esc(r.title)}</h1>${r.subtitle ? `<p>${esc(r.subtitle)}</p>` : ''}
${body}
<script>
const FIGURES = ${scriptJson(figures)};
FIGURES.forEach((f, i) => Plotly.newPlot('fig-' + i, f.data, Object.assign({margin: {t: 40}}, f.layout || {}), {responsive: true}));
document.body.dataset.rendered = String(FIGURES.length);
</script></body></html>
`;
}

/** Scatter plot, one trace per group (e.g. prompt kind or model variant). */
export function scatter(groups: { name: string; x: number[]; y: number[]; text?: string[] }[], title: string, labels: { x: string; y: string }): Figure {
  return {
    data: groups.map((g) => ({ type: 'scatter', mode: 'markers', name: g.name, x: g.x, y: g.y, ...(g.text ? { text: g.text } : {}) })),
    layout: { title: { text: title }, xaxis: { title: { text: labels.x } }, yaxis: { title: { text: labels.y } } },
  };
}

export function writeReport(path: string, r: Report): void {
  writeFileAtomic(path, renderReport(r));
}

/** Heatmap figure, e.g. trait score over layers x coefficients. */
export function heatmap(
  z: (number | null)[][],
  x: (string | number)[],
  y: (string | number)[],
  title: string,
  labels: { x: string; y: string; z: string },
  /** A label written in each cell (e.g. the decoded token). */
  text?: string[][],
): Figure {
  const cells = text ? { text, texttemplate: '%{text}', hovertemplate: `%{y} / %{x}: %{text} (%{z:.3f})<extra></extra>` } : {};
  return {
    data: [{ type: 'heatmap', z, x: x.map(String), y: y.map(String), colorscale: 'Viridis', colorbar: { title: { text: labels.z } }, hoverongaps: false, ...cells }],
    layout: { title: { text: title }, xaxis: { title: { text: labels.x }, type: 'category' }, yaxis: { title: { text: labels.y }, type: 'category' } },
  };
}

/** Line plot; `error` draws symmetric error bars (e.g. the spread over cross-validation folds). */
export function lines(
  series: { name: string; x: number[]; y: (number | null)[]; error?: number[]; dash?: boolean }[],
  title: string,
  labels: { x: string; y: string },
): Figure {
  return {
    data: series.map((s) => ({
      type: 'scatter',
      mode: 'lines+markers',
      name: s.name,
      x: s.x,
      y: s.y,
      ...(s.error ? { error_y: { type: 'data', array: s.error, visible: true } } : {}),
      ...(s.dash ? { line: { dash: 'dash' } } : {}),
    })),
    layout: { title: { text: title }, xaxis: { title: { text: labels.x } }, yaxis: { title: { text: labels.y } } },
  };
}

/** Grouped bar chart: one bar group per category, one bar per series. */
export function bars(series: { name: string; y: (number | null)[] }[], categories: string[], title: string, labels: { x: string; y: string }): Figure {
  return {
    data: series.map((s) => ({ type: 'bar', name: s.name, x: categories, y: s.y })),
    layout: { title: { text: title }, barmode: 'group', xaxis: { title: { text: labels.x }, type: 'category' }, yaxis: { title: { text: labels.y } } },
  };
}
