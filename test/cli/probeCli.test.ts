import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persona, personaError } from './runCli.js';
import { saveProbe } from '../../src/directions/probes/probeFile.js';
import { readRecords } from '../../src/logs/runDir.js';
import { syntheticProbe } from '../probes/helpers.js';

describe('persona probe', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-probe-'));
  const data = join(dir, 'age.jsonl');
  const train = join(dir, 'train');

  it('data -> train -> read on the embedded model', async () => {
    const d = await persona('probe', 'data', '-o', data, '--attributes', 'age', '--per-class', '6', '--conditions', 'implicit,explicit', '--turns', '1-2');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('wrote 48 conversations');
    const t = await persona('probe', 'train', '--data', data, '--folds', '3', '--run', train);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/age \(4 classes, 48 rows, chance 25\.0%\): best layer [1-4]/);
    expect(t.stdout).toContain('control by layer');
    const m = JSON.parse(readFileSync(join(train, 'manifest.json'), 'utf8'));
    expect(m.status).toBe('done');
    expect(m.outputs['probe:age']).toBe('probes/age.safetensors');
    expect(readRecords(join(train, 'layers.jsonl'))).toHaveLength(10); // reading + control x 5 layers
    expect(existsSync(join(train, 'probes.html')) && existsSync(join(train, 'probes', 'age-control.safetensors'))).toBe(true);
    const r = await persona('probe', 'read', '--probes', train, '--conversation', data, '--index', '3', '--run', join(dir, 'read'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/turn 1 age@\d: \w+/);
    expect(existsSync(join(dir, 'read', 'read.html'))).toBe(true);
  }, 240_000);

  it('bad flags, data rows and probe files fail naming the flag, line, field or file', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, readFileSync(data, 'utf8').split('\n')[0] + '\n{"messages":[{"role":"bot","content":"hi"}],"labels":{"age":"child"},"cue":"explicit"}\n');
    const cases: [string[], RegExp][] = [
      [['probe', 'data', '-o', join(dir, 'x.jsonl'), '--per-class', 'abc'], /--per-class: 'abc' is not an integer/],
      [['probe', 'data', '-o', join(dir, 'x.jsonl'), '--attributes', 'age,height'], /--attributes: unknown value 'height'/],
      [['probe', 'train', '--data', bad], /bad\.jsonl:2: field 'messages\[0\]\.role' must be one of system, user, assistant \(got "bot"\)/],
      [['probe', 'train', '--data', data, '--attributes', 'height'], /attribute 'height': the data has 0 class\(es\)/],
      [['probe', 'train', '--data', data, '--folds', '1'], /--folds: 1 is out of range/],
      [['probe', 'steer', '--probes', train, '--layers', '9'], /--layers: 9 is out of range \(expected integers from 0 to 4/],
      [['probe', 'steer', '--probes', train, '--layers', '1-4:0'], /--layers: step in '1-4:0' must be at least 1/],
      [['probe', 'steer', '--probes', train, '--layers', '4-1'], /--layers: range '4-1' runs backwards/],
      [['probe', 'steer', '--probes', train, '--layers', '3', '--direction', 'sideways'], /--direction: unknown value 'sideways'/],
    ];
    const other = join(dir, 'other.safetensors');
    saveProbe(other, syntheticProbe({ hiddenSize: 64, numLayers: 4, dir: '/elsewhere' }, ['a', 'b']));
    cases.push([['probe', 'steer', '--probes', other, '--layers', '3'], /other\.safetensors: made for hidden size 64 \(\/elsewhere\), but the model has hidden size 160/]);
    // One through the binary (exit code, message on stderr); the rest in this process, which says
    // the same thing without a child's start-up each.
    const [[args0, pattern0], ...rest] = cases;
    const r = await persona(...args0!);
    expect(r.code, args0!.join(' ')).toBe(1);
    expect(r.stderr, args0!.join(' ')).toMatch(pattern0!);
    for (const [args, pattern] of rest) expect(await personaError(...args), args.join(' ')).toMatch(pattern);
  }, 240_000);
});
