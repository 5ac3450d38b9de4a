// Layers x coefficients sweep: trait and coherence score per cell, the best layer, a heatmap.
// Best layer = the one whose best coherent cell (mean coherence >= threshold) has the highest
// trait score; ties go to the smaller coefficient needed, then the earlier layer. Coefficient-0
// cells are the unsteered baseline: they are never "best" (no layer is chosen by not steering).

import type { Judge } from '../judges/judge.js';
import type { RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { writeFileAtomic } from '../io/atomic.js';
import { heatmap, lines, writeReport } from '../reports/html.js';
import { evaluateSteering, type SteerEvalConfig } from './steerEval.js';
import type { SteerPositions } from '../model/steering.js';

export interface SweepConfig extends SteerEvalConfig {
  layers: number[];
  coeffs: number[];
  positions: SteerPositions;
  coherenceThreshold: number;
}

export interface SweepCell {
  layer: number;
  coeff: number;
  trait: number | null;
  coherence: number | null;
  n: number;
  /** Answers of this cell the judge gave no number for. */
  unscored?: number;
}

export interface SweepResult {
  cells: SweepCell[];
  best: { layer: number; coeff: number; trait: number; coherence: number } | null;
  /** Per layer: is the trait score non-decreasing in the coefficient? */
  monotone: Record<number, boolean>;
}

export function pickBest(cells: SweepCell[], coherenceThreshold: number): SweepResult['best'] {
  let best: SweepResult['best'] = null;
  for (const c of cells) {
    if (c.coeff === 0 || c.trait === null || c.coherence === null || c.coherence < coherenceThreshold) continue;
    const better =
      !best || c.trait > best.trait + 1e-9 || (Math.abs(c.trait - best.trait) <= 1e-9 && Math.abs(c.coeff) < Math.abs(best.coeff));
    if (better) best = { layer: c.layer, coeff: c.coeff, trait: c.trait, coherence: c.coherence };
  }
  return best;
}

export function monotoneByLayer(cells: SweepCell[], tolerance = 0): Record<number, boolean> {
  const out: Record<number, boolean> = {};
  for (const layer of new Set(cells.map((c) => c.layer))) {
    const row = cells.filter((c) => c.layer === layer).sort((a, b) => a.coeff - b.coeff);
    out[layer] = row.every((c, i) => i === 0 || (c.trait ?? 0) >= (row[i - 1]!.trait ?? 0) - tolerance);
  }
  return out;
}

export async function sweepSteering(
  model: SteerableModel,
  trait: { name: string; evalPrompt: string },
  judge: Judge,
  vectorFor: (layer: number) => Float32Array,
  cfg: SweepConfig,
  run: RunDir,
  onProgress: (done: number, total: number, note: string) => void = () => {},
): Promise<SweepResult> {
  const cells: SweepCell[] = [];
  const total = cfg.layers.length * cfg.coeffs.length;
  for (const layer of cfg.layers) {
    const v = vectorFor(layer);
    for (const coeff of cfg.coeffs) {
      const cell = `L${layer}:c${coeff}`;
      const r = await evaluateSteering(model, trait.name, trait.evalPrompt, judge, coeff === 0 ? [] : [{ layer, vector: v, coeff, positions: cfg.positions }], cfg, { run, cell });
      cells.push({ layer, coeff, trait: r.traitMean, coherence: r.coherenceMean, n: r.records.length, unscored: r.unscored });
      onProgress(cells.length, total, `${cell} trait ${r.traitMean?.toFixed(1)} coherence ${r.coherenceMean?.toFixed(1)}`);
    }
  }
  const result: SweepResult = { cells, best: pickBest(cells, cfg.coherenceThreshold), monotone: monotoneByLayer(cells) };
  writeSweepOutputs(run, trait.name, cfg, result);
  return result;
}

export function writeSweepOutputs(run: RunDir, traitName: string, cfg: SweepConfig, r: SweepResult): void {
  const grid = (f: (c: SweepCell) => number | null) =>
    cfg.layers.map((l) => cfg.coeffs.map((c) => f(r.cells.find((x) => x.layer === l && x.coeff === c)!)));
  const header = ['layer', 'coeff', 'trait', 'coherence', 'n'];
  const csv = [header.join(','), ...r.cells.map((c) => [c.layer, c.coeff, c.trait ?? '', c.coherence ?? '', c.n].join(','))].join('\n') + '\n';
  writeFileAtomic(run.path('sweep.csv'), csv);
  writeFileAtomic(run.path('sweep.json'), JSON.stringify(r, null, 2) + '\n');
  writeReport(run.path('sweep.html'), {
    title: `Steering sweep: ${traitName}`,
    subtitle: `positions ${JSON.stringify(cfg.positions)}; ${cfg.questions.length} questions x ${cfg.samples} samples per cell; ` +
      (r.best ? `best layer ${r.best.layer} (coeff ${r.best.coeff}: trait ${r.best.trait.toFixed(1)}, coherence ${r.best.coherence.toFixed(1)})` : 'no coherent cell'),
    sections: [
      { heading: 'Trait score', figures: [heatmap(grid((c) => c.trait), cfg.coeffs, cfg.layers, `${traitName} score`, { x: 'coefficient', y: 'layer', z: 'trait' })] },
      { heading: 'Coherence', figures: [heatmap(grid((c) => c.coherence), cfg.coeffs, cfg.layers, 'coherence', { x: 'coefficient', y: 'layer', z: 'coherence' })] },
      {
        heading: 'Trait score by coefficient',
        figures: [lines(cfg.layers.map((l) => ({ name: `layer ${l}`, x: cfg.coeffs, y: grid((c) => c.trait)[cfg.layers.indexOf(l)]! })), 'trait vs coefficient', { x: 'coefficient', y: 'trait' })],
        table: [header, ...r.cells.map((c) => [c.layer, c.coeff, c.trait ?? '', c.coherence ?? '', c.n])],
      },
    ],
  });
  run.output('sweepTable', 'sweep.csv');
  run.output('sweepReport', 'sweep.html');
}
