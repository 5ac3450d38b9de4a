// Decoding keeps the KV cache in buffers of its own and fetches only each step's new columns:
// KvBuffers.append is a concatenation along the sequence axis, in place in one buffer (float32 and
// float16, growing past its room), a cache continued twice fails by name, instrumented
// Optimum-style graphs expose `<present>.new`, and a cached forward with kvBuffers fetches no
// present output and equals the whole-present path bit for bit.

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { KvBuffers } from '../../src/model/kvBuffers.js';
import { graph, model as modelMsg, node, valueInfo } from '../../src/onnx/build.js';
import { fixtureModel } from '../runtime/helpers.js';

function tensor(dims: [number, number, number, number], seed: number, half = false): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return half
    ? new ort.Tensor('float16', Uint16Array.from({ length: n }, (_, i) => (seed * 7919 + i * 31) & 0x3bff), dims)
    : new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 100 + i)), dims);
}

/** Reference concatenation of [B, h, L, d] and [B, h, S, d] along axis 2. */
function concat(a: ort.Tensor | undefined, b: ort.Tensor): number[] {
  const [B, h, S, d] = b.dims as number[];
  const L = a?.dims[2] ?? 0;
  const out: number[] = [];
  for (let r = 0; r < B! * h!; r++) {
    if (a) out.push(...Array.from((a.data as Float32Array).subarray(r * L * d!, (r + 1) * L * d!)));
    out.push(...Array.from((b.data as Float32Array).subarray(r * S! * d!, (r + 1) * S! * d!)));
  }
  return out;
}

describe('KvBuffers', () => {
  it.each([false, true])('append = concatenation along the sequence axis, float16 %s, through regrowth', (half) => {
    const kv = new KvBuffers();
    let past: ort.Tensor | undefined;
    let expected: number[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for (let step = 0; step < 12; step++) {
      const fresh = tensor([2, 3, step === 0 ? 5 : 1, 4], step, half);
      expected = concat(past, fresh);
      past = kv.append(0, past, fresh);
      expect(past.dims).toEqual([2, 3, (step === 0 ? 5 : 5 + step), 4]);
      expect(Array.from(past.data as Float32Array)).toEqual(expected);
      buffers.add((past.data as Float32Array).buffer);
    }
    // One buffer, grown by half (at least 32 columns) when full: these 16 columns never outgrow it.
    expect(buffers.size).toBe(1);
  });

  it('names the cache when the new columns do not continue it, or when it was continued already', () => {
    const kv = new KvBuffers();
    const past = kv.append(3, undefined, tensor([1, 2, 4, 8], 1));
    expect(() => kv.append(3, past, tensor([1, 3, 1, 8], 2))).toThrow(/KV cache 3: past \[1,2,4,8\] does not continue/);
    kv.append(3, past, tensor([1, 2, 1, 8], 3));
    expect(() => kv.append(3, past, tensor([1, 2, 1, 8], 4))).toThrow(/KV cache 3: this cache was continued already/);
  });
});

describe('why: onnxruntime-node hands every fetched output back in a fresh buffer', () => {
  it('a preallocated CPU output is written, and the result is still a copy in another buffer', async () => {
    const g = graph({ name: 'id', nodes: [node({ op: 'Identity', inputs: ['x'], outputs: ['y'] })], inputs: [valueInfo('x', 1, ['n'])], outputs: [valueInfo('y', 1, ['n'])] });
    const s = await ort.InferenceSession.create(Buffer.concat(modelMsg(g, [{ domain: '', version: 17 }]).parts));
    const x = new ort.Tensor('float32', Float32Array.from({ length: 1024 }, (_, i) => i), [1024]);
    const mine = new ort.Tensor('float32', new Float32Array(1024), [1024]);
    const r = await s.run({ x }, { y: mine });
    expect((mine.data as Float32Array)[7]).toBe(7); // written in place...
    expect((r.y!.data as Float32Array).buffer).not.toBe((mine.data as Float32Array).buffer); // ...and copied again
    await s.release();
  });
});

describe('what this onnxruntime-node offers for device-resident outputs (the README GPU plan)', () => {
  it('gpu-buffer outputs are a WebGPU feature: the webgpu provider is bundled, and the CPU provider hands them back on the CPU', async () => {
    expect(ort.listSupportedBackends()).toContainEqual({ name: 'webgpu', bundled: true });
    const g = graph({ name: 'id', nodes: [node({ op: 'Identity', inputs: ['x'], outputs: ['y'] })], inputs: [valueInfo('x', 1, ['n'])], outputs: [valueInfo('y', 1, ['n'])] });
    const s = await ort.InferenceSession.create(Buffer.concat(modelMsg(g, [{ domain: '', version: 17 }]).parts), { executionProviders: ['cpu'], preferredOutputLocation: 'gpu-buffer' });
    const r = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3]), [3]) });
    expect(r.y!.location).toBe('cpu');
    expect(Array.from(r.y!.data as Float32Array)).toEqual([1, 2, 3]);
    await s.release();
  });
});

describe('decoding with new-column outputs', () => {
  it('an instrumented Optimum graph fetches only new columns, the cache stays in one buffer, and logits equal the whole-present path', async () => {
    const { model } = await fixtureModel('llama');
    const cache = model.session.cache;
    expect(cache.length).toBeGreaterThan(0);
    expect(cache.every((c) => c.columns === `${c.present}.new`)).toBe(true);
    // Wrap session.run to see what is fetched (the real session still runs).
    const run = model.session.session.run.bind(model.session.session);
    const fetched: string[][] = [];
    (model.session.session as { run: unknown }).run = (feeds: unknown, names: string[] | Record<string, unknown>) => (fetched.push(Array.isArray(names) ? names : Object.keys(names)), run(feeds as never, names as never));
    try {
      const prompt = [[5, 6, 7, 8, 9]];
      const kv = new KvBuffers();
      let a = await model.forward({ inputIds: prompt, lastLogitsOnly: true, kvBuffers: kv });
      let b = await model.forward({ inputIds: prompt, lastLogitsOnly: true });
      const seen: ArrayBufferLike[] = [];
      for (let step = 0; step < 6; step++) {
        expect(Array.from(a.logits)).toEqual(Array.from(b.logits));
        for (let i = 0; i < cache.length; i++) expect(Array.from(a.cache!.past[i]!.data as Float32Array)).toEqual(Array.from(b.cache!.past[i]!.data as Float32Array));
        seen.push((a.cache!.past[0]!.data as Float32Array).buffer);
        a = await model.forward({ inputIds: [[10 + step]], cache: a.cache, lastLogitsOnly: true, kvBuffers: kv });
        b = await model.forward({ inputIds: [[10 + step]], cache: b.cache, lastLogitsOnly: true });
      }
      const withColumns = fetched.filter((_, i) => i % 2 === 0);
      expect(withColumns.every((names) => !names.some((n) => cache.some((c) => c.present === n)))).toBe(true);
      expect(withColumns.every((names) => cache.every((c) => names.includes(c.columns!)))).toBe(true);
      // Every step's cache lives in the same buffer (no allocation per step).
      expect(new Set(seen).size).toBe(1);
    } finally {
      (model.session.session as { run: unknown }).run = run;
    }
  });
});
