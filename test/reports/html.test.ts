import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heatmap, lines, writeReport } from '../../src/reports/html.js';
import { findChromium } from '../helpers/browser.js';

describe('HTML report', () => {
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  const path = join(dir, 'report.html');
  writeReport(path, {
    title: 'Sweep <evil>',
    sections: [
      { heading: 'Trait score', figures: [heatmap([[1, 2], [3, null]], [0.5, 1], [2, 3], 'score', { x: 'coef', y: 'layer', z: 'score' })] },
      { heading: 'Curve', figures: [lines([{ name: 'L2', x: [0, 1], y: [10, 80] }], 'c', { x: 'coef', y: 'score' })], table: [['layer', 'best'], [2, 80.123]] },
    ],
  });

  it('is self-contained and escapes text', () => {
    const html = readFileSync(path, 'utf8');
    expect(html).not.toMatch(/<script src=/);
    expect(html).toContain('Sweep &lt;evil&gt;');
    expect(html).toContain('<td>80.123</td>');
  });

  it('renders its plots in a real headless browser', () => {
    const chromium = findChromium();
    expect(chromium, 'chromium is required for report tests (the pretest step of npm test installs it: scripts/ensure-test-deps.ts)').toBeTruthy();
    const dom = execFileSync(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
        `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chr-'))}`, '--virtual-time-budget=10000', '--dump-dom', `file://${path}`],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(dom).toContain('data-rendered="2"');
    // plotly draws SVG: one main-svg per figure, and the heatmap becomes an image layer.
    expect((dom.match(/class="main-svg"/g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(dom).toContain('class="hm"');
    expect(existsSync(path)).toBe(true);
  });
});
