// Early decoding (logit lens): the head built from each fixture's own graph reproduces the model's
// logits from hidden_states[L] exactly, and decodes earlier layers like the reference forward's
// final norm + LM head applied to the reference hidden states.

import { afterAll, describe, expect, it } from 'vitest';
import { ALL_FIXTURE_KINDS, type FixtureKind } from '../fixtures/index.js';
import { EXPORT_KINDS } from '../fixtures/exports.js';
import { LensHead } from '../../src/model/lensHead.js';
import { lensGeneration, lensPrompt } from '../../src/activations/lens.js';
import { loadModel } from '../../src/model/load.js';
import { fixtureModel, maxAbsErr, measured, record, relErr } from './helpers.js';

afterAll(() => console.log('lens.test measured maxima', JSON.stringify(measured)));

const IDS = [[1, 40, 57, 99, 120, 7, 260, 13, 2, 1, 33]];

// The export kinds include genai-gqa, whose logits output is renamed through genai_config.json.
const KINDS: FixtureKind[] = [...ALL_FIXTURE_KINDS, ...EXPORT_KINDS];

describe.each(KINDS)('%s', (kind) => {
  it('the last layer reproduces the logits; every layer matches the reference norm + head', async () => {
    const { fx, model } = await fixtureModel(kind);
    const head = await LensHead.load(model);
    const r = await model.forward({ inputIds: IDS, hiddenLayers: 'all' });
    const L = model.numLayers;
    const seq = IDS[0]!.length;
    const last = await head.decode(r.hidden.get(L)!, 1, seq);
    record(`last layer vs logits rel ${kind}`, relErr(last, r.logits));
    // Bit for bit, except fp16: ORT fuses the model's last residual add into the final norm,
    // which then normalises the sum before it is rounded to half precision (1 ulp apart).
    if (kind.endsWith('fp16')) expect(relErr(last, r.logits)).toBeLessThan(1e-3);
    else expect(maxAbsErr(last, r.logits)).toBe(0);

    const ref = fx.reference(IDS, { lens: true });
    const tol = kind.endsWith('fp16') ? 3e-3 : kind.endsWith('int4') ? 1e-3 : 1e-4;
    for (let l = 0; l <= L; l++) {
      // The reference's own hidden state through our head, and the lens as a whole.
      const viaRef = await head.decode(ref.hidden[l]!, 1, seq);
      const e = relErr(viaRef, ref.lens![l]!);
      record(`head(ref hidden) rel ${kind}`, e);
      expect(e, `layer ${l}`).toBeLessThan(tol);
      const ours = await head.decode(r.hidden.get(l)!, 1, seq);
      expect(relErr(ours, ref.lens![l]!), `layer ${l}`).toBeLessThan(tol);
    }
    await head.release();
  });
});

describe('lens readings', () => {
  it('top tokens, probabilities and target ranks agree with the logits; generation reads every step', async () => {
    const { model } = await fixtureModel('llama');
    const head = await LensHead.load(model);
    const ids = IDS[0]!;
    const reading = await lensPrompt(model, head, ids, { topK: 3, targets: [5, 40] });
    const L = model.numLayers;
    expect(reading.layers).toEqual([...Array(L + 1).keys()]);
    expect(reading.top).toHaveLength(L + 1);
    const r = await model.forward({ inputIds: [ids], hiddenLayers: 'none' });
    const V = model.config.vocabSize;
    for (let p = 0; p < ids.length; p++) {
      const row = r.logits.subarray(p * V, (p + 1) * V);
      const order = [...row.keys()].sort((a, b) => row[b]! - row[a]!);
      expect(reading.top[L]![p]!.map((t) => t.id)).toEqual(order.slice(0, 3));
      const probs = reading.top[L]![p]!.map((t) => t.prob);
      expect(probs[0]).toBeGreaterThanOrEqual(probs[1]!);
      for (const t of reading.targets) {
        expect(t.rank[L]![p]).toBe(order.indexOf(t.id) + 1);
        const z = row.reduce((s, x) => s + Math.exp(x - row[order[0]!]!), 0);
        expect(t.prob[L]![p]).toBeCloseTo(Math.exp(row[t.id]! - row[order[0]!]!) / z, 6);
      }
    }
    // Generation: the last layer's top token at each step is the greedy token generated there.
    const g = await lensGeneration(model, head, [{ role: 'user', content: 'hi' }], { maxNewTokens: 6, topK: 1 });
    expect(g.generated!.ids.length).toBeGreaterThan(0);
    g.generated!.ids.forEach((id, t) => expect(g.top[L]![t]![0]!.id).toBe(id));
    await expect(lensPrompt(model, head, ids, { layers: [L + 1] })).rejects.toThrow(new RegExp(`lens layer ${L + 1} out of range 0..${L}`));
    await expect(lensPrompt(model, head, ids, { targets: [V] })).rejects.toThrow(/target token/);
  });

  it('decodes persona-tiny: the last layer is its logits', async () => {
    const model = await loadModel('models/persona-tiny', { threads: 1 });
    const head = await LensHead.load(model);
    const ids = model.tokenizer.encodeChat([{ role: 'user', content: 'How can I sleep better?' }], { addGenerationPrompt: true });
    const r = await model.forward({ inputIds: [ids], hiddenLayers: [model.numLayers] });
    expect(maxAbsErr(await head.decode(r.hidden.get(model.numLayers)!, 1, ids.length), r.logits)).toBe(0);
    await head.release();
  });
});
