// Probe interventions and readings on a fixture model, checked against the independent reference
// forward: pushes land at the last position of every pass, erasure removes the class span.

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLastTokens } from '../../src/activations/reading.js';
import { loadProbe, saveProbe } from '../../src/directions/probes/probeFile.js';
import { probeInterventionPlan } from '../../src/interventions/probeIntervention.js';
import { fixtureModel, relErr } from '../runtime/helpers.js';
import { syntheticProbe } from './helpers.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';

const IDS = [[1, 40, 57, 99, 120, 7, 260, 13], [1, 5, 6, 7, 8]];

describe('probe interventions against the reference forward', () => {
  let model: SteerableModel;
  afterAll(() => model?.dispose());

  it('toward pushes N * w_target(k) at the last token of each sequence, at the block outputs chosen', async () => {
    const f = await fixtureModel('llama', { ablation: true });
    model = f.model;
    const probe = syntheticProbe(model, ['child', 'adult', 'older adult']);
    const plan = probeInterventionPlan(model, { probe, mode: 'toward', target: 'adult', layers: [1, 2], strength: 0.7 });
    expect(plan.steering.map((s) => [s.layer, s.coeff, s.positions])).toEqual([[1, 0.7, 'response'], [2, 0.7, 'response']]);
    const got = await readLastTokens(model, IDS, { steering: plan.steering });
    const H = model.hiddenSize;
    for (const [b, ids] of IDS.entries()) {
      const last = ids.length - 1;
      const w = (k: number) => probe.weight[k]!.slice(1 * H, 2 * H).map((x) => 0.7 * x);
      const ref = f.fx.reference([ids], { steer: [1, 2].map((k) => ({ layer: k, vector: w(k), positions: [last] })) });
      for (const l of model.hiddenLayers) expect(relErr(got[b]![l]!, ref.hidden[l]!.slice(last * H, (last + 1) * H)), `row ${b} layer ${l}`).toBeLessThan(1e-4);
    }
    // Away is the same push with the opposite sign.
    const away = probeInterventionPlan(model, { probe, mode: 'away', target: 'adult', layers: [1], strength: 0.7 });
    expect(away.steering[0]!.coeff).toBe(-0.7);
    expect([...away.steering[0]!.vector]).toEqual([...plan.steering[0]!.vector]);
  });

  it('erase projects the span of every class row out at each layer, as the reference does', async () => {
    const f = await fixtureModel('llama', { ablation: true });
    const probe = syntheticProbe(f.model, ['a', 'b', 'c']);
    const plan = probeInterventionPlan(f.model, { probe, mode: 'erase', layers: [2] });
    expect(plan.steering).toEqual([]);
    const got = await readLastTokens(f.model, [IDS[0]!], { ablation: plan.ablation });
    const H = f.model.hiddenSize;
    const span = [0, 1, 2].map((c) => probe.weight[2]!.slice(c * H, (c + 1) * H));
    const ref = f.fx.reference([IDS[0]!], { erase: [{ layer: 2, directions: span }] });
    const last = IDS[0]!.length - 1;
    for (const l of f.model.hiddenLayers) expect(relErr(got[0]![l]!, ref.hidden[l]!.slice(last * H, (last + 1) * H))).toBeLessThan(1e-4);
    for (const w of span) expect(Math.abs(got[0]![2]!.reduce((a, x, i) => a + x * w[i]!, 0))).toBeLessThan(1e-3);
    await f.model.dispose();
  });

  it('centroid, unit-norm and random-control directions; bad specs fail before any work', () => {
    const probe = syntheticProbe(model, ['neutral', 'child', 'adult']);
    const H = model.hiddenSize;
    const plan = (extra: object) => probeInterventionPlan(model, { probe, mode: 'toward', target: 'child', layers: [2], strength: 2, ...extra }).steering[0]!.vector;
    // Centroid: class mean minus the neutral class's mean.
    const c = probe.centroid![2]!;
    expect([...plan({ direction: 'centroid' })]).toEqual([...c.slice(H, 2 * H).map((x, h) => x - c[h]!)]);
    expect(Math.hypot(...plan({ normalize: true }))).toBeCloseTo(1, 5);
    const w = plan({});
    const r1 = plan({ randomControl: { seed: 3 } });
    const r2 = plan({ randomControl: { seed: 3 } });
    expect([...r1]).toEqual([...r2]);
    expect(Math.hypot(...r1)).toBeCloseTo(Math.hypot(...w), 3);
    const cos = r1.reduce((a, x, i) => a + x * w[i]!, 0) / (Math.hypot(...r1) * Math.hypot(...w));
    expect(Math.abs(cos)).toBeLessThan(0.5);
    expect(() => probeInterventionPlan(model, { probe, mode: 'toward', target: 'teen', layers: [2] })).toThrow("no class 'teen' for age (classes: neutral, child, adult)");
    expect(() => probeInterventionPlan(model, { probe, mode: 'toward', target: 'child', layers: [9] })).toThrow('layer 9 out of range');
    expect(() => probeInterventionPlan({ hiddenSize: H + 1, numLayers: model.numLayers }, { probe, mode: 'erase', layers: [1] })).toThrow(`made for hidden size ${H}`);
    expect(() => probeInterventionPlan(model, { probe, mode: 'toward', layers: [1] })).toThrow("'toward' needs a target class");
  });

  it('probe files round-trip and name the tensor or field at fault', () => {
    const dir = mkdtempSync(join(tmpdir(), 'probe-'));
    const probe = syntheticProbe(model, ['x', 'y']);
    const path = join(dir, 'age.safetensors');
    saveProbe(path, probe);
    const back = loadProbe(path);
    expect(back.meta.classes).toEqual(['x', 'y']);
    expect([...back.weight[2]!]).toEqual([...probe.weight[2]!]);
    expect([...back.centroid![1]!]).toEqual([...probe.centroid![1]!]);
    // A sidecar that disagrees with the tensors (three classes listed, two stored).
    saveProbe(join(dir, 'bad.safetensors'), probe);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...probe.meta, classes: ['x', 'y', 'z'] }));
    expect(() => loadProbe(join(dir, 'bad.safetensors'))).toThrow(/tensor 'weight' has shape \[\d+,2,\d+\], expected \[layers, 3, \d+\]/);
    expect(() => loadProbe(join(dir, 'none.safetensors'))).toThrow('probe file not found');
  });
});
