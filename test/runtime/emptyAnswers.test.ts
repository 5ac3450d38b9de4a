// An answer the model ends at once (first token a stop token) and maxNewTokens 0 are valid
// results: '' with finish 'stop' / 'length', next to normal rows of the same batch.

import { describe, expect, it } from 'vitest';
import { generate, generateChat } from '../../src/generation/generate.js';
import { fixtureModel } from './helpers.js';

describe('empty answers', () => {
  it('a row whose first token is a stop token gives "" while the other rows go on', async () => {
    const { model } = await fixtureModel('llama');
    const convs = [[{ role: 'user', content: 'Hi' }], [{ role: 'user', content: 'Tell me a story.' }]];
    const free = await generateChat(model, convs, { maxNewTokens: 4, stopIds: [] });
    const firstOfRow0 = free.tokens[0]![0]!;
    expect(free.tokens[1]![0]).not.toBe(firstOfRow0); // otherwise both rows would stop
    const r = await generateChat(model, convs, { maxNewTokens: 4, stopIds: [firstOfRow0] });
    expect(r.tokens[0]).toEqual([]);
    expect(r.text[0]).toBe('');
    expect(r.finishReason[0]).toBe('stop');
    expect(r.tokens[1]!.length).toBeGreaterThan(0);
    expect(r.tokens[1]).toEqual(free.tokens[1]!.slice(0, r.tokens[1]!.length));
  });

  it('maxNewTokens 0 returns empty answers without running the model', async () => {
    const { model } = await fixtureModel('llama');
    const r = await generate(model, [[1, 10, 11], [1, 12]], { maxNewTokens: 0 });
    expect(r.tokens).toEqual([[], []]);
    expect(r.text).toEqual(['', '']);
    expect(r.finishReason).toEqual(['length', 'length']);
    expect(r.timings.steps).toEqual([]);
  });
});
