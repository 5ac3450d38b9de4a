// Atomic writes from worker threads: threads share the process id, so temp names carry the thread
// too; two threads writing the same file at once each commit whole content, never a rename of a
// temp file the other one already moved.

import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const tsxApi = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
const atomic = new URL('../../src/io/atomic.ts', import.meta.url).href;

function writer(path: string, tag: string, times: number, barrier: SharedArrayBuffer): Promise<void> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(tsxApi)}).then(async (t) => {
      t.register();
      const { writeFileAtomic } = await import(${JSON.stringify(atomic)});
      // Both threads start writing at once (each one's counter starts at 0, as the other's).
      const go = new Int32Array(workerData.barrier);
      Atomics.add(go, 0, 1);
      while (Atomics.load(go, 0) < 2) Atomics.wait(go, 0, 1, 1);
      for (let i = 0; i < workerData.times; i++) writeFileAtomic(workerData.path, workerData.tag.repeat(4096));
      parentPort.postMessage('done');
    });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { path, tag, times, barrier } });
    w.once('message', () => resolve());
    w.once('error', reject);
  });
}

describe('atomic writes from threads', () => {
  it('two threads writing one file leave one of the two whole contents and no temp files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atomic-threads-'));
    const path = join(dir, 'out.json');
    const barrier = new SharedArrayBuffer(4);
    await Promise.all([writer(path, 'a', 300, barrier), writer(path, 'b', 300, barrier)]);
    const text = readFileSync(path, 'utf8');
    expect(text.length).toBe(4096);
    expect([['a'.repeat(4096)], ['b'.repeat(4096)]]).toContainEqual([text]);
    expect(readdirSync(dir)).toEqual(['out.json']);
  }, 60_000);
});
