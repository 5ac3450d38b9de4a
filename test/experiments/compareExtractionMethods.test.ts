// The script behind the README's extraction-method table (scripts/compare-extraction-methods.ts),
// run as it is, on tiny settings: one trait, 8 answer pairs, one sweep layer, two coefficients.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXTRACTION_METHODS } from '../../src/directions/extractionMethods.js';
import { ROOT } from '../cli/runCli.js';

describe('scripts/compare-extraction-methods.ts', () => {
  it('extracts once, sweeps every method on the same kept pairs, and writes the table, results and report', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'methods-')), 'cmp');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/compare-extraction-methods.ts', 'evil', '--questions', '4', '--instructions', '2', '--eval', '2', '--layers', '4', '--coeffs', '0,4', '--tokens', '24', '--out', out],
      { cwd: ROOT, timeout: 240_000 },
    );
    const rows = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { trait: string; method: string; layer: number | null; coeff: number | null; score: number | null }[];
    expect(rows.map((r) => r.method)).toEqual([...EXTRACTION_METHODS]);
    for (const r of rows) {
      expect(r.trait).toBe('evil');
      // The best cell is a steered one at the only layer swept, or none was coherent.
      if (r.score !== null) expect([r.layer, r.coeff]).toEqual([4, 4]);
    }
    const table = readFileSync(join(out, 'table.md'), 'utf8').trim().split('\n');
    expect(table[0]).toBe(`| trait | ${EXTRACTION_METHODS.join(' | ')} |`);
    expect(table[2]).toMatch(/^\| evil( \| ([\d.]+ \(L4, c=4, coh \d+\)|no coherent cell)){5} \|$/);
    expect(stdout).toContain(table[2]);
    expect(existsSync(join(out, 'compare-methods.html'))).toBe(true);
    // One extraction run, one sweep run per method.
    expect(existsSync(join(out, 'extract-evil', 'generations.jsonl'))).toBe(true);
    for (const m of EXTRACTION_METHODS) expect(existsSync(join(out, `sweep-evil-${m}`, 'manifest.json')), m).toBe(true);
  }, 300_000);
});
