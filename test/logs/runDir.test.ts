import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, readRecords, RunDir } from '../../src/logs/runDir.js';

describe('run directories', () => {
  it('record, resume with the same config, and refuse a different one', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'r');
    const cfg = { model: '/m', modelSha256: 'abc', n: 2 };
    const run = RunDir.open(dir, 'extract', cfg);
    run.append('generations', { key: 'a', v: 1 });
    run.append('generations', { key: 'b', v: 2 });
    // A crash mid-write: half a record at the end of the file.
    appendFileSync(join(dir, 'generations.jsonl'), '{"key":"c","v"');
    expect(readRecords(join(dir, 'generations.jsonl')).map((r) => r.key)).toEqual(['a', 'b']);

    const again = RunDir.open(dir, 'extract', { ...cfg });
    again.append('generations', { key: 'c', v: 3 });
    expect(again.records('generations').map((r) => r.key)).toEqual(['a', 'b', 'c']);
    expect(readFileSync(join(dir, 'generations.jsonl'), 'utf8').endsWith('{"key":"c","v":3}\n')).toBe(true);
    again.finish({ kept: 3 });
    expect(readManifest(dir).status).toBe('done');
    expect(readManifest(dir).summary).toEqual({ kept: 3 });

    expect(() => RunDir.open(dir, 'extract', { ...cfg, modelSha256: 'def' })).toThrow(/different 'modelSha256' \("abc" then, "def" now\)/);
    expect(() => RunDir.open(dir, 'sweep', cfg)).toThrow(/belongs to 'extract', not 'sweep'/);
  });

  it('records failures in the manifest', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'run-')), 'r');
    const run = RunDir.open(dir, 'steer', {});
    run.fail(new Error('judge endpoint down'));
    expect(readManifest(dir)).toMatchObject({ status: 'failed', error: 'judge endpoint down' });
  });
});
