// The monitoring, screening-study and finetuning-study report pages render in a real headless
// browser: drift curves, the token view (a heatmap whose cells carry the answer's tokens) and the
// scatter plots, on small inputs shaped like the real ones.

import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finetuneStudyReport } from '../../src/experiments/finetuneReport.js';
import { monitoringStudyReport } from '../../src/experiments/monitoringReport.js';
import { correlation } from '../../src/experiments/stats.js';
import { monitorReport } from '../../src/monitoring/monitorReport.js';
import { writeReport } from '../../src/reports/html.js';
import { findChromium } from '../helpers/browser.js';

describe('monitoring reports', () => {
  it('render drift curves, coloured tokens and scatter plots', () => {
    const turn = (t: number, tokens: string[]) => ({
      message: 2 * t + 2, turn: t, tokens,
      lastPrompt: { evil: 10 - t }, responseMean: { evil: 3 - t },
      perToken: { evil: tokens.map((_, i) => i - t) },
    });
    const mon = monitorReport([{ name: 'line 1', turns: [turn(0, ['Zork', ' wicked', ' plan']), turn(1, ['Sure', '.'])] }], ['evil'], 'test');
    const samples = [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, trait: 'evil', group: i < 2 ? 'neg' : 'pos', question: 'q', answer: 'a', proj: i, score: 20 * i }));
    const study = monitoringStudyReport([{ trait: 'evil', layer: 3, samples, groups: [{ group: 'neg', n: 2, proj: 0.5, score: 10 }, { group: 'pos', n: 3, proj: 3, score: 60 }], correlation: correlation(samples.map((s) => s.proj), samples.map((s) => s.score)), withinPositive: correlation([2, 3, 4], [40, 60, 80]) }], 'test');
    const measures = ['a', 'b', 'c', 'd'].map((v, i) => ({ variant: v, trait: 'evil', dP: i, shift: 2 * i, expression: 10 * i, steered: 0, coherence: 90, steeredCoherence: 80 }));
    const ft = finetuneStudyReport({ measures, correlations: { evil: { dPvsExpression: correlation([0, 1, 2, 3], [0, 10, 20, 30]), shiftVsExpression: correlation([0, 2, 4, 6], [0, 10, 20, 30]), dPvsShift: correlation([0, 1, 2, 3], [0, 2, 4, 6]) } } }, 'test');
    const path = join(mkdtempSync(join(tmpdir(), 'monreport-')), 'all.html');
    writeReport(path, { title: 'all', sections: [...mon.sections, ...study.sections, ...ft.sections] });
    const figures = [...mon.sections, ...study.sections, ...ft.sections].reduce((n, s) => n + (s.figures?.length ?? 0), 0);
    const chromium = findChromium();
    expect(chromium, 'chromium is required for report tests').toBeTruthy();
    const dom = execFileSync(
      chromium!,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
        `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chr-'))}`, '--virtual-time-budget=10000', '--dump-dom', `file://${path}`],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    expect(dom).toContain(`data-rendered="${figures}"`);
    expect((dom.match(/class="main-svg"/g) ?? []).length).toBeGreaterThanOrEqual(figures);
    // The token view writes each token into its cell.
    expect(dom).toContain('Zork');
    expect(dom).toContain('·wicked');
  });
});
