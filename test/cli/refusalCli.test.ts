import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persona } from './runCli.js';
import { readRecords } from '../../src/logs/runDir.js';

describe('persona refusal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-refusal-'));

  it('runs the study into a run directory: answers, result, report', async () => {
    const r = await persona('refusal', '--layers', '3', '--coeffs', '2', '--personas', 'nurse,baker', '--max-new-tokens', '10', '--run', join(dir, 'run'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/borderline requests, no persona: refused \d+%, content disclosed \d+%/);
    expect(r.stdout).toMatch(/nurse: stated refused \d+% \(own domains \d+%\), disclosed \d+%/);
    expect(r.stdout).toMatch(/geometry vs disclosure across personas/);
    const result = JSON.parse(readFileSync(join(dir, 'run', 'result.json'), 'utf8'));
    const answers = readRecords<{ condition: string; refused: boolean }>(join(dir, 'run', 'answers.jsonl'));
    const none = answers.filter((a) => a.condition === 'none');
    expect(result.none.refused).toBe(none.filter((a) => a.refused).length / none.length);
    expect(readFileSync(join(dir, 'run', 'refusal.html'), 'utf8')).toContain('Early decoding of refused answers');
    expect(JSON.parse(readFileSync(join(dir, 'run', 'manifest.json'), 'utf8')).status).toBe('done');
  });

  it('names a bad flag before loading the model', async () => {
    const r = await persona('refusal', '--personas', 'pirate', '--run', join(dir, 'bad'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--personas: unknown value 'pirate'/);
  });
});
