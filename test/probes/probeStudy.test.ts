// The probe workflow end to end on the embedded model: reading, training with CV, chance controls,
// resume, per-turn reading, interventions that change the model's direct answer, and the
// stereotype study. Thresholds sit below what was measured (numbers in the closing note).

import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActivationStore } from '../../src/activations/store.js';
import { loadProbe } from '../../src/directions/probes/probeFile.js';
import { trainLayerProbes } from '../../src/directions/probes/trainProbes.js';
import { readConversationTurns } from '../../src/experiments/probes/probeReading.js';
import { runProbeSteering } from '../../src/experiments/probes/probeSteering.js';
import { DEFAULT_PROBE_TRAINING, runProbeTraining, type AttributeProbes } from '../../src/experiments/probes/probeTraining.js';
import { runStereotypeStudy, stereotypeCases } from '../../src/experiments/probes/stereotypeStudy.js';
import { createRng } from '../../src/generation/sampling.js';
import { RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { withStderr } from '../helpers/stderr.js';
import { demographicAnswerClass, directQuestionConversation, generateDirectQuestionDataset, generateProbeDataset, isAttribute } from '../../src/world/index.js';

const classify = (a: string, answer: string) => (isAttribute(a) ? demographicAnswerClass(a, answer) : null);

describe('probes on persona-tiny', () => {
  let model: SteerableModel;
  const root = mkdtempSync(join(tmpdir(), 'probes-'));
  let trained: AttributeProbes[];
  const implicit = generateProbeDataset({ attributes: ['age', 'ses'], perClass: 20, conditions: ['implicit'], turns: [1, 3], seed: 11 });

  beforeAll(async () => {
    model = await loadModel('models/persona-tiny', { ablation: true });
    const run = RunDir.open(join(root, 'train'), 'probe train', {});
    trained = await runProbeTraining(model, implicit, run, { ...DEFAULT_PROBE_TRAINING, batchSize: 16 });
  }, 240_000);
  afterAll(() => model?.dispose());

  it('reads implicit cues spread over a conversation well above chance, but not from the embeddings', async () => {
    for (const r of trained) {
      const acc = r.layers.reading.map((l) => l.mean);
      console.log(`${r.attribute} implicit-cue CV accuracy by layer: ${acc.map((a) => a.toFixed(3)).join(' ')} (control ${r.layers.control.map((l) => l.mean.toFixed(3)).join(' ')})`);
      // Measured: age 1.0, ses 0.78 (chance 0.25 / 0.33).
      expect(r.best.mean, r.attribute).toBeGreaterThan(0.7);
      expect(r.best.layer).toBeGreaterThan(0);
      // Layer 0 at the suffix's last token is the same embedding for every row: chance.
      expect(acc[0]!, r.attribute).toBeLessThan(r.chance + 0.1);
      expect(r.layers.reading[r.best.layer]!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(r.rows);
    }
  });

  it('the same features with shuffled labels give chance accuracy', async () => {
    const r = trained.find((t) => t.attribute === 'age')!;
    const store = ActivationStore.read(join(root, 'train', 'features', 'age-reading'));
    const labels = Int32Array.from(implicit.filter((x) => r.classes.includes(x.labels.age!)), (x) => r.classes.indexOf(x.labels.age!));
    const rng = createRng(5);
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [labels[i], labels[j]] = [labels[j]!, labels[i]!];
    }
    const shuffled = await trainLayerProbes(store, labels, r.classes.length, { layers: [r.best.layer] });
    console.log(`age, shuffled labels, layer ${r.best.layer}: ${shuffled[0]!.cv.mean.toFixed(3)} (chance ${r.chance})`);
    expect(shuffled[0]!.cv.mean).toBeLessThan(r.chance + 0.15);
  });

  it('a rerun on the same run directory resumes: no reading or fitting repeated', async () => {
    const run = RunDir.open(join(root, 'train'), 'probe train', {});
    const before = run.records('layers').length;
    const t0 = performance.now();
    const again = await runProbeTraining(model, implicit, run, { ...DEFAULT_PROBE_TRAINING, batchSize: 16 });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(run.records('layers').length).toBe(before);
    expect(again.map((a) => a.best)).toEqual(trained.map((a) => a.best));
    const probe = loadProbe(join(root, 'train', trained[0]!.files.reading!));
    expect(probe.meta.cv.mean).toEqual(trained[0]!.layers.reading.map((l) => l.mean));
    expect(probe.meta.model.hiddenSize).toBe(model.hiddenSize);
  });

  it('a layer result recorded twice is used once (the first) and reported', async () => {
    const file = join(root, 'train', 'layers.jsonl');
    const first = JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as { attribute: string; probe: string; layer: number; mean: number };
    appendFileSync(file, JSON.stringify({ ...first, mean: 0.123 }) + '\n');
    const run = RunDir.open(join(root, 'train'), 'probe train', {});
    const { value: again, stderr } = await withStderr(() => runProbeTraining(model, implicit, run, { ...DEFAULT_PROBE_TRAINING, batchSize: 16 }));
    expect(stderr).toContain(`layers.jsonl: 1 record(s) repeat a key already recorded; the first of each is used (${first.attribute}/${first.probe}/${first.layer})`);
    const a = again.find((x) => x.attribute === first.attribute)!;
    expect(a.layers[first.probe as 'reading' | 'control'][first.layer]!.mean).toBe(first.mean);
  });

  it('per-turn reading follows the conversation: the cued class gains probability from the cue turn on', async () => {
    const probe = loadProbe(join(root, 'train', 'probes', 'ses.safetensors'));
    const rows = generateProbeDataset({ attributes: ['ses'], perClass: 4, conditions: ['implicit'], turns: [3, 3], seed: 99 }).filter((x) => (x.meta!['cueTurn'] as number) >= 1);
    expect(rows.length).toBeGreaterThanOrEqual(4);
    let before = 0;
    let after = 0;
    let lastRight = 0;
    for (const row of rows) {
      const turns = await readConversationTurns(model, [probe], row.messages);
      expect(turns.map((t) => t.turn)).toEqual([0, 1, 2]);
      const cueTurn = row.meta!['cueTurn'] as number;
      const p = (t: (typeof turns)[number]) => t.probabilities[row.labels.ses!]!;
      before += p(turns[cueTurn - 1]!);
      after += p(turns[cueTurn]!);
      if (turns[2]!.predicted === row.labels.ses) lastRight++;
    }
    console.log(`per-turn ses reading over ${rows.length} rows: p(true class) before cue ${(before / rows.length).toFixed(3)}, at cue turn ${(after / rows.length).toFixed(3)}, last turn right ${lastRight}`);
    // Measured: 0.33 before the cue turn, 0.53 at it.
    expect(after / rows.length).toBeGreaterThan(before / rows.length + 0.15);
    expect(lastRight / rows.length).toBeGreaterThanOrEqual(0.45); // chance is 1/3
  });

  it('pushing along class centroids at the answer position names the target in most direct answers for every attribute; the random control never does', async () => {
    const attributes = ['age', 'gender', 'education', 'ses'] as const;
    const rows = generateDirectQuestionDataset({ attributes: [...attributes], perClass: 8, conditions: ['explicit', 'implicit'], turns: [1, 2], seed: 21 });
    const tr = RunDir.open(join(root, 'direct'), 'probe train', {});
    const direct = await runProbeTraining(model, rows, tr, { ...DEFAULT_PROBE_TRAINING, suffix: '', generationPrompt: true, includeNeutral: true, control: false, batchSize: 16 });
    const probes = direct.map((d) => loadProbe(join(root, 'direct', d.files.reading!)));
    const cases = { direct: Object.fromEntries(attributes.map((a) => [a, Array.from({ length: 6 }, (_, i) => directQuestionConversation({ attribute: a, seed: 300 + i }).messages)])) };
    const run = RunDir.open(join(root, 'steer'), 'probe steer', {});
    const cells = await runProbeSteering(model, probes, cases, run, { layers: [4], strength: 1, direction: 'centroid', normalize: false, controlSeed: 0, maxNewTokens: 12, batchSize: 8 }, { classify });
    const mean = (cond: string, attribute?: string) => {
      const mine = cells.filter((c) => c.condition === cond && (!attribute || c.attribute === attribute));
      return mine.reduce((a, c) => a + c.successRate!, 0) / mine.length;
    };
    console.log(`direct-question success: toward ${mean('probe').toFixed(3)}, random ${mean('random').toFixed(3)}, none ${mean('none').toFixed(3)}`);
    for (const c of cells) if (c.condition === 'probe') console.log(`  ${c.attribute} -> ${c.target}: ${c.successRate} (selectivity ${c.selectivity})`);
    const probeCells = cells.filter((c) => c.condition === 'probe');
    for (const c of probeCells) expect(c.selectivity!).toBeLessThanOrEqual(c.successRate!);
    // Most answers name the target, for every attribute (measured 0.79-1.0 with 12 cases); the push is specific.
    for (const a of attributes) expect(mean('probe', a), a).toBeGreaterThan(0.6);
    expect(probeCells.reduce((a, c) => a + c.selectivity!, 0) / probeCells.length).toBeGreaterThan(0.6);
    expect(mean('random')).toBe(0);
    expect(mean('none')).toBe(0);

    // The stereotype study on contradicting conversations, before and after pushing toward the stated class.
    const contra = generateProbeDataset({ attributes: ['age'], perClass: 1, conditions: ['contradicting'], turns: [1, 1], seed: 8 });
    const sc = stereotypeCases(contra, () => 'What is my age?');
    expect(sc).toHaveLength(4);
    const srun = RunDir.open(join(root, 'stereo'), 'probe stereotype', {});
    const summary = await runStereotypeStudy(model, probes.filter((p) => p.meta.attribute === 'age'), sc, srun, {
      intervention: { layers: [4], strength: 1, direction: 'centroid' }, maxNewTokens: 12, batchSize: 8,
    }, { classify });
    const all = summary.filter((s) => s.attribute === 'all');
    expect(all.map((s) => s.phase).sort()).toEqual(['after', 'before']);
    for (const s of all) expect(s.answer.stated + s.answer.stereotype + s.answer.other + s.answer.none).toBe(4);
    console.log('stereotype study', JSON.stringify(all));
  }, 240_000);
});
