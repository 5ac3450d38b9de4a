// Steering the residual stream past what float32 holds used to answer "" for every question and
// exit 0. Now a vector too large for its coefficient is refused before any work, and steering that
// overflows only once several layers add up stops at the first step, before any answer is written.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { savePersonaVectors } from '../../src/directions/vectorFile.js';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { MAX_RESIDUAL_NORM } from '../../src/model/overflow.js';
import { syntheticVectorSet } from '../helpers/vectors.js';
import { persona } from './runCli.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-overflow-'));

function scaledSet(scale: (layer: number, v: Float32Array) => number) {
  const set = syntheticVectorSet(160, 4); // the embedded model's shape
  for (const [l, v] of set.vectors.response_avg.entries()) {
    const s = scale(l, v);
    v.forEach((x, i) => (v[i] = x * s));
  }
  return set;
}

describe('steering overflow from the command line', () => {
  it('a 1e20-scaled vector file: exit 1 naming --coeff, the layer and the norms; no run directory', async () => {
    const file = join(dir, 'huge.safetensors');
    savePersonaVectors(file, scaledSet(() => 1e20));
    const runs = join(dir, 'runs-huge');
    const r = await persona('steer', '--vector', file, '--layer', '2', '--coeff', '2', '--questions', '2', '--runs', runs);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--coeff: 2 times the layer 2 vector of .*huge\.safetensors \(\|v\| 3\.24e\+22\) is 6\.48e\+22; float32 activations overflow above 1\.84e\+19/);
    expect(r.stdout).not.toMatch(/^A:/m);
    expect(existsSync(runs)).toBe(false);
  }, 120_000);

  it('two layers each within bounds that overflow together: exit 1 at step 0, run failed, no answer recorded', async () => {
    // Layers 2 and 3 carry the same direction at 0.375 * 2^64, coefficient 2: each adds 0.75 * 2^64.
    const file = join(dir, 'pair.safetensors');
    const norm = (v: Float32Array) => Math.hypot(...v);
    savePersonaVectors(file, scaledSet((l, v) => (l === 2 || l === 3 ? (0.375 * MAX_RESIDUAL_NORM) / norm(v) : 1)));
    const run = join(dir, 'run-pair');
    const r = await persona('steer', '--vector', file, '--layer', '2', '3', '--coeff', '2', '--questions', '2', '--max-new-tokens', '4', '--run', run);
    expect(r.code).toBe(1);
    const message = /steering at layers 2 \(coeff 2, \|v\| 6\.92e\+18\), 3 \(coeff 2, \|v\| 6\.92e\+18\) made the logits degenerate at step 0, row 0 \(every token scores .*: the residual stream overflowed float32 before the final norm\)/;
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/^A:/m);
    expect(readRecords(join(run, 'steer.jsonl'))).toEqual([]);
    const m = readManifest(run);
    expect(m.status).toBe('failed');
    expect(m.error).toMatch(message);
  }, 120_000);
});
