import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persona } from './runCli.js';
import { readRecords } from '../../src/logs/runDir.js';
import { cosine, norm } from '../../src/directions/meanAccumulator.js';
import { loadPersonaVectors } from '../../src/directions/vectorFile.js';

describe('persona extract / steer / sweep on the embedded model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-persona-'));
  const vec = join(dir, 'evil.safetensors');

  it('extract writes a run directory and the vectors with their sidecar', async () => {
    const r = await persona('extract', '--trait', 'evil', '--questions', '4', '--max-new-tokens', '48', '--run', join(dir, 'ex'), '-o', vec);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/kept \d+ pairs of 20/);
    const manifest = JSON.parse(readFileSync(join(dir, 'ex', 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('done');
    expect(manifest.config.judge).toBe('lexicon');
    expect(readRecords(join(dir, 'ex', 'generations.jsonl'))).toHaveLength(40);
    expect(existsSync(vec) && existsSync(join(dir, 'evil.json'))).toBe(true);
  });

  it('extract --method pca-diff: the same answers, a PCA direction per layer at the mean difference\'s norm', async () => {
    const pca = join(dir, 'evil-pca.safetensors');
    const r = await persona('extract', '--trait', 'evil', '--questions', '4', '--max-new-tokens', '48', '--method', 'pca-diff', '--run', join(dir, 'ex-pca'), '-o', pca);
    expect(r.code, r.stderr).toBe(0);
    const answers = (d: string) => readRecords<{ answer: string }>(join(dir, d, 'generations.jsonl')).map((x) => x.answer);
    expect(answers('ex-pca')).toEqual(answers('ex'));
    const [mean, pc] = [loadPersonaVectors(vec), loadPersonaVectors(pca)];
    expect(JSON.parse(readFileSync(join(dir, 'ex-pca', 'manifest.json'), 'utf8')).config.method).toBe('pca-diff');
    expect(pc.meta.method).toBe('pca-diff');
    const ev = (pc.meta as unknown as { explainedVariance: { response_avg: number[] } }).explainedVariance.response_avg;
    expect(ev).toHaveLength(5);
    expect(ev.slice(1).every((x) => x > 0 && x <= 1)).toBe(true);
    const cosines = [1, 2, 3, 4].map((l) => {
      const [a, b] = [mean.vectors.response_avg[l]!, pc.vectors.response_avg[l]!];
      expect(norm(b)).toBeCloseTo(norm(a), 3);
      return cosine(a, b);
    });
    // Centring the differences removes their mean, so the direction is not the mean difference's.
    expect(Math.min(...cosines)).toBeLessThan(0.99);
  });

  it('steer logs answers with scores; sweep writes the table and heatmap report', async () => {
    const s = await persona('steer', '--vector', vec, '--layer', '2', '--coeff', '4', '--questions', '3', '--run', join(dir, 'st'));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/mean evil \d+\.\d, coherence \d+\.\d/);
    const recs = readRecords<{ steering: { layer: number; coeff: number }[]; trait: number }>(join(dir, 'st', 'steer.jsonl'));
    expect(recs).toHaveLength(3);
    expect(recs[0]!.steering).toEqual([{ layer: 2, coeff: 4, positions: 'response' }]);

    const w = await persona('sweep', '--vector', vec, '--layers', '1-2', '--coeffs', '0,4', '--questions', '2', '--run', join(dir, 'sw'));
    expect(w.code, w.stderr).toBe(0);
    // The best cell is a steered one (coefficient 4: 0 is the baseline), and the printout says so.
    const best = JSON.parse(readFileSync(join(dir, 'sw', 'sweep.json'), 'utf8')).best;
    expect(best).toMatchObject({ coeff: 4 });
    expect(w.stdout).toContain(`best layer ${best.layer} (coeff 4: evil ${best.trait.toFixed(1)}, coherence ${best.coherence.toFixed(1)})`);
    expect(readFileSync(join(dir, 'sw', 'sweep.csv'), 'utf8').trim().split('\n')).toHaveLength(5);
    expect(readFileSync(join(dir, 'sw', 'sweep.html'), 'utf8')).toContain('Steering sweep: evil');
  });

  it('bad trait files and vectors fail with the file and field named', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ instruction: [{ pos: 'x' }], questions: ['q'], eval_prompt: '{question}{answer}' }));
    const r = await persona('extract', '--trait', bad, '--run', join(dir, 'bad'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}: instruction[0].neg must be a string`);
    const v = await persona('steer', '--vector', join(dir, 'missing.safetensors'));
    expect(v.code).toBe(1);
    expect(v.stderr).toMatch(/missing\.safetensors: vector file not found/);
  });
});
