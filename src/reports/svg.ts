// A small self-contained SVG line chart, for places where a script-free image is what renders:
// notebook outputs (GitHub and nbviewer show SVG but never run a notebook's scripts).

export interface SvgSeries {
  name: string;
  x: number[];
  y: (number | null)[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgLineChart(series: SvgSeries[], title: string, labels: { x: string; y: string }, size = { width: 520, height: 300 }): string {
  const { width: W, height: H } = size;
  const m = { l: 56, r: 130, t: 32, b: 44 };
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y.filter((v): v is number => v !== null));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(0, ...ys), Math.max(...ys)];
  if (y1 === y0) y1 = y0 + 1;
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const ticks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<text x="${W / 2 - m.r / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`,
    ...ticks.map((t) => `<text x="${m.l - 6}" y="${py(t) + 4}" text-anchor="end">${+t.toFixed(2)}</text><line x1="${m.l}" y1="${py(t)}" x2="${W - m.r}" y2="${py(t)}" stroke="#eee"/>`),
    ...[...new Set(xs)].map((x) => `<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${x}</text>`),
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(labels.x)}</text>`,
    `<text transform="translate(14 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(labels.y)}</text>`,
  ];
  series.forEach((s, k) => {
    const c = COLORS[k % COLORS.length];
    const pts = s.x.flatMap((x, i) => (s.y[i] === null ? [] : [[px(x), py(s.y[i]!)] as const]));
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of pts) parts.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${c}"/>`);
    parts.push(`<text x="${W - m.r + 10}" y="${m.t + 14 * k + 8}" fill="${c}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}
