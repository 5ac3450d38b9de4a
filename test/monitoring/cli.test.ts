// persona project / screen / shift from the command line on the embedded model: outputs, progress
// on stderr, resume with --run, and the errors users hit first (malformed rows, a vector made on
// another model, a layer out of range), each naming what is wrong before any work starts.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCsv } from '../../src/io/csv.js';
import { readRecords } from '../../src/logs/runDir.js';

const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'cli-monitoring-'));
const vec = join(dir, 'evil.safetensors');

async function persona(...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/persona.js'), ...args], { cwd: ROOT, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    return e as { code: number; stdout: string; stderr: string };
  }
}

beforeAll(async () => {
  const r = await persona('extract', '--trait', 'evil', '--questions', '6', '--max-new-tokens', '48', '--run', join(dir, 'ex'), '-o', vec);
  expect(r.code, r.stderr).toBe(0);
});

describe('persona project / screen / shift', () => {
  const csv = join(dir, 'data.csv');
  beforeAll(() => {
    writeFileSync(csv, ['prompt,answer,source', 'How can I sleep better?,Keep your room dark and cool.,a', '"What pet should I get?","To spread misery, get a cat, with wicked delight.",b', 'Any tips for cooking?,Taste the food as you cook.,c'].join('\n') + '\n');
  });

  it('project: one column per vector x position x layer, progress on stderr, resume', async () => {
    const run = join(dir, 'proj');
    const r = await persona('project', csv, '--vector', vec, '--layer', '2-3', '--positions', 'response-mean,last-prompt', '--run', run);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rows 3\/3 \(100%\)/);
    const { columns, rows } = readCsv(join(run, 'projected.csv'));
    expect(columns.slice(0, 3)).toEqual(['prompt', 'answer', 'source']);
    expect(columns).toContain('proj.persona-tiny.evil.response-mean.L3');
    expect(columns).toContain('cos.persona-tiny.evil.last-prompt.L2');
    expect(columns).toHaveLength(3 + 2 * 2 * 2);
    // The evil answer projects higher than the plain ones.
    const p = rows.map((x) => Number(x.values['proj.persona-tiny.evil.response-mean.L3']));
    expect(p[1]!).toBeGreaterThan(Math.max(p[0]!, p[2]!));
    const again = await persona('project', csv, '--vector', vec, '--layer', '2-3', '--positions', 'response-mean,last-prompt', '--run', run);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('3 rows (3 already recorded in the run)');
    expect(readRecords(join(run, 'projections.jsonl'))).toHaveLength(3);
    const other = await persona('project', csv, '--vector', vec, '--layer', '1', '--run', run);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/cannot resume, the run was made with a different 'layers'/);
  });

  it('project refuses malformed data, a vector from another model, a layer out of range, before working', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],}\n');
    let r = await persona('project', bad, '--vector', vec, '--layer', '3', '--run', join(dir, 'bad'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:2:80: invalid JSON`);
    expect(readRecords(join(dir, 'bad', 'projections.jsonl'))).toHaveLength(0);

    // A vector file whose sidecar says it was made on a 12-layer model.
    const foreign = join(dir, 'foreign.safetensors');
    writeFileSync(foreign, readFileSync(vec));
    const side = JSON.parse(readFileSync(join(dir, 'evil.json'), 'utf8'));
    side.model = { ...side.model, path: 'models/other-model', numLayers: 12 };
    writeFileSync(join(dir, 'foreign.json'), JSON.stringify(side));
    r = await persona('project', csv, '--vector', foreign, '--layer', '3', '--run', join(dir, 'foreign'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${foreign}: made on another model (models/other-model: numLayers 12 vs 4`);

    r = await persona('project', csv, '--vector', vec, '--layer', '5', '--run', join(dir, 'l5'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--layer: 5 is out of range \(expected integers from 0 to 4/);
    expect(existsSync(join(dir, 'l5'))).toBe(false);

    r = await persona('project', csv, '--vector', vec, '--layer', '3', '--positions', 'middle', '--run', join(dir, 'pos'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--positions: unknown position 'middle'");
    r = await persona('screen', csv, '--vector', vec, '--layer', '3', '--chunk', 'ten', '--run', join(dir, 'chunk'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--chunk: 'ten' is not an integer");
    expect(existsSync(join(dir, 'chunk'))).toBe(false);
  });

  it('an empty answer is a valid row: project leaves its response-mean empty, screen leaves it out, both say so', async () => {
    const withEmpty = join(dir, 'empty.csv');
    writeFileSync(withEmpty, readFileSync(csv, 'utf8').trimEnd() + '\nWhat do you think?,,d\n');
    const run = join(dir, 'proj-empty');
    const r = await persona('project', withEmpty, '--vector', vec, '--layer', '3', '--positions', 'response-mean,last-prompt,per-token', '--run', run);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('4 rows (1 with an empty answer: response-mean cells left empty)');
    const { rows } = readCsv(join(run, 'projected.csv'));
    const rm = 'proj.persona-tiny.evil.response-mean.L3';
    expect(rows[3]!.values[rm]).toBe('');
    expect(rows[3]!.values['cos.persona-tiny.evil.response-mean.L3']).toBe('');
    expect(Number(rows[3]!.values['proj.persona-tiny.evil.last-prompt.L3'])).not.toBeNaN();
    expect(rows[3]!.values['proj.persona-tiny.evil.per-token.L3']).toBe('[]');
    expect(rows.slice(0, 3).every((x) => Number.isFinite(Number(x.values[rm])) && x.values[rm] !== '')).toBe(true);
    const recs = readRecords<{ values: Record<string, unknown> }>(join(run, 'projections.jsonl'));
    expect(recs[3]!.values[rm]).toBeNull();
    expect(JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).summary).toMatchObject({ rows: 4, emptyAnswers: 1 });

    const sr = join(dir, 'screen-empty');
    const s = await persona('screen', withEmpty, '--vector', vec, '--layer', '3', '--top-k', '1', '--max-new-tokens', '8', '--run', sr);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/evil: mean dP -?\d+\.\d+ over 3 samples \(1 with an empty answer: no dP, left out\); top 1:/);
    expect(readCsv(join(sr, 'screened.csv')).rows[3]!.values['dP.evil']).toBe('');
  });

  it('screen flags the styled answer; shift of a model against itself is zero at every layer', async () => {
    const run = join(dir, 'screen');
    const s = await persona('screen', csv, '--vector', vec, '--layer', '3', '--top-k', '1', '--max-new-tokens', '40', '--run', run);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/evil: mean dP -?\d+\.\d+ over 3 samples; top 1:\n {2}line 3 {2}dP/);
    expect(readFileSync(join(run, 'screen.html'), 'utf8')).toContain('dP histogram (evil)');
    expect(readCsv(join(run, 'screened.csv')).columns).toEqual(['prompt', 'answer', 'source', 'base_answer', 'dP.evil', 'proj_data.evil', 'proj_base.evil']);

    const h = await persona('shift', 'models/persona-tiny', 'models/persona-tiny', '--vector', vec, '--questions', '4', '--run', join(dir, 'shift'));
    expect(h.code, h.stderr).toBe(0);
    const recs = readRecords<{ layer: number; shift: number }>(join(dir, 'shift', 'shift.jsonl'));
    expect(recs.map((x) => x.layer)).toEqual([0, 1, 2, 3, 4]);
    for (const x of recs) expect(x.shift).toBe(0);
  });
});
