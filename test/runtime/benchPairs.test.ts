// The bench's paired comparisons alternate which side runs first (scripts/bench-pairs.ts), as the
// README says of every paired row: pair 0 runs the first side first, pair 1 the second.

import { describe, expect, it } from 'vitest';
import { inTurn, median } from '../../scripts/bench-pairs.js';

describe('bench pairs', () => {
  it('inTurn alternates the order, runs `between` between the two, and returns results in argument order', async () => {
    const order: string[] = [];
    const side = (name: string) => async () => (order.push(name), name);
    const between = async () => void order.push('|');
    expect(await inTurn(0, side('a'), side('b'), between)).toEqual(['a', 'b']);
    expect(await inTurn(1, side('a'), side('b'), between)).toEqual(['a', 'b']);
    expect(await inTurn(2, side('a'), side('b'))).toEqual(['a', 'b']);
    expect(order).toEqual(['a', '|', 'b', 'b', '|', 'a', 'a', 'b']);
  });

  it('median is the middle value (upper middle for an even count)', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
  });
});
