import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dedupeRecords, readManifest, readRecords, RunDir } from '../../src/logs/runDir.js';

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

/** A real process of this machine that stays alive until killed (its pid holds a lock in the tests). */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

const lockOf = (pid: number, host = hostname()) => JSON.stringify({ pid, host, command: 'extract', since: '2026-11-22T00:00:00.000Z' });

describe('run directory lock', () => {
  it('refuses a directory another live process holds, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-lock-'));
    const other = liveProcess();
    try {
      writeFileSync(join(dir, '.lock'), lockOf(other.pid!));
      expect(() => RunDir.open(dir, 'extract', {})).toThrow(new RegExp(`in use by 'extract' \\(pid ${other.pid}.*use another --run directory`));
      expect(existsSync(join(dir, 'manifest.json'))).toBe(false);
    } finally {
      other.kill();
    }
  });

  it('takes over the lock of a process that died, and refuses one held from another host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-lock-'));
    writeFileSync(join(dir, '.lock'), lockOf(await deadPid()));
    const run = RunDir.open(dir, 'extract', {});
    expect(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid).toBe(process.pid);
    run.finish();
    expect(existsSync(join(dir, '.lock'))).toBe(false);

    writeFileSync(join(dir, '.lock'), lockOf(1, 'elsewhere.example'));
    expect(() => RunDir.open(dir, 'extract', {})).toThrow(/pid 1 on host elsewhere\.example.*delete .*\.lock/);
  });

  it('two processes on one run: the second is refused while the first runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-two-'));
    const first = holder(dir);
    await waitFor(() => existsSync(join(dir, 'manifest.json')));
    try {
      expect(() => RunDir.open(dir, 'extract', {})).toThrow(new RegExp(`in use by 'extract' \\(pid ${first.pid}`));
    } finally {
      first.kill('SIGTERM');
      await new Promise((r) => first.on('exit', r));
    }
  });

  it('marks the run interrupted on SIGINT and SIGTERM, and releases the lock', async () => {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'run-sig-'));
      const child = holder(dir);
      await waitFor(() => existsSync(join(dir, 'manifest.json')));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(readManifest(dir)).toMatchObject({ status: 'interrupted', error: expect.stringContaining(`interrupted by ${signal}`) });
      expect(existsSync(join(dir, '.lock'))).toBe(false);
      // Resuming it makes it a running run again.
      const again = RunDir.open(dir, 'extract', {});
      expect(again.manifest.status).toBe('running');
      again.finish();
    }
  }, 30_000);

  it('removes temp files of interrupted atomic writes whose process is gone, keeps those of live ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-tmp-'));
    const other = liveProcess();
    try {
      const dead = join(dir, `.vectors.safetensors.${await deadPid()}.0.tmp`);
      const inFlight = join(dir, `.sweep.csv.${other.pid}.3.tmp`);
      mkdirSync(join(dir, 'probes'));
      const deadNested = join(dir, 'probes', `.age.json.${await deadPid()}.2-1.tmp`); // a worker thread's
      for (const f of [dead, inFlight, deadNested]) writeFileSync(f, 'partial');
      RunDir.open(dir, 'extract', {}).finish();
      expect([existsSync(dead), existsSync(deadNested), existsSync(inFlight)]).toEqual([false, false, true]);
    } finally {
      other.kill();
    }
  });
});

describe('run directory readers', () => {
  it('keep the first record of a repeated key and report the repeats', () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-dup-'));
    const run = RunDir.open(dir, 'extract', {});
    for (const r of [{ key: 'a', v: 1 }, { key: 'b', v: 2 }, { key: 'a', v: 3 }, { key: 'b', v: 4 }, { key: 'c', v: 5 }]) run.append('generations', r);
    const warnings: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (warnings.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(run.keyedRecords<{ key: string; v: number }>('generations', (r) => r.key).map((r) => r.v)).toEqual([1, 2, 5]);
    } finally {
      process.stderr.write = write;
    }
    expect(warnings.join('')).toMatch(/generations\.jsonl: 2 record\(s\) repeat a key already recorded; the first of each is used \(a, b\)/);
    expect(dedupeRecords([{ k: 'x' }, { k: 'x' }], (r) => r.k)).toEqual({ records: [{ k: 'x' }], duplicates: ['x'] });
  });

  it('name the file and line of a corrupt manifest or JSONL line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'run-bad-'));
    writeFileSync(join(dir, 'manifest.json'), '{\n  "command": "extract",\n  "config": {,\n}');
    expect(() => RunDir.open(dir, 'extract', {})).toThrow(new RegExp(`${dir}/manifest\\.json:3:14: invalid JSON`));
    expect(() => readManifest(dir)).toThrow(/manifest\.json:3:14: invalid JSON/);
    const jsonl = join(dir, 'steer.jsonl');
    writeFileSync(jsonl, '{"key":"a"}\n\n{"key": b}\n');
    expect(() => readRecords(jsonl)).toThrow(/steer\.jsonl:3:9: invalid JSON/);
  });
});

function holder(dir: string): ChildProcess {
  // A second process that opens the run and keeps it open until it is stopped.
  const src = join(import.meta.dirname, '../../src/logs/runDir.ts');
  return spawn(process.execPath, ['--import', 'tsx', '-e', `const { RunDir } = await import(${JSON.stringify(src)}); RunDir.open(${JSON.stringify(dir)}, 'extract', {}); setTimeout(() => {}, 60000);`], {
    stdio: 'ignore',
    cwd: join(import.meta.dirname, '../..'),
  });
}

async function waitFor(ok: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
