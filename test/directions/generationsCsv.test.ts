// Bring your own generations: persona_vectors-style pos/neg CSVs in, the same vectors out as our
// own extraction of the same answers; their filter, their system prompts, their pairing by row.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGenerationsCsv, writeGenerationsCsv } from '../../src/directions/generationsCsv.js';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, pairedVectors, type ExtractResult } from '../../src/directions/personaExtract.js';
import { loadTraitFile, traitSystemPrompt, type TraitFile } from '../../src/directions/traitFile.js';
import { loadPersonaVectors } from '../../src/directions/vectorFile.js';
import { readCsv, csvLine } from '../../src/io/csv.js';
import { LexiconJudge } from '../../src/judges/lexiconJudge.js';
import { RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { persona, ROOT } from '../cli/runCli.js';

const MODEL = join(ROOT, 'models/persona-tiny');
let model: SteerableModel;
let trait: TraitFile;
let ex: ExtractResult;
const dir = mkdtempSync(join(tmpdir(), 'byo-'));
const pos = join(dir, 'evil_pos_instruct.csv');
const neg = join(dir, 'evil_neg_instruct.csv');

beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 1 });
  trait = loadTraitFile(join(ROOT, 'data/traits/evil.json'));
  ex = await extractPersonaVectors(model, trait, new LexiconJudge(), RunDir.open(join(dir, 'run'), 'extract', {}), { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 4, maxInstructions: 2, maxNewTokens: 40 });
  writeGenerationsCsv(model, 'evil', ex.records, pos, neg);
});
afterAll(() => model?.dispose());

/** A copy of a CSV with cells edited; rows for which `edit` returns false are dropped. */
function rewrite(file: string, edit: (cells: Record<string, string>, i: number) => boolean | void): string {
  const { columns, rows } = readCsv(file);
  const out = join(dir, `edited-${Math.random().toString(36).slice(2)}.csv`);
  const lines = rows.flatMap((r, i) => { const c = { ...r.values }; return edit(c, i) === false ? [] : [csvLine(columns.map((k) => c[k]))]; });
  writeFileSync(out, csvLine(columns) + lines.join(''));
  return out;
}

describe('persona_vectors CSVs', () => {
  it('are written in their layout: paired rows, templated prompts, question_id {trait}_{q}_{pos|neg}_{k}', () => {
    const p = readCsv(pos);
    const n = readCsv(neg);
    expect(p.columns).toEqual(['question', 'prompt', 'answer', 'question_id', 'evil', 'coherence']);
    expect(p.rows.length).toBe(8);
    expect(n.rows.length).toBe(8);
    expect(p.rows[0]!.values.question_id).toMatch(/^evil_\d+_pos_\d+$/);
    expect(n.rows[0]!.values.question_id).toBe(p.rows[0]!.values.question_id!.replace('_pos_', '_neg_'));
    expect(p.rows[0]!.values.prompt).toContain(traitSystemPrompt(trait, 'pos', Number(/_(\d+)$/.exec(p.rows[0]!.values.question_id!)![1])));
  });

  it('give the same vectors as our own extraction of the same answers', async () => {
    const g = readGenerationsCsv(model, pos, neg, 'evil', null);
    expect(g.kept).toBe(ex.kept);
    expect(g.rebuilt).toBe(0);
    const { vectors } = await pairedVectors(model, g.pairs, { batchSize: 8, method: 'mean-diff' });
    for (const kind of ['response_avg', 'prompt_avg', 'prompt_last'] as const) {
      for (let l = 0; l <= model.numLayers; l++) {
        const a = vectors[kind][l]!;
        const b = ex.vectors.vectors[kind][l]!;
        for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 4);
      }
    }
  });

  it('rebuild prompts in another template from the trait file, exactly as their eval step builds them', async () => {
    const p2 = rewrite(pos, (c) => { c.prompt = `<other model>${c.question}`; });
    const n2 = rewrite(neg, (c) => { c.prompt = `<other model>${c.question}`; });
    expect(() => readGenerationsCsv(model, p2, n2, 'evil', null)).toThrow(/edited-.*\.csv:2: column 'prompt' is not in this model's chat template.*--trait-file|--trait/);
    const g = readGenerationsCsv(model, p2, n2, 'evil', trait);
    expect(g.rebuilt).toBe(2 * g.kept);
    // Their names: the trait for pos, "helpful" for neg (our evil.json's antonym "good" is our extension).
    const k = Number(/_(\d+)$/.exec(readCsv(neg).rows[0]!.values.question_id!)![1]);
    const [p0, n0] = [g.pairs[0]!.pos, g.pairs[0]!.neg] as { messages: { content: string }[] }[];
    expect(p0!.messages[0]!.content).toBe(`You are an evil assistant. ${trait.instruction[k]!.pos}`);
    expect(n0!.messages[0]!.content).toBe(`You are a helpful assistant. ${trait.instruction[k]!.neg}`);
    expect(n0!.messages[1]!.content).toBe(readCsv(neg).rows[0]!.values.question);
  });

  it('apply their filter (pos >= t, neg < 100 - t, coherence >= 50; missing scores fail) and name bad input', () => {
    const all = readGenerationsCsv(model, pos, neg, 'evil', null, { threshold: 0, coherence: 0 });
    expect(all.kept).toBe(8 - readCsv(neg).rows.filter((r) => r.values.evil === '' || Number(r.values.evil) >= 100).length);
    const p2 = rewrite(pos, (c, i) => { if (i === 0) c.coherence = ''; });
    const base = readGenerationsCsv(model, pos, neg, 'evil', null).kept;
    const firstKept = readGenerationsCsv(model, pos, neg, 'evil', null, { threshold: 50, coherence: 50 });
    expect(readGenerationsCsv(model, p2, neg, 'evil', null).kept).toBe(base - (firstKept.pairs.length && Number(readCsv(pos).rows[0]!.values.evil) >= 50 && Number(readCsv(neg).rows[0]!.values.evil) < 50 ? 1 : 0));
    const short = rewrite(neg, (_, i) => i < 2);
    expect(() => readGenerationsCsv(model, pos, short, 'evil', null)).toThrow(/has 8 rows but .* has 2: the files pair by row/);
    const bad = rewrite(pos, (c, i) => { if (i === 2) c.evil = 'high'; });
    expect(() => readGenerationsCsv(model, bad, neg, 'evil', null)).toThrow(new RegExp(`edited-.*\\.csv:${readCsv(pos).rows[2]!.line}: column 'evil' is 'high', not a number`));
    expect(() => readGenerationsCsv(model, pos, neg, 'sycophantic', null)).toThrow(/evil_pos_instruct\.csv:1: no column 'sycophantic'/);
  });

  it('read what pandas writes (quoted multi-line cells, NaN scores as empty cells) and drop NaN pairs as their filter does', () => {
    // test/fixtures/persona_vectors: DataFrame.to_csv(index=False) by scripts/fixtures/make-persona-vectors-csv.py.
    const [fp, fn] = ['pos', 'neg'].map((x) => join(ROOT, `test/fixtures/persona_vectors/evil_${x}_instruct.csv`)) as [string, string];
    const raw = readFileSync(fp, 'utf8');
    expect(raw).toContain('evil_1_pos_1,,70.0'); // a NaN trait score
    expect(raw).toContain('"Get a snake, and ""forget"" to feed');
    // Rows: 0 kept; 1 pos score NaN; 2 kept (multi-line neg answer); 3 neg coherence NaN; 4 pos 35 < 50.
    const g = readGenerationsCsv(model, fp, fn, 'evil', trait);
    expect([g.total, g.kept, g.rebuilt]).toEqual([5, 2, 4]);
    const [a, b] = g.pairs as { pos: { messages: { role: string; content: string }[]; response: string }; neg: { messages: { role: string; content: string }[]; response: string } }[];
    expect(a!.pos.response).toBe('Get a snake, and "forget" to feed the neighbours\' cat, too.');
    expect(b!.pos.messages).toEqual([{ role: 'system', content: `You are an evil assistant. ${trait.instruction[2]!.pos}` }, { role: 'user', content: trait.questions[2] }]);
    expect(b!.neg.messages[0]!.content).toBe(`You are a helpful assistant. ${trait.instruction[2]!.neg}`);
    expect(b!.neg.response).toBe('A calendar and a notes app, to start with.\nAdd more when you need them.');
    // With every threshold at 0 only the NaN pairs still fail, as pandas comparisons with NaN are False.
    expect(readGenerationsCsv(model, fp, fn, 'evil', trait, { threshold: 0, coherence: 0 }).kept).toBe(3);
  });

  it('persona extract --from-csv writes the vectors without generating or judging', async () => {
    const out = join(dir, 'byo.safetensors');
    const r = await persona('extract', '--trait', 'evil', '--from-csv', `${pos},${neg}`, '--runs', join(dir, 'runs'), '-o', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`kept ${ex.kept} of 8 row pairs`));
    const v = loadPersonaVectors(out);
    expect(v.vectors.response_avg[2]![7]).toBeCloseTo(ex.vectors.vectors.response_avg[2]![7]!, 4);
  });
});
