import { describe, expect, it } from 'vitest';
import { mapConcurrent } from '../../src/io/concurrency.js';

describe('bounded concurrency', () => {
  it('keeps at most `limit` calls in flight and returns results in input order', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapConcurrent([50, 10, 30, 5, 20, 1, 15], 3, async (ms, i) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
      return i * 10;
    });
    expect(out).toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(peak).toBe(3);
  });

  it('stops handing out work after the first error and rejects with it', async () => {
    const started: number[] = [];
    await expect(mapConcurrent([0, 1, 2, 3, 4, 5], 2, async (x) => {
      started.push(x);
      if (x === 1) throw new Error('judge down');
      await new Promise((r) => setTimeout(r, 5));
      return x;
    })).rejects.toThrow('judge down');
    expect(started.length).toBeLessThan(6);
    await expect(mapConcurrent([1], 0, async (x) => x)).rejects.toThrow(/limit must be a positive integer/);
  });
});
