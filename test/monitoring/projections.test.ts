// Projections on persona vectors: every position kind against hidden states of the independent
// reference forward dotted by hand; datasets (CSV and JSONL) streamed through a run directory,
// resumed after an interruption, and refused with file:line(:column) when malformed.

import { mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizeExample } from '../../src/activations/positions.js';
import { checkVectorModel, type PersonaVectorSet } from '../../src/directions/vectorFile.js';
import { readCsv } from '../../src/io/csv.js';
import { RunDir } from '../../src/logs/runDir.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { projectDataset } from '../../src/monitoring/projectDataset.js';
import { projectExamples, type ProjectionSpec } from '../../src/monitoring/projections.js';
import type { Fixture } from '../fixtures/index.js';
import { fixtureModel, randomVector } from '../runtime/helpers.js';

let fx: Fixture;
let model: SteerableModel;
const dir = mkdtempSync(join(tmpdir(), 'project-'));
const H = 64;

const handDot = (a: Float32Array, v: Float32Array) => {
  let d = 0;
  let na = 0;
  let nv = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * v[i]!;
    na += a[i]! * a[i]!;
    nv += v[i]! * v[i]!;
  }
  return { proj: d / Math.sqrt(nv), cos: d / Math.sqrt(na * nv) };
};
const rowMean = (x: Float32Array, s0: number, s1: number) => {
  const out = new Float32Array(H);
  for (let s = s0; s < s1; s++) for (let h = 0; h < H; h++) out[h]! += x[s * H + h]! / (s1 - s0);
  return out;
};

beforeAll(async () => {
  ({ fx, model } = await fixtureModel('llama'));
  expect(model.hiddenSize).toBe(H);
});

const specs = (): ProjectionSpec[] => [
  { name: 'a.resp.L2', vector: randomVector(H, 1), layer: 2, position: 'response-mean' },
  { name: 'a.prompt.L1', vector: randomVector(H, 2), layer: 1, position: 'prompt-mean' },
  { name: 'b.last.L3', vector: randomVector(H, 3), layer: 3, position: 'last-prompt' },
  { name: 'b.tok.L2', vector: randomVector(H, 4), layer: 2, position: 'per-token' },
  { name: 'b.idx.L0', vector: randomVector(H, 5), layer: 0, position: { index: -1 } },
];

describe('projections', () => {
  it('equal the reference hidden states dotted by hand, for every position kind, in batches', async () => {
    const exs = [
      tokenizeExample(model.tokenizer, [{ role: 'user', content: 'Tell me about cats.' }], 'Cats are small and proud.'),
      tokenizeExample(model.tokenizer, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], 'Hello there!'),
      { ids: [1, 10, 11, 12, 13, 14], promptLength: 4 },
    ];
    const got = await projectExamples(model, exs, specs(), { batchSize: 2 });
    let worst = 0;
    exs.forEach((ex, i) => {
      const ref = fx.reference([ex.ids]).hidden;
      const P = ex.promptLength;
      const S = ex.ids.length;
      const expectClose = (a: number, b: number) => {
        worst = Math.max(worst, Math.abs(a - b) / Math.max(1, Math.abs(b)));
        expect(a).toBeCloseTo(b, 3);
      };
      for (const s of specs()) {
        const R = ref[s.layer]!;
        const v = got[i]![s.name]!;
        if (s.position === 'per-token') {
          expect((v.proj as number[]).length).toBe(S - P);
          for (let t = P; t < S; t++) {
            const e = handDot(R.subarray(t * H, (t + 1) * H), s.vector);
            expectClose((v.proj as number[])[t - P]!, e.proj);
            expectClose((v.cos as number[])[t - P]!, e.cos);
          }
          continue;
        }
        const [s0, s1] = s.position === 'response-mean' ? [P, S] : s.position === 'prompt-mean' ? [0, P] : s.position === 'last-prompt' ? [P - 1, P] : [S - 1, S];
        const e = handDot(rowMean(R, s0, s1), s.vector);
        expectClose(v.proj as number, e.proj);
        expectClose(v.cos as number, e.cos);
      }
    });
    console.log(`projection vs reference: worst relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-4);
  });

  it('refuse a layer out of range, a vector of another width, a vector file from another model', async () => {
    const ex = [{ ids: [1, 10, 11, 12], promptLength: 3 }];
    await expect(projectExamples(model, ex, [{ name: 'x', vector: randomVector(H, 1), layer: 9, position: 'last-prompt' }])).rejects.toThrow(/x: layer 9 out of range 0\.\.3/);
    await expect(projectExamples(model, ex, [{ name: 'x', vector: randomVector(32, 1), layer: 1, position: 'last-prompt' }])).rejects.toThrow(/hidden size is 64/);
    const set = { vectors: {}, meta: { model: { path: 'models/other', modelType: 'llama', numLayers: 12, hiddenSize: 64 } } } as unknown as PersonaVectorSet;
    expect(() => checkVectorModel(set, { path: 'fx', modelType: 'llama', numLayers: 3, hiddenSize: 64 }, 'evil.safetensors')).toThrow(
      /evil\.safetensors: made on another model \(models\/other: numLayers 12 vs 3/,
    );
  });
});

describe('dataset projection', () => {
  const csv = join(dir, 'data.csv');
  const jsonl = join(dir, 'data.jsonl');
  const questions = Array.from({ length: 11 }, (_, i) => `Question number ${i}?`);
  const answers = questions.map((_, i) => `Answer ${'word '.repeat(1 + (i % 4))}${i}.`);
  beforeAll(() => {
    // One prompt already templated (persona_vectors CSVs), the others plain user messages.
    const templated = model.tokenizer.applyChatTemplate([{ role: 'user', content: questions[0]! }], { addGenerationPrompt: true });
    const lines = ['id,prompt,answer,note', ...questions.map((q, i) => `${i},"${i === 0 ? templated : q}","${answers[i]}",n${i}`)];
    writeFileSync(csv, lines.join('\n') + '\n');
    writeFileSync(jsonl, questions.map((q, i) => JSON.stringify({ id: i, messages: [{ role: 'user', content: q }, { role: 'assistant', content: answers[i] }] })).join('\n') + '\n');
  });

  it('keeps every input column, adds proj/cos columns equal to per-example projections; JSONL agrees with CSV', async () => {
    const s = specs().slice(0, 3);
    const run = RunDir.open(join(dir, 'run-csv'), 'project', {});
    const out = join(dir, 'out.csv');
    const seen: number[] = [];
    await projectDataset(model, csv, s, run, { out, chunkRows: 4, batchSize: 3, onProgress: (d) => seen.push(d) });
    expect(seen).toEqual([4, 8, 11]);
    const { columns, rows } = readCsv(out);
    expect(columns).toEqual(['id', 'prompt', 'answer', 'note', ...s.flatMap((x) => [`proj.${x.name}`, `cos.${x.name}`])]);
    expect(rows.map((r) => r.values.note)).toEqual(questions.map((_, i) => `n${i}`));
    const direct = await projectExamples(model, questions.map((q, i) => tokenizeExample(model.tokenizer, [{ role: 'user', content: q }], answers[i]!)), s);
    rows.forEach((r, i) => {
      for (const x of s) expect(Number(r.values[`proj.${x.name}`])).toBeCloseTo(direct[i]![x.name]!.proj as number, 4);
    });

    const outJ = join(dir, 'out.jsonl');
    await projectDataset(model, jsonl, s, RunDir.open(join(dir, 'run-jsonl'), 'project', {}), { out: outJ, chunkRows: 5 });
    const objs = readFileSync(outJ, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(objs.map((o) => o.id)).toEqual(questions.map((_, i) => i));
    objs.forEach((o, i) => expect(o[`proj.${s[0]!.name}`]).toBeCloseTo(Number(rows[i]!.values[`proj.${s[0]!.name}`]), 5));
  });

  it('resumes an interrupted run: recorded rows are skipped, the output is the same', async () => {
    const s = specs().slice(2, 4);
    const full = join(dir, 'full.csv');
    await projectDataset(model, csv, s, RunDir.open(join(dir, 'run-full'), 'project', {}), { out: full, chunkRows: 4 });
    const runDir = join(dir, 'run-resume');
    await projectDataset(model, csv, s, RunDir.open(runDir, 'project', {}), { out: join(dir, 'first.csv'), chunkRows: 4 });
    // Cut the records after 5 complete lines and half of the sixth, as a crash mid-append would.
    const rec = join(runDir, 'projections.jsonl');
    const text = readFileSync(rec, 'utf8');
    const cut = text.split('\n').slice(0, 5).join('\n').length + 1 + 10;
    truncateSync(rec, cut);
    expect(statSync(rec).size).toBe(cut);
    const resumedOut = join(dir, 'resumed.csv');
    const r = await projectDataset(model, csv, s, RunDir.open(runDir, 'project', {}), { out: resumedOut, chunkRows: 4 });
    expect(r.resumed).toBe(5);
    // Same rows and columns; values equal up to float noise (chunks batch rows differently).
    const [a, b] = [readCsv(resumedOut), readCsv(full)];
    expect(a.columns).toEqual(b.columns);
    expect(a.rows.map((r) => r.values.id)).toEqual(b.rows.map((r) => r.values.id));
    a.rows.forEach((r, i) => expect(Number(r.values[`proj.${s[0]!.name}`])).toBeCloseTo(Number(b.rows[i]!.values[`proj.${s[0]!.name}`]), 4));
    expect(JSON.parse(a.rows[10]!.values[`proj.${s[1]!.name}`]!)).toHaveLength(JSON.parse(b.rows[10]!.values[`proj.${s[1]!.name}`]!).length);
  });

  it('names file, line and column of malformed input before any work', async () => {
    const bad = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const s = specs().slice(0, 1);
    const go = (p: string) => projectDataset(model, p, s, RunDir.open(join(dir, `run-${p.split('/').pop()}`), 'project', {}), { out: join(dir, 'never.csv') });
    let p = bad('quote.csv', 'prompt,answer\nhi,there\n"unclosed,x\n');
    await expect(go(p)).rejects.toThrow(`${p}:3`);
    p = bad('nocol.csv', 'question,answer\nhi,there\n');
    await expect(go(p)).rejects.toThrow(`${p}:1: no column 'prompt'`);
    p = bad('empty.csv', 'prompt,answer\nhi,there\n,yo\n');
    await expect(go(p)).rejects.toThrow(`${p}:3: column 'prompt' is empty`);
    p = bad('json.jsonl', '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n\n{"messages": [}\n');
    await expect(go(p)).rejects.toThrow(new RegExp(`${p}:3:15: invalid JSON`));
    p = bad('shape.jsonl', '{"messages":[{"role":"user","content":"a"},{"role":"assistant"}]}\n');
    await expect(go(p)).rejects.toThrow(`${p}:1: field 'messages[1]' must be`);
    p = bad('short.jsonl', '{"messages":[{"role":"user","content":"a"}]}\n');
    await expect(go(p)).rejects.toThrow(`${p}:1: field 'messages' needs at least`);
    await expect(go(join(dir, 'data.txt'))).rejects.toThrow(/unknown dataset format/);
    // Nothing was recorded by the failed runs.
    expect(() => readFileSync(join(dir, 'run-quote.csv', 'projections.jsonl'))).toThrow();
  });
});
