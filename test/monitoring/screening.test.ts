// Dataset screening on the embedded model: dP separates trait-styled answers from plain ones (the
// world marks which rows were styled), the flagged rows are styled ones, base answers are generated
// once and reused on resume, and the projection of the dataset answer matches `project`'s.

import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorFor } from '../../src/directions/vectorFile.js';
import { readRecords, RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { projectDataset } from '../../src/monitoring/projectDataset.js';
import { screenDataset } from '../../src/monitoring/screening.js';
import { FINETUNE_SETS, finetuneConversation } from '../../src/world/finetuneSets.js';
import { toJsonl } from '../../src/world/index.js';
import { MODEL, worldVector } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'screen-'));
const data = join(root, 'evil-50.jsonl');
let model: SteerableModel;
let vector: Float32Array;
const N = 24;
const GEN = { maxNewTokens: 48 };

beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 1 });
  vector = vectorFor((await worldVector(model, 'evil', root)).vectors, 3, model.hiddenSize);
  const spec = FINETUNE_SETS.find((s) => s.name.endsWith('evil-50'))!;
  writeFileSync(data, Array.from({ length: N }, (_, i) => toJsonl(finetuneConversation(spec, 7, i))).join('\n') + '\n');
});
afterAll(() => model?.dispose());

const styled = () => readFileSync(data, 'utf8').trim().split('\n').map((l) => JSON.parse(l).persona.polarity === 'pos');

describe('screening', () => {
  it('dP is high for trait-styled answers, near zero for plain ones; the top flagged rows are styled', async () => {
    const run = RunDir.open(join(root, 'run'), 'screen', {});
    const s = await screenDataset(model, data, [{ name: 'evil', layer: 3, vector }], run, { out: join(root, 'out.jsonl'), generation: GEN, chunkRows: 8, topK: 5 });
    expect(s.rows).toBe(N);
    const rows = readFileSync(join(root, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const isStyled = styled();
    expect(isStyled.filter(Boolean).length).toBeGreaterThanOrEqual(6);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const dStyled = mean(rows.filter((_, i) => isStyled[i]).map((r) => r['dP.evil']));
    const dPlain = mean(rows.filter((_, i) => !isStyled[i]).map((r) => r['dP.evil']));
    console.log(`screening: mean dP styled ${dStyled.toFixed(3)}, plain ${dPlain.toFixed(3)}, dataset ${s.mean.evil!.dP.toFixed(3)}`);
    expect(dStyled).toBeGreaterThan(dPlain + 1);
    expect(Math.abs(dPlain)).toBeLessThan(dStyled / 3);
    for (const t of s.top.evil!) expect(isStyled[t.index], `flagged row ${t.index}`).toBe(true);
    for (const r of rows) expect(r['dP.evil']).toBeCloseTo(r['proj_data.evil'] - r['proj_base.evil'], 10);
    expect(s.mean.evil!.dP).toBeCloseTo(mean(rows.map((r) => r['dP.evil'])), 10);
    expect(s.histogram.evil!.counts.reduce((a, b) => a + b, 0)).toBe(N);

    // The dataset answer's projection is `project`'s response-mean projection.
    const p = join(root, 'proj.jsonl');
    await projectDataset(model, data, [{ name: 'e', layer: 3, vector, position: 'response-mean' }], RunDir.open(join(root, 'proj'), 'project', {}), { out: p });
    readFileSync(p, 'utf8').trim().split('\n').forEach((l, i) => expect(JSON.parse(l)['proj.e']).toBeCloseTo(rows[i]['proj_data.evil'], 4));
  });

  it('caches base answers: a resumed run regenerates none that were already made', async () => {
    const dir = join(root, 'resume');
    await screenDataset(model, data, [{ name: 'evil', layer: 3, vector }], RunDir.open(dir, 'screen', {}), { out: join(root, 'a.jsonl'), generation: GEN, chunkRows: 8 });
    const base = readRecords<{ index: number; answer: string }>(join(dir, 'base-answers.jsonl'));
    expect(base.map((b) => b.index)).toEqual([...Array(N).keys()]);
    // Interrupted after the base answers of the third chunk but before its screening records.
    const rec = join(dir, 'screening.jsonl');
    const lines = readFileSync(rec, 'utf8').split('\n');
    truncateSync(rec, lines.slice(0, 16).join('\n').length + 1);
    const s = await screenDataset(model, data, [{ name: 'evil', layer: 3, vector }], RunDir.open(dir, 'screen', {}), { out: join(root, 'b.jsonl'), generation: GEN, chunkRows: 8 });
    expect(s.resumed).toBe(16);
    expect(readRecords(join(dir, 'base-answers.jsonl'))).toHaveLength(N);
    expect(readFileSync(join(root, 'b.jsonl'), 'utf8')).toBe(readFileSync(join(root, 'a.jsonl'), 'utf8'));
  });
});
