// Two `persona` processes on one --run directory: the second is refused by name (command, pid,
// host) with exit 1 before it writes anything, and the first finishes with its records intact.
// (Before the lock both exited 0, generations.jsonl got every key twice and the kept counts doubled.)

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { persona, ROOT } from './runCli.js';

describe('two persona processes on one run directory', () => {
  it('the second is refused naming the first (command, pid, host); the first completes intact', async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'cli-lock-')), 'run');
    // The first is paused (SIGSTOP) once it holds the directory and resumed after the second is
    // refused, so the overlap does not depend on how fast this machine generates: a small job will do.
    const args = ['extract', '--trait', 'evil', '--questions', '3', '-n', '2', '--max-new-tokens', '16', '--batch-size', '4', '--run', run];
    const first = spawn(process.execPath, [join(ROOT, 'bin/persona.js'), ...args], { cwd: ROOT });
    let firstErr = '';
    const firstDone = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
    // The first holds the directory once it generates (RunDir.open comes before generation).
    await new Promise<void>((resolve, reject) => {
      let paused = false;
      first.stderr.on('data', (d: Buffer) => {
        firstErr += d;
        if (!paused && /generate \d+\/\d+/.test(firstErr)) {
          paused = first.kill('SIGSTOP');
          resolve();
        }
      });
      void firstDone.then(() => reject(new Error(`first exited before generating:\n${firstErr}`)));
    });

    const second = await persona(...args);
    first.kill('SIGCONT');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`persona: ${run}: in use by 'extract' (pid ${first.pid} on host ${hostname()}, since `);
    expect(second.stderr).toContain('wait for it to end or use another --run directory');

    expect(await firstDone, firstErr).toBe(0);
    const m = readManifest(run);
    expect(m.status).toBe('done');
    expect(firstErr).not.toMatch(/repeat a key/);
    const keys = readRecords<{ key: string }>(join(run, 'generations.jsonl')).map((r) => r.key);
    expect(keys.length).toBe(m.summary!['generated']);
    expect(new Set(keys).size).toBe(keys.length);
    expect(existsSync(join(run, 'vectors.safetensors'))).toBe(true);
    expect(existsSync(join(run, '.lock'))).toBe(false);
  }, 120_000);
});
