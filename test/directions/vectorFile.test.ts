import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keptPairs, type GenerationRecord } from '../../src/directions/personaExtract.js';
import { LAYER_CONVENTION, loadPersonaVectors, savePersonaVectors, sidecarPath, vectorFor } from '../../src/directions/vectorFile.js';
import { syntheticVectorSet } from '../helpers/vectors.js';

const set = syntheticVectorSet;

describe('persona vector files', () => {
  it('round-trip vectors exactly and the sidecar metadata with norms', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pv-'));
    const p = join(dir, 'evil.safetensors');
    const s = set();
    savePersonaVectors(p, s);
    const back = loadPersonaVectors(p);
    for (const k of s.meta.kinds) back.vectors[k].forEach((v, l) => expect(Array.from(v)).toEqual(Array.from(s.vectors[k][l]!)));
    expect(back.meta.trait).toBe('evil');
    expect(back.meta.counts).toEqual({ pos: 5, neg: 5, generated: 20 });
    expect(back.meta.scores).toEqual({ posTraitMean: 81.5, negTraitMean: 3 });
    expect(back.meta.layerConvention).toBe(LAYER_CONVENTION);
    expect(back.meta.norms.response_avg[2]).toBeCloseTo(Math.hypot(...s.vectors.response_avg[2]!), 5);
    // Saving what was loaded gives the same bytes (vectors) and the same metadata.
    const p2 = join(dir, 'again.safetensors');
    savePersonaVectors(p2, back);
    expect(readFileSync(p2).equals(readFileSync(p))).toBe(true);
    expect(JSON.parse(readFileSync(sidecarPath(p2), 'utf8'))).toEqual(JSON.parse(readFileSync(sidecarPath(p), 'utf8')));
  });

  it('refuses a vector made for another hidden size, and a bad layer', () => {
    const s = set(4, 3);
    expect(() => vectorFor(s, 2, 8, 'response_avg', 'evil.safetensors')).toThrow(/evil\.safetensors: made for hidden size 4 .* model has hidden size 8/);
    expect(() => vectorFor(s, 9, 4, 'response_avg', 'evil.safetensors')).toThrow(/layer 9 out of range 0\.\.3/);
    expect(Array.from(vectorFor(s, 1, 4))).toEqual(Array.from(s.vectors.response_avg[1]!));
  });

  it('names the file at fault when the sidecar or a tensor is missing or wrong', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pv-'));
    const p = join(dir, 'v.safetensors');
    expect(() => loadPersonaVectors(p)).toThrow(/v\.safetensors: vector file not found/);
    savePersonaVectors(p, set());
    const side = sidecarPath(p);
    const meta = JSON.parse(readFileSync(side, 'utf8'));
    writeFileSync(side, JSON.stringify({ ...meta, format: 'other' }));
    expect(() => loadPersonaVectors(p)).toThrow(/v\.json: field 'format'/);
    writeFileSync(side, JSON.stringify({ ...meta, model: { ...meta.model, hiddenSize: 5 } }));
    expect(() => loadPersonaVectors(p)).toThrow(/tensor 'response_avg' has shape \[4,4\], expected \[layers, 5\]/);
    writeFileSync(side, JSON.stringify(meta, null, 2).replace('"trait": "evil",', '"trait": evil,'));
    expect(() => loadPersonaVectors(p)).toThrow(/v\.json:3:12: invalid JSON/);
  });

  it('ties the sidecar to its tensor file: a pair not written together is refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pv-'));
    const [a, b] = [join(dir, 'a.safetensors'), join(dir, 'b.safetensors')];
    savePersonaVectors(a, set());
    const other = set();
    other.vectors.response_avg[1]![0] = 42;
    savePersonaVectors(b, other);
    expect(JSON.parse(readFileSync(sidecarPath(a), 'utf8')).tensorSha256).toMatch(/^[0-9a-f]{64}$/);
    // A second writer (or a crash between the two commits) left b's tensors under a's sidecar.
    copyFileSync(b, a);
    expect(() => loadPersonaVectors(a)).toThrow(/a\.json: describes another version of .*a\.safetensors \(tensorSha256 does not match/);
  });

  it('refuses NaN or infinite values in a vector file, naming the tensor and layer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pv-'));
    const p = join(dir, 'nan.safetensors');
    const s = set();
    s.vectors.prompt_avg[2]![3] = Number.NaN;
    savePersonaVectors(p, s);
    expect(() => loadPersonaVectors(p)).toThrow(/nan\.safetensors: tensor 'prompt_avg' layer 2 holds a non-finite value \(NaN\) at index 3/);
  });
});

describe('extraction filter', () => {
  const rec = (polarity: 'pos' | 'neg', q: number, trait: number | null, coherence: number | null, answer = 'an answer'): GenerationRecord => ({
    key: `${polarity}:0:${q}:0`, polarity, instruction: 0, question: q, sample: 0, system: '', user: '', answer, finish: 'stop', trait, coherence, seed: 0,
  });
  it('keeps only pairs with pos >= 50, neg < 50 and both coherent', () => {
    const records = [
      rec('pos', 0, 80, 90), rec('neg', 0, 10, 90), // kept
      rec('pos', 1, 49, 90), rec('neg', 1, 10, 90), // pos too weak
      rec('pos', 2, 80, 90), rec('neg', 2, 50, 90), // neg too strong
      rec('pos', 3, 80, 40), rec('neg', 3, 0, 90), // incoherent
      rec('pos', 4, 90, 90), rec('neg', 4, null, 90), // unjudged
      rec('pos', 5, 50, 50), rec('neg', 5, 49.9, 50), // boundaries kept
      rec('pos', 6, 90, 90), rec('neg', 6, 0, 90, ''), // empty neg answer: nothing to average
    ];
    const kept = keptPairs(records, { pos: 50, neg: 50, coherence: 50 });
    expect(kept.map(([p]) => p.question)).toEqual([0, 5]);
    expect(keptPairs(records, { pos: 85, neg: 50, coherence: 50 })).toEqual([]);
  });
});
