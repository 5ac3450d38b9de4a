import { describe, expect, it } from 'vitest';
import { monotoneByLayer, pickBest, type SweepCell } from '../../src/interventions/sweep.js';

const cell = (layer: number, coeff: number, trait: number | null, coherence: number | null): SweepCell => ({ layer, coeff, trait, coherence, n: 4 });

describe('sweep summary', () => {
  const cells = [
    cell(2, 0, 5, 90), cell(2, 4, 60, 85), cell(2, 8, 95, 30),
    cell(3, 0, 5, 90), cell(3, 4, 80, 70), cell(3, 8, 75, 60),
    cell(4, 0, 5, 90), cell(4, 4, 80, 88), cell(4, 8, 80, 80),
  ];
  it('picks the highest trait score among coherent cells, smallest coefficient on ties', () => {
    expect(pickBest(cells, 50)).toEqual({ layer: 3, coeff: 4, trait: 80, coherence: 70 });
    // Raising the bar excludes layer 3's cell; layer 4 at coeff 4 then wins.
    expect(pickBest(cells, 80)).toEqual({ layer: 4, coeff: 4, trait: 80, coherence: 88 });
    expect(pickBest(cells, 95)).toBeNull();
  });
  it('never picks an unsteered (coefficient 0) cell, even when it scores highest', () => {
    // A vector that lowers the trait: the baseline cells score highest but are not steering results.
    const down = [cell(2, 0, 60, 90), cell(2, 4, 30, 90), cell(3, 0, 60, 90), cell(3, 4, 40, 80)];
    expect(pickBest(down, 50)).toEqual({ layer: 3, coeff: 4, trait: 40, coherence: 80 });
    expect(pickBest([cell(2, 0, 60, 90), cell(2, 4, 30, 10)], 50)).toBeNull();
  });
  it('reports per-layer monotonicity in the coefficient', () => {
    expect(monotoneByLayer(cells)).toEqual({ 2: true, 3: false, 4: true });
  });
});
