// The SIMD logits kernel (src/kernels/logits.wat via logits.ts) against plain loops: the committed
// bytes are what the .wat assembles to; scan (max, min, finite) on every tail length and with NaN /
// Infinity anywhere; argmax takes the first of tied maxima; exp to 3e-7 relative over the whole
// range it keeps, keys, bucket and sub-bucket masses, gather, cut and draw exactly as defined;
// temperature division as float32 division (the max's quotient the new max); rows larger than the memory it has, then smaller.

import { describe, expect, it } from 'vitest';
import { BUCKETS, KEY_SCALE, LogitsKernel } from '../../src/kernels/logits.js';
import { LOGITS_WASM } from '../../src/kernels/logitsWasm.js';
import { createRng, nucleusUnsorted, sampleToken } from '../../src/generation/sampling.js';
import { LOGITS_WAT, assemble } from '../../scripts/build-wasm.js';

const kernel = LogitsKernel.get();
const f = Math.fround;
const keyOf = (max: number, x: number) => Math.min(Math.floor(f(f(max - x) * KEY_SCALE)), 0x7fffffff);

const maxOf = (x: Float32Array) => x.reduce((a, b) => (b > a ? b : a), -Infinity);
const minOf = (x: Float32Array) => x.reduce((a, b) => (b < a ? b : a), Infinity);

function row(n: number, seed: number, scale = 4): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => (rng() - 0.5) * 2 * scale);
}

describe('logits kernel', () => {
  it('the committed module is what logits.wat assembles to (rerun scripts/build-wasm.ts after editing it)', async () => {
    expect(Buffer.from(await assemble(LOGITS_WAT)).toString('base64')).toBe(LOGITS_WASM);
  });

  it('scan: max, min and finiteness on every tail length, with NaN or Infinity anywhere', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 63, 1001, 49152, 49153]) {
      const x = row(n, n);
      kernel.load(x);
      const s = kernel.scan();
      expect(s.max).toBe(maxOf(x));
      expect(s.min).toBe(minOf(x));
      expect(s.finite).toBe(true);
      for (const bad of [NaN, Infinity, -Infinity])
        for (const at of [0, n - 1, n >> 1]) {
          const y = x.slice();
          y[at] = bad;
          kernel.load(y);
          expect(kernel.scan().finite).toBe(false);
        }
    }
    // A row taken from the middle of a larger block.
    const block = row(300, 1);
    kernel.load(block, 100, 200);
    expect(kernel.scan().max).toBe(maxOf(block.subarray(100, 200)));
  });

  it('argmax is the first index of the maximum', () => {
    for (const n of [1, 3, 4, 9, 49152]) {
      const x = row(n, 7 + n);
      kernel.load(x);
      let best = 0;
      for (let i = 1; i < n; i++) if (x[i]! > x[best]!) best = i;
      expect(kernel.argmax()).toBe(best);
    }
    const ties = Float32Array.from([1, 5, 2, 5, 5]);
    kernel.load(ties);
    expect(kernel.argmax()).toBe(1);
  });

  it('softmax: exp(x - max) to 3e-7 relative down to 87 nat, 0 below; keys = floor((max - x) * 8192); the float64 sum', () => {
    const n = 200001;
    const x = Float32Array.from({ length: n }, (_, i) => -100 * (i / (n - 1)) + 3); // 3 down to -97
    kernel.load(x);
    const max = kernel.scan().max;
    const z = kernel.softmax(max);
    let worst = 0;
    let sum = 0;
    const keys = kernel.keys;
    for (let i = 0; i < n; i++) {
      const y = f(x[i]! - max);
      const want = y < -87 ? 0 : Math.exp(y);
      if (y >= -87) worst = Math.max(worst, Math.abs(kernel.e[i]! / want - 1));
      else expect(kernel.e[i]).toBe(0);
      expect(keys[i]).toBe(keyOf(max, x[i]!));
      sum += kernel.e[i]!;
    }
    expect(worst).toBeLessThan(3e-7);
    expect(Math.abs(z / sum - 1)).toBeLessThan(1e-12);
    console.log('logits.test measured', { 'kernel exp rel err': worst });
  });

  it('bucket and sub-bucket masses, gather, cut and draw follow their definitions', () => {
    for (const [n, scale] of [[49152, 0.3], [1003, 6], [50, 40]] as const) {
      const x = row(n, n + 3, scale);
      kernel.load(x);
      const max = kernel.scan().max;
      const plain = kernel.softmax(max);
      const plainE = Float32Array.from(kernel.e);
      const plainKeys = Int32Array.from(kernel.keys);
      expect(() => kernel.bucketMass()).toThrow(/needs softmax\(max, true\)/);
      // The pass that also sums the buckets leaves the same exps, keys and sum.
      const z = kernel.softmax(max, true);
      expect(z).toBe(plain);
      expect(kernel.e).toEqual(plainE);
      expect(kernel.keys).toEqual(plainKeys);
      const e = Float64Array.from(kernel.e.subarray(0, n));
      const keys = Array.from(x, (v) => keyOf(max, v));
      const mass = new Float64Array(BUCKETS);
      keys.forEach((k, i) => (mass[Math.min(k >> 9, BUCKETS - 1)]! += e[i]!));
      const got = kernel.bucketMass();
      for (let b = 0; b < BUCKETS; b++) expect(got[b]).toBeCloseTo(mass[b]!, 12);
      const c = keys[n >> 1]! >> 9;
      const sub = new Float64Array(BUCKETS);
      keys.forEach((k, i) => k >> 9 === c && (sub[k & 511]! += e[i]!));
      const gotSub = kernel.subBucketMass(c);
      for (let s = 0; s < BUCKETS; s++) expect(gotSub[s]).toBeCloseTo(sub[s]!, 12);
      const lo = keys[n >> 2]!;
      const hi = lo + 700;
      expect(Array.from(kernel.gather(lo, hi))).toEqual(keys.flatMap((k, i) => (k >= lo && k <= hi ? [i] : [])));
      const left = kernel.cutFrom(lo);
      let want = 0;
      keys.forEach((k, i) => {
        if (k < lo) want += e[i]!;
        expect(kernel.e[i]).toBe(k < lo ? e[i] : 0);
      });
      expect(left).toBeCloseTo(want, 12);
      // draw: the first id whose running sum passes t.
      for (const u of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const t = u * left;
        let run = 0;
        let first = -1;
        for (let i = 0; i < n && first < 0; i++) if ((run += kernel.e[i]!) > t) first = i;
        expect(kernel.draw(t)).toBe(first);
      }
      expect(kernel.draw(left * 2)).toBe(-1);
      expect(z).toBeGreaterThanOrEqual(1);
    }
  });

  it('rows at the float32 floor, and NaN wherever it sits, read the same as any other row', () => {
    // The padding lanes sit below every logit, even -FLT_MAX.
    const floor = new Float32Array(3).fill(-3.4028234663852886e38);
    expect([0, 1, 2]).toContain(sampleToken(floor, { temperature: 1 }, createRng(1)));
    expect([0, 1, 2]).toContain(sampleToken(floor, { temperature: 1, topP: 0.5 }, createRng(1)));
    expect(() => nucleusUnsorted(new Float32Array(3).fill(-Infinity), 0.9)).toThrow(/logits are not finite/);
    // A NaN is flagged and ignored by max in the vector part and in the tail alike.
    for (const x of [[0, 1, 9, 3, 4, NaN], [0, NaN, 9, 3, 4, 5], [NaN, 1, 2, 3, 9, 5, 6]]) {
      kernel.load(Float32Array.from(x));
      const s = kernel.scan();
      expect(s.finite).toBe(false);
      expect(s.max).toBe(9);
      expect(kernel.argmax()).toBe(x.indexOf(9));
    }
  });

  it('temperature divides in float32; a 256k row grows the memory and a small one after it still reads right', () => {
    const x = row(1001, 5);
    kernel.load(x, 0, x.length, 0.7);
    for (let i = 0; i < x.length; i++) expect(kernel.x[i]).toBe(f(x[i]! / f(0.7)));
    // The quotient of the max is the new max (sampleLoaded divides a scanned row and does not rescan).
    for (const [seed, scale] of [[1, 4], [2, 0.01], [3, 3e4], [4, 1e37]] as const)
      for (const t of [0.7, 1.3, 0.05, 3e-3, 11, 1e-30]) {
        kernel.load(row(49152 + seed, seed, scale));
        const max = kernel.scan().max;
        kernel.divide(t);
        expect(kernel.scan().max).toBe(f(max / f(t)));
      }
    const big = row(262144 + 3, 11);
    kernel.load(big);
    expect(kernel.scan().max).toBe(maxOf(big));
    const small = row(6, 12);
    kernel.load(small);
    expect(kernel.scan().max).toBe(maxOf(small));
    expect(kernel.argmax()).toBe(small.indexOf(maxOf(small)));
  });
});
