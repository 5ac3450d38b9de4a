// The generation loop: KV cache == full recomputation == reference forward, with and without
// steering; batched (left-padded) generation == one row at a time; seeded sampling.

import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/generation/generate.js';
import { argmax, createRng, sampleToken } from '../../src/generation/sampling.js';
import type { SteerPositions } from '../../src/model/steering.js';
import { fixtureModel, maxAbsErr, measured, randomVector, record, rows } from './helpers.js';

afterAll(() => console.log('generate.test measured maxima', JSON.stringify(measured)));

const N = 8;

/** Reference steer positions for a mode, over a sequence of `S` tokens with a P-token prompt. */
function refPositions(mode: SteerPositions, P: number, S: number): number[] {
  const all = [...Array(S).keys()];
  if (mode === 'all') return all;
  if (mode === 'prompt') return all.filter((p) => p < P);
  if (mode === 'response') return all.filter((p) => p >= P - 1);
  return mode.filter((p) => p < S);
}

describe('KV-cache generation', () => {
  const modes: (SteerPositions | 'none')[] = ['none', 'all', 'prompt', 'response', [2, 9, 13]];
  it.each(['llama', 'gpt2', 'llama-merged'] as const)('%s: cache == recompute == reference, every steering mode', async (kind) => {
    const { fx, model } = await fixtureModel(kind);
    const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'Tell me a story.' }], { addGenerationPrompt: true });
    const P = prompt.length;
    const v = randomVector(model.hiddenSize, 5, 1.5);
    for (const mode of modes) {
      for (const sampling of [undefined, { temperature: 1.3, topK: 50, topP: 0.95, seed: 9 }]) {
        const steering = mode === 'none' ? [] : [{ layer: 2, vector: v, coeff: 1, positions: mode }];
        const opts = { maxNewTokens: N, steering, sampling, keepLogits: true, stopIds: [] };
        const cached = await generate(model, [prompt], opts);
        const recomputed = await generate(model, [prompt], { ...opts, fullRecompute: true });
        expect(cached.tokens, `${JSON.stringify(mode)}`).toEqual(recomputed.tokens);
        expect(cached.tokens[0]!.length).toBe(N);
        for (let t = 0; t < N; t++) {
          const e = maxAbsErr(cached.logits[t]!, recomputed.logits[t]!);
          record('cache vs recompute logits abs', e);
          expect(e).toBeLessThan(1e-4);
        }
        // Reference: the whole sequence at once, steering at the positions the mode implies.
        const seq = prompt.concat(cached.tokens[0]!.slice(0, N - 1));
        const S = seq.length;
        const ref = fx.reference([seq], {
          steer: mode === 'none' ? [] : [{ layer: 2, vector: v, positions: refPositions(mode, P, S) }],
        });
        const V = cached.logits[0]!.length;
        for (let t = 0; t < N; t++) {
          const e = maxAbsErr(cached.logits[t]!, rows(ref.logits, 0, S, V, P - 1 + t, P + t));
          record('cache vs reference logits abs', e);
          expect(e, `${JSON.stringify(mode)} step ${t}`).toBeLessThan(1e-4);
        }
      }
    }
  });

  it('each step draws as sampleToken over its logits, penalised by hand for the tokens so far', async () => {
    const { model } = await fixtureModel('llama');
    // The prompt ends in the model's own greedy continuation, whose tokens it would pick again.
    const chat = model.tokenizer.encodeChat([{ role: 'user', content: 'Tell me a story.' }], { addGenerationPrompt: true });
    const prompt = chat.concat((await generate(model, [chat], { maxNewTokens: 16, stopIds: [] })).tokens[0]!);
    for (const sampling of [{ temperature: 0.7, topP: 0.9, repetitionPenalty: 1.4, seed: 3 }, { temperature: 0, repetitionPenalty: 2 }]) {
      const g = await generate(model, [prompt], { maxNewTokens: N, stopIds: [], sampling, keepLogits: true });
      const rng = createRng(sampling.seed ?? 0);
      const seen = new Set(prompt);
      let penalised = 0; // steps whose best token the penalty demoted: where the draw must rescan
      for (let t = 0; t < N; t++) {
        const x = g.logits[t]!.slice();
        if (seen.has(argmax(x))) penalised++;
        for (const id of seen) x[id] = x[id]! > 0 ? x[id]! / sampling.repetitionPenalty : x[id]! * sampling.repetitionPenalty;
        const tok = sampleToken(x, { temperature: sampling.temperature, topP: sampling.topP }, rng);
        expect(g.tokens[0]![t], `${JSON.stringify(sampling)} step ${t}`).toBe(tok);
        seen.add(tok);
      }
      expect(penalised).toBeGreaterThan(0);
    }
  });

  it('steering changes the output (sanity: the vector is not a no-op)', async () => {
    const { model } = await fixtureModel('llama');
    const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    const v = randomVector(model.hiddenSize, 5, 3);
    const a = await generate(model, [prompt], { maxNewTokens: 6, keepLogits: true, stopIds: [] });
    const b = await generate(model, [prompt], {
      maxNewTokens: 6,
      keepLogits: true,
      stopIds: [],
      steering: [{ layer: 1, vector: v, coeff: 1, positions: 'response' }],
    });
    expect(maxAbsErr(a.logits[0]!, b.logits[0]!)).toBeGreaterThan(1e-2);
  });

  it('a left-padded batch generates what each row generates alone (with steering)', async () => {
    const { model } = await fixtureModel('qwen2');
    const prompts = ['Hello', 'What is the capital of France, please?', 'Why?'].map((q) =>
      model.tokenizer.encodeChat([{ role: 'user', content: q }], { addGenerationPrompt: true }),
    );
    const v = randomVector(model.hiddenSize, 8, 1);
    for (const positions of ['response', 'prompt', [3, 20]] as SteerPositions[]) {
      const opts = {
        maxNewTokens: 6,
        keepLogits: true,
        steering: [{ layer: 1, vector: v, coeff: 1, positions }],
        captureLayers: [0, 3],
      };
      const batched = await generate(model, prompts, opts);
      for (const [b, p] of prompts.entries()) {
        const one = await generate(model, [p], opts);
        expect(batched.tokens[b]).toEqual(one.tokens[0]);
        const V = one.logits[0]!.length;
        for (let t = 0; t < one.logits.length; t++) {
          const e = maxAbsErr(batched.logits[t]!.subarray(b * V, (b + 1) * V), one.logits[t]!);
          record('batched vs single generation logits abs', e);
          expect(e).toBeLessThan(1e-4);
        }
        const H = model.hiddenSize;
        expect(maxAbsErr(batched.hidden.get(3)![0]!.subarray(b * H, (b + 1) * H), one.hidden.get(3)![0]!)).toBeLessThan(1e-4);
      }
    }
  });

  it('stops on stop ids, streams tokens and reports timings', async () => {
    const { model } = await fixtureModel('llama');
    const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    const free = await generate(model, [prompt], { maxNewTokens: 5, stopIds: [] });
    const stopAt = free.tokens[0]![2]!;
    const streamed: number[] = [];
    const r = await generate(model, [prompt], { maxNewTokens: 5, stopIds: [stopAt], onToken: (e) => streamed.push(e.tokens[0]!) });
    const firstStop = free.tokens[0]!.indexOf(stopAt);
    expect(r.tokens[0]).toEqual(free.tokens[0]!.slice(0, firstStop));
    expect(r.finishReason[0]).toBe('stop');
    expect(streamed).toEqual(free.tokens[0]!.slice(0, firstStop + 1));
    expect(r.timings.steps.length).toBe(firstStop + 1);
    expect(r.text[0]).toBe(model.tokenizer.decode(r.tokens[0]!));
    expect(free.finishReason[0]).toBe('length');
  });

  it('step timings measure the step, not the onToken callback, and the whole covers the callbacks', async () => {
    const { model } = await fixtureModel('llama');
    const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
    const SLOW = 80; // ms a slow consumer spends per token
    const r = await generate(model, [prompt], {
      maxNewTokens: 4,
      stopIds: [],
      onToken: () => {
        const t = performance.now();
        while (performance.now() - t < SLOW);
      },
    });
    expect(r.timings.steps).toHaveLength(4);
    for (const s of r.timings.steps) {
      expect(s.runMs).toBeGreaterThan(0);
      // A step of this tiny model takes a few ms; the callback's 80 ms must not be in it.
      expect(s.totalMs).toBeLessThan(SLOW);
    }
    expect(r.timings.totalMs).toBeGreaterThanOrEqual(4 * SLOW);
    expect(r.timings.runMs).toBeCloseTo(r.timings.steps.reduce((a, s) => a + s.runMs, 0), 9);
  });

  it('float16 model: cache == recompute (looser)', async () => {
    const { model } = await fixtureModel('llama-fp16');
    const prompt = model.tokenizer.encodeChat([{ role: 'user', content: 'Tell me a story.' }], { addGenerationPrompt: true });
    const v = randomVector(model.hiddenSize, 5, 1);
    const opts = { maxNewTokens: 6, keepLogits: true, stopIds: [], steering: [{ layer: 2, vector: v, coeff: 1, positions: 'response' as const }] };
    const a = await generate(model, [prompt], opts);
    const b = await generate(model, [prompt], { ...opts, fullRecompute: true });
    expect(a.tokens).toEqual(b.tokens);
    for (let t = 0; t < 6; t++) {
      const e = maxAbsErr(a.logits[t]!, b.logits[t]!);
      record('fp16 cache vs recompute logits abs', e);
      expect(e).toBeLessThan(2e-2);
    }
  });
});

describe('per-row sampling seeds', () => {
  it('a row samples the same tokens whatever else shares its batch', async () => {
    const { model } = await fixtureModel('llama');
    try {
      const a = [5, 9, 14, 3, 7];
      const b = [11, 4, 8];
      const sampling = { temperature: 1.5, topP: 0.95 };
      const alone = await generate(model, [a], { maxNewTokens: 12, stopIds: [], sampling: { ...sampling, rowSeeds: [1234] } });
      const paired = await generate(model, [b, a], { maxNewTokens: 12, stopIds: [], sampling: { ...sampling, rowSeeds: [99, 1234] } });
      expect(paired.tokens[1]).toEqual(alone.tokens[0]);
      const other = await generate(model, [a], { maxNewTokens: 12, stopIds: [], sampling: { ...sampling, rowSeeds: [1235] } });
      expect(other.tokens[0]).not.toEqual(alone.tokens[0]);
      await expect(generate(model, [a, b], { sampling: { ...sampling, rowSeeds: [1] } })).rejects.toThrow(/rowSeeds has 1 seeds for 2 prompts/);
    } finally {
      await model.dispose();
    }
  });
});
