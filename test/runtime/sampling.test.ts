// Sampling: reproducible by seed, top-k / top-p keep exactly the right candidates, greedy, penalty.

import { describe, expect, it } from 'vitest';
import { argmax, createRng, nucleus, nucleusUnsorted, sampleToken, topIndices } from '../../src/generation/sampling.js';

const softmax = (x: Float32Array) => {
  const m = Math.max(...x);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

describe('sampling', () => {
  const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 1.7) * 4);

  it('the same seed gives the same draws, another seed different ones', () => {
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1, seed }, rng));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it('greedy is argmax; temperature 0 is greedy', () => {
    const rng = createRng(0);
    expect(sampleToken(logits, undefined, rng)).toBe(argmax(logits));
    expect(sampleToken(logits, { temperature: 0, topP: 0.5 }, rng)).toBe(argmax(logits));
  });

  it('top-p keeps the smallest most-likely set reaching p, and samples only from it', () => {
    const p = softmax(logits);
    const order = [...p.keys()].sort((a, b) => p[b]! - p[a]!);
    for (const topP of [0.1, 0.5, 0.9, 0.99]) {
      let mass = 0;
      let k = 0;
      while (mass < topP) mass += p[order[k++]!]!;
      const { ids, probs } = nucleus(logits, 0, topP);
      expect(Array.from(ids)).toEqual(order.slice(0, k));
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
      const allowed = new Set(ids);
      const rng = createRng(3);
      for (let i = 0; i < 300; i++) expect(allowed.has(sampleToken(logits, { topP, seed: 3 }, rng))).toBe(true);
    }
  });

  it('the sort-free nucleus keeps exactly the sorted nucleus set', () => {
    const rng = createRng(5);
    const cases = [logits, Float32Array.from({ length: 5000 }, () => rng() * 0.01), Float32Array.from({ length: 3000 }, () => rng() * 30), Float32Array.from([1, 1, 1, 1])];
    for (const x of cases)
      for (const topP of [0.01, 0.3, 0.5, 0.9, 0.999]) {
        const a = nucleus(x, 0, topP);
        const b = nucleusUnsorted(x, topP);
        expect(Array.from(b.ids).sort((i, j) => i - j)).toEqual(Array.from(a.ids).sort((i, j) => i - j));
      }
  });

  it('the sort-free nucleus equals the sorted one on a near-uniform 49k vocabulary and on massive ties', () => {
    // Near-uniform logits put thousands of tokens in the bucket that crosses p (the sub-bucket case);
    // three distinct values make whole sub-buckets of equal probabilities, ordered by id.
    const rng = createRng(9);
    const cases = [Float32Array.from({ length: 49152 }, () => rng() * 0.6), Float32Array.from({ length: 49152 }, (_, i) => [0, 0.25, 0.5][i % 3]!)];
    for (const x of cases)
      for (const topP of [0.1, 0.5, 0.9]) {
        const a = nucleus(x, 0, topP);
        const b = nucleusUnsorted(x, topP);
        expect(Array.from(b.ids)).toEqual(Array.from(a.ids).sort((i, j) => i - j));
      }
  });

  it('top-k keeps every token tied with the k-th score, as Hugging Face does', () => {
    const x = Float32Array.from([5, 1, 3, 3, 0, 3, 4]);
    const { ids, probs } = nucleus(x, 2, 1);
    expect(Array.from(ids)).toEqual([0, 6]);
    const tied = nucleus(x, 3, 1);
    expect(Array.from(tied.ids)).toEqual([0, 6, 2, 3, 5]);
    expect(tied.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('sample frequencies follow the nucleus probabilities', () => {
    const x = Float32Array.from([2, 1, 0.5, -1, -3]);
    const { ids, probs } = nucleus(x, 0, 0.9);
    const counts = new Map<number, number>();
    const rng = createRng(42);
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const t = sampleToken(x, { topP: 0.9 }, rng);
      counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    ids.forEach((id, j) => expect(Math.abs((counts.get(id) ?? 0) / n - probs[j]!)).toBeLessThan(0.015));
    expect([...counts.keys()].every((t) => Array.from(ids).includes(t))).toBe(true);
  });

  it('a temperature draws as temperature 1 over the logits divided by it (float32), top-p or not', () => {
    const x = Float32Array.from({ length: 5003 }, (_, i) => 6 * Math.sin(i * 0.37) + (i % 7));
    for (const t of [0.3, 0.8, 2.5])
      for (const topP of [1, 0.9, 0.5]) {
        const divided = x.map((v) => Math.fround(v / Math.fround(t)));
        const [a, b] = [createRng(5), createRng(5)];
        const got = Array.from({ length: 200 }, () => sampleToken(x, { temperature: t, topP }, a));
        const want = Array.from({ length: 200 }, () => sampleToken(divided, { temperature: 1, topP }, b));
        expect(got).toEqual(want);
      }
  });

  it('top-k keeps the k largest; topIndices orders them', () => {
    expect(Array.from(topIndices(Float32Array.from([3, 9, 1, 9, 5]), 3))).toEqual([1, 3, 4]);
    const { ids } = nucleus(logits, 5, 1);
    expect(Array.from(ids)).toEqual(Array.from(topIndices(logits, 5)));
    const rng = createRng(1);
    const allowed = new Set(ids);
    for (let i = 0; i < 200; i++) expect(allowed.has(sampleToken(logits, { topK: 5 }, rng))).toBe(true);
  });

  it('repetition penalty demotes tokens already in the context', () => {
    const x = Float32Array.from([3, 2.9, -1]);
    expect(sampleToken(x, { temperature: 0, repetitionPenalty: 1.5 }, createRng(0), [0])).toBe(1);
    expect(sampleToken(x, { temperature: 0 }, createRng(0), [0])).toBe(0);
    expect(x[0]).toBe(3); // input logits untouched
  });
});
