// Decoding with the KV cache in fixed, masked slots (model/kvSlots.ts): store() writes each call's
// columns into the next free slots of buffers that never move and masks the rest; generation over
// slots gives the tokens of full recomputation and logits within float32 rounding of the contiguous
// cache (ragged, steered batches included); graphs where slots would be wrong (causal mask from
// position ids, a sliding window shorter than the buffer, no new-column outputs) are left on the
// contiguous path, and the check that decides it is the reason.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { generate } from '../../src/generation/generate.js';
import { KvSlots, slotsAllowed, slotsWork } from '../../src/model/kvSlots.js';
import { KvBuffers } from '../../src/model/kvBuffers.js';
import { loadModel } from '../../src/model/load.js';
import { parseModelConfig } from '../../src/model/config.js';
import { makeFixture } from '../fixtures/index.js';
import { fixtureModel } from '../runtime/helpers.js';

const cols = (B: number, h: number, S: number, d: number, seed: number) =>
  new ort.Tensor('float32', Float32Array.from({ length: B * h * S * d }, (_, i) => seed * 1000 + i), [B, h, S, d]);

describe('KvSlots.store', () => {
  it('writes new columns into the next free slots of unmoving buffers, masks the rest, and grows once full', () => {
    const slots = new KvSlots(6);
    const B = 2, h = 3, d = 2;
    const prefillMask = Uint8Array.from([0, 1, 1, 1, 1, 1]); // row 0 left-padded
    let c = slots.store(undefined, [cols(B, h, 3, d, 1)], prefillMask, B, 3);
    expect(c.past[0]!.dims).toEqual([B, h, 6, d]);
    expect(Array.from(c.mask)).toEqual([0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0]);
    const buffer = (c.past[0]!.data as Float32Array).buffer;
    const cache = () => ({ batch: B, length: c.capacity, mask: c.mask, tokens: new Int32Array(B), past: c.past, used: c.used });
    for (let step = 0; step < 3; step++) c = slots.store(cache(), [cols(B, h, 1, d, 10 + step)], Uint8Array.from([1, 1]), B, 1);
    expect((c.past[0]!.data as Float32Array).buffer).toBe(buffer); // nothing moved or reallocated
    const data = c.past[0]!.data as Float32Array;
    // Row r = b*h + head holds its prefill columns, then one column per step, in slot order.
    for (let r = 0; r < B * h; r++)
      for (let slot = 0; slot < 6; slot++)
        for (let k = 0; k < d; k++) {
          const want = slot < 3 ? 1000 + (r * 3 + slot) * d + k : (10 + slot - 3) * 1000 + r * d + k;
          expect(data[(r * 6 + slot) * d + k]).toBe(want);
        }
    expect(Array.from(c.mask)).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    // The seventh column outgrows six slots: a larger buffer keeps the same contents in front.
    const before = Array.from(data);
    c = slots.store(cache(), [cols(B, h, 1, d, 20)], Uint8Array.from([1, 0]), B, 1);
    expect(c.capacity).toBeGreaterThanOrEqual(7 + 32);
    const grown = c.past[0]!.data as Float32Array;
    for (let r = 0; r < B * h; r++) expect(Array.from(grown.subarray(r * c.capacity * d, (r * c.capacity + 6) * d))).toEqual(before.slice(r * 6 * d, (r + 1) * 6 * d));
    expect(c.mask[6]).toBe(1);
    expect(c.mask[c.capacity + 6]).toBe(0);
    expect(c.mask[7]).toBe(0);
  });

  it('allocates room as the cache grows, not the whole capacity asked for at prefill', () => {
    const slots = new KvSlots(1000);
    let c = slots.store(undefined, [cols(1, 2, 3, 4, 1)], Uint8Array.from([1, 1, 1]), 1, 3);
    expect(c.capacity).toBe(3 + 32);
    const cache = () => ({ batch: 1, length: c.capacity, mask: c.mask, tokens: Int32Array.from([c.used]), past: c.past, used: c.used });
    while (c.used < 35) c = slots.store(cache(), [cols(1, 2, 1, 4, c.used)], Uint8Array.from([1]), 1, 1);
    expect(c.capacity).toBe(35);
    c = slots.store(cache(), [cols(1, 2, 1, 4, 99)], Uint8Array.from([1]), 1, 1);
    expect(c.capacity).toBe(Math.max(Math.ceil(36 * 1.5), 36 + 32));
    const data = c.past[0]!.data as Float32Array;
    // Row 1 (head 1) keeps its 35 columns in front after the copy, then the 36th.
    expect(data[(1 * c.capacity + 0) * 4]).toBe(1000 + 3 * 4);
    expect(data[(1 * c.capacity + 35) * 4]).toBe(99 * 1000 + 4);
  });

  it('refuses a cache it does not hold, and one continued twice', () => {
    const slots = new KvSlots(4);
    const c = slots.store(undefined, [cols(1, 1, 2, 2, 1)], Uint8Array.from([1, 1]), 1, 2);
    const cache = { batch: 1, length: c.capacity, mask: c.mask, tokens: Int32Array.from([2]), past: c.past, used: c.used };
    slots.store(cache, [cols(1, 1, 1, 2, 2)], Uint8Array.from([1]), 1, 1);
    expect(() => slots.store(cache, [cols(1, 1, 1, 2, 3)], Uint8Array.from([1]), 1, 1)).toThrow(/continued already/);
    expect(() => new KvSlots(4).store(cache, [cols(1, 1, 1, 2, 3)], Uint8Array.from([1]), 1, 1)).toThrow(/not in these slots/);
  });
});

describe('generation over slots', () => {
  it('llama: slots are used, and tokens and logits (to float32 rounding) equal full recomputation', async () => {
    const { model } = await fixtureModel('llama');
    expect(slotsAllowed(model, 40)).toBe(true);
    expect(await slotsWork(model)).toBe(true);
    const prompts = [[5, 6, 7, 8, 9, 10], [11, 12]]; // ragged: row 1 left-padded
    const vector = Float32Array.from({ length: model.hiddenSize }, (_, i) => Math.cos(i));
    const steering = [{ layer: 2, vector, coeff: 3, positions: 'all' as const }];
    // See what the graph is fed: every decode step's past is the same slot buffer, capacity columns wide.
    const run = model.session.session.run.bind(model.session.session);
    const pasts: ort.Tensor[] = [];
    const first = model.session.cache[0]!.past;
    (model.session.session as { run: unknown }).run = (feeds: Record<string, ort.Tensor>, names: never) => (pasts.push(feeds[first]!), run(feeds as never, names));
    let viaSlots;
    try {
      viaSlots = await generate(model, prompts, { maxNewTokens: 12, stopIds: [], steering, keepLogits: true });
    } finally {
      (model.session.session as { run: unknown }).run = run;
    }
    const steps = pasts.filter((t) => t.dims[2] === 6 + 12);
    expect(steps.length).toBe(11);
    expect(new Set(steps.map((t) => (t.data as Float32Array).buffer)).size).toBe(1);
    const recompute = await generate(model, prompts, { maxNewTokens: 12, stopIds: [], steering, keepLogits: true, fullRecompute: true });
    expect(viaSlots.tokens).toEqual(recompute.tokens);
    let worst = 0;
    for (let s = 0; s < 12; s++)
      for (let i = 0; i < viaSlots.logits[s]!.length; i++) worst = Math.max(worst, Math.abs(viaSlots.logits[s]![i]! - recompute.logits[s]![i]!));
    expect(worst).toBeLessThan(1e-4);
    // A forward over a slot cache reports its slots: capacity columns fed, used ones counted.
    const slots = new KvSlots(16);
    let r = await model.forward({ inputIds: prompts, lastLogitsOnly: true, kvBuffers: slots });
    r = await model.forward({ inputIds: [[3], [4]], cache: r.cache, lastLogitsOnly: true, kvBuffers: slots });
    expect(r.cache!.used).toBe(7);
    expect(r.cache!.length).toBe(16);
    expect(r.attentionMask.length).toBe(2 * (16 + 1));
    const contiguous = await model.forward({ inputIds: prompts, lastLogitsOnly: true, kvBuffers: new KvBuffers() });
    expect(contiguous.cache!.used).toBeUndefined();
    console.log('kvSlots.test measured', { 'slots vs recompute logits abs': worst });
  });

  it('a graph whose causal mask follows position ids fails the check, and generation stays exact on the contiguous cache', async () => {
    const fx = await makeFixture('llama', { seed: 3, config: { causalFromPositions: true } });
    const model = await loadModel(fx.dir);
    try {
      expect(slotsAllowed(model, 40)).toBe(true); // nothing in its files tells...
      expect(await slotsWork(model)).toBe(false); // ...the check does
      const prompts = [[5, 6, 7, 8], [9, 10, 11, 12]]; // unpadded: this graph cannot take pads at all
      const g = await generate(model, prompts, { maxNewTokens: 8, stopIds: [] });
      const ref = await generate(model, prompts, { maxNewTokens: 8, stopIds: [], fullRecompute: true });
      expect(g.tokens).toEqual(ref.tokens);
      // Forcing slots on it would be wrong: the new token cannot see itself.
      const slots = new KvSlots(12);
      let a = await model.forward({ inputIds: [[5, 6, 7]], lastLogitsOnly: true, kvBuffers: slots });
      a = await model.forward({ inputIds: [[8]], cache: a.cache, lastLogitsOnly: true, kvBuffers: slots });
      const want = fx.reference([[5, 6, 7, 8]]).logits;
      const V = model.config.vocabSize;
      let diff = 0;
      for (let i = 0; i < V; i++) diff = Math.max(diff, Math.abs(a.logits[i]! - want[3 * V + i]!));
      expect(diff).toBeGreaterThan(1e-3);
    } finally {
      await model.dispose();
    }
  });

  it('a check that fails with an error leaves that generation on the contiguous cache and runs again next time', async () => {
    const fx = await makeFixture('llama', { seed: 5 });
    const model = await loadModel(fx.dir);
    try {
      const run = model.session.session.run.bind(model.session.session);
      let failures = 1;
      (model.session.session as { run: unknown }).run = (feeds: never, names: never) => {
        if (failures-- > 0) return Promise.reject(new Error('transient failure'));
        return run(feeds, names);
      };
      expect(await slotsWork(model)).toBe(false);
      const g = await generate(model, [[5, 6, 7]], { maxNewTokens: 4, stopIds: [] });
      expect(g.tokens[0]).toHaveLength(4);
      expect(await slotsWork(model)).toBe(true);
    } finally {
      await model.dispose();
    }
  });

  it('sliding windows from config.json: set, switched off (qwen2), absent, unreadable', () => {
    const base = { num_hidden_layers: 2, hidden_size: 8, num_attention_heads: 2, vocab_size: 10 };
    expect(parseModelConfig({ ...base, sliding_window: 4096 }).slidingWindow).toBe(4096);
    expect(parseModelConfig({ ...base, sliding_window: 4096, use_sliding_window: false }).slidingWindow).toBeUndefined();
    expect(parseModelConfig({ ...base, sliding_window: null }).slidingWindow).toBeUndefined();
    expect(parseModelConfig({ ...base }).slidingWindow).toBeUndefined();
    expect(parseModelConfig({ ...base, sliding_window: 'wide' }).slidingWindow).toBe(1); // the narrowest: no slots
  });

  it('a sliding window shorter than the buffer, fused attention and shared buffers keep the contiguous path', async () => {
    const gemma2 = (await fixtureModel('gemma2')).model;
    expect(gemma2.config.slidingWindow).toBe(4);
    expect(slotsAllowed(gemma2, 40)).toBe(false);
    for (const kind of ['llama-fused', 'genai-gqa'] as const) expect(slotsAllowed((await fixtureModel(kind)).model, 40)).toBe(false);
  });

  it('forward refuses slots on a graph that pads on the right', async () => {
    const { model } = await fixtureModel('llama');
    const s = model.session as { padding: string };
    const was = s.padding;
    s.padding = 'right';
    try {
      await expect(model.forward({ inputIds: [[5, 6]], kvBuffers: new KvSlots(4) })).rejects.toThrow(/kvBuffers: .* cannot keep its cache in masked slots/);
    } finally {
      s.padding = was;
    }
  });
});
