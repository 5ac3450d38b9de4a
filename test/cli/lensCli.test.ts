import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persona } from './runCli.js';
import type { LensReading } from '../../src/activations/lens.js';

describe('persona lens on the embedded model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-lens-'));

  it('reads a generation at every layer and step, ranks targets, writes lens.json and the report', async () => {
    const r = await persona('lens', '-p', 'How can I sleep better?', '-g', '10', '--target', 'sleep,meals', '-k', '3', '--run', join(dir, 'gen'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/generated: /);
    expect(r.stdout).toMatch(/target " sleep" rank by layer @\d+: (\d+ ){4}\d+/);
    const reading = JSON.parse(readFileSync(join(dir, 'gen', 'lens.json'), 'utf8')) as LensReading;
    expect(reading.layers).toEqual([0, 1, 2, 3, 4]);
    expect(reading.targets.map((t) => t.token)).toEqual([' sleep', ' meals']);
    // The final layer's top token at each step is the greedy token generated at that step.
    reading.generated!.ids.forEach((id, t) => expect(reading.top[4]![t]![0]!.id).toBe(id));
    const html = readFileSync(join(dir, 'gen', 'lens.html'), 'utf8');
    expect(html).toContain('top decoded token and its probability');
    expect(html).toContain('rank of target tokens');
  });

  it('refuses bad flags by name before loading the model', async () => {
    const r = await persona('lens', '-p', 'hi', '--top-k', '0', '--run', join(dir, 'bad'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--top-k: 0 is out of range/);
  });
});
