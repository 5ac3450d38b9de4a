// `persona serve` as a user starts it: the real binary in a child process, on loopback, a request
// streamed while SIGTERM arrives (it finishes), a clean exit, and a run directory that says so.

import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { persona, ROOT } from '../cli/runCli.js';
import { streamedText } from './helpers.js';

describe('persona serve (CLI)', () => {
  it('refuses bad flags by name before loading the model', async () => {
    const r = await persona('serve', '--port', 'eighty');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--port: 'eighty' is not an integer/);
  });

  it('serves on loopback, finishes a streaming answer after SIGTERM, exits cleanly and logs the request', async () => {
    const runs = mkdtempSync(join(tmpdir(), 'serve-cli-'));
    const run = join(runs, 'run');
    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin/persona.js'), 'serve', '--port', '0', '--traits', 'evil', '--attributes', 'age', '--cache', join(tmpdir(), 'persona-steer-test-cache', 'cli'), '--run', run],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /persona serve: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'How can I sleep better?' }], max_tokens: 48, temperature: 0, stream: true }),
    });
    // Stop the server once the answer has started: it must still arrive whole.
    const reader = res.body!.getReader();
    let text = '';
    const first = await reader.read();
    text += new TextDecoder().decode(first.value);
    child.kill('SIGTERM');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    const payloads = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
    expect(payloads.at(-1)).toBe('[DONE]');
    const events = payloads.slice(0, -1).map((p) => JSON.parse(p));
    expect(streamedText(events).length).toBeGreaterThan(0);
    expect(await exited).toBe(0);
    expect(err).toMatch(/SIGTERM: finishing running answers/);
    const manifest = readManifest(run);
    expect(manifest.status).toBe('done');
    expect(manifest.summary).toMatchObject({ requests: { requests: 1 } });
    const [logged] = readRecords<{ response: { text: string } }>(join(run, 'requests.jsonl'));
    expect(logged!.response.text).toBe(streamedText(events));
    // Once stopped, nothing listens there any more.
    await expect(fetch(`${url}/v1/models`)).rejects.toThrow();
  });
});
