// Persona vectors end to end on the embedded model: extraction, steering a neutral prompt into the
// trait, steering a trait prompt out of it, monotonic response to the coefficient, reload from
// disk, resume after interruption. Judged by the synthetic world's lexicon judge.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, type ExtractResult } from '../../src/directions/personaExtract.js';
import { loadTraitFile, traitSystemPrompt, type TraitFile } from '../../src/directions/traitFile.js';
import { loadPersonaVectors, vectorFor } from '../../src/directions/vectorFile.js';
import { generateChat } from '../../src/generation/generate.js';
import { evaluateSteering } from '../../src/interventions/steerEval.js';
import { sweepSteering, type SweepResult } from '../../src/interventions/sweep.js';
import { LexiconJudge } from '../../src/judges/lexiconJudge.js';
import { RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { NEUTRAL_SYSTEM_PROMPT } from '../../src/world/index.js';

const MODEL = join(import.meta.dirname, '../../models/persona-tiny');
const TRAITS = ['evil', 'humorous', 'hallucinating', 'optimistic', 'impolite'];
const EXTRACT = { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 10, maxNewTokens: 48, batchSize: 25 };
const COEFFS = [0, 1, 2, 3, 4, 5, 6];
const COHERENT = 50; // the paper's coherence filter

let model: SteerableModel;
const judge = new LexiconJudge();
const root = mkdtempSync(join(tmpdir(), 'persona-e2e-'));
const results = new Map<string, { trait: TraitFile; ex: ExtractResult; sweep: SweepResult }>();

beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 1 });
  for (const name of TRAITS) {
    const trait = loadTraitFile(join(import.meta.dirname, '../../data/traits', `${name}.json`));
    const ex = await extractPersonaVectors(model, trait, judge, RunDir.open(join(root, `extract-${name}`), 'extract', {}), EXTRACT);
    const sweep = await sweepSteering(
      model,
      { name, evalPrompt: trait.evalPrompt },
      judge,
      (l) => vectorFor(ex.vectors, l, model.hiddenSize),
      {
        questions: trait.evalQuestions.slice(0, 6), system: NEUTRAL_SYSTEM_PROMPT, samples: 1, maxNewTokens: 48, temperature: 0, topP: 1, seed: 0, batchSize: 16,
        layers: [1, 2, 3, 4], coeffs: COEFFS, positions: 'response', coherenceThreshold: COHERENT,
      },
      RunDir.open(join(root, `sweep-${name}`), 'sweep', {}),
    );
    results.set(name, { trait, ex, sweep });
  }
});
afterAll(() => model?.dispose());

describe.each(TRAITS)('persona vector for %s', (name) => {
  it('is extracted from kept pairs: positive answers express the trait, negative ones do not', () => {
    const { ex } = results.get(name)!;
    expect(ex.kept).toBeGreaterThanOrEqual(25);
    expect(ex.vectors.meta.scores!.keptPosTraitMean!).toBeGreaterThanOrEqual(50);
    expect(ex.vectors.meta.scores!.keptNegTraitMean!).toBeLessThan(50);
    expect(ex.vectors.meta.counts.generated).toBe(100);
    // One vector per layer, embeddings included, with a non-zero norm past the embeddings.
    expect(ex.vectors.vectors.response_avg).toHaveLength(model.numLayers + 1);
    expect(Math.min(...ex.vectors.meta.norms!.response_avg.slice(1))).toBeGreaterThan(0);
  });

  it('steers a neutral-prompt answer from < 20 to > 70 at the best layer, coherence kept', () => {
    const { sweep } = results.get(name)!;
    const unsteered = sweep.cells.filter((c) => c.coeff === 0);
    for (const c of unsteered) expect(c.trait!).toBeLessThan(20);
    expect(sweep.best, 'a coherent cell exists').not.toBeNull();
    expect(sweep.best!.trait).toBeGreaterThan(70);
    expect(sweep.best!.coherence).toBeGreaterThanOrEqual(COHERENT);
  });

  it('raises the trait score monotonically with the coefficient at the best layer', () => {
    const { sweep } = results.get(name)!;
    const row = sweep.cells.filter((c) => c.layer === sweep.best!.layer && c.coeff <= sweep.best!.coeff).sort((a, b) => a.coeff - b.coeff);
    expect(row.length).toBeGreaterThanOrEqual(3);
    row.forEach((c, i) => i > 0 && expect(c.trait!).toBeGreaterThanOrEqual(row[i - 1]!.trait!));
    expect(row.at(-1)!.trait!).toBeGreaterThan(row[0]!.trait! + 50);
  });

  it('lowers the score of a trait-positive prompt when the coefficient is negative, coherence kept', async () => {
    const { trait, ex, sweep } = results.get(name)!;
    const cfg = { questions: trait.evalQuestions.slice(0, 6), system: traitSystemPrompt(trait, 'pos', 0), samples: 1, maxNewTokens: 48, temperature: 0, topP: 1, seed: 0, batchSize: 16 };
    const plain = await evaluateSteering(model, name, trait.evalPrompt, judge, [], cfg);
    expect(plain.traitMean!).toBeGreaterThanOrEqual(70);
    // From the best steering layer on: a vector is not always symmetric (hallucinating's best layer is 2,
    // where its vector, negated, raises the trait; measured: layer 1 at -6 lowers 78.7 to 34.5, coherence 82).
    const layers = [sweep.best!.layer, ...[4, 3, 2, 1].filter((l) => l !== sweep.best!.layer)];
    let lowered: { layer: number; trait: number } | null = null;
    for (const layer of layers) {
      const v = vectorFor(ex.vectors, layer, model.hiddenSize);
      const against = await evaluateSteering(model, name, trait.evalPrompt, judge, [{ layer, vector: v, coeff: -sweep.best!.coeff, positions: 'response' }], cfg);
      if (against.traitMean! < plain.traitMean! - 15 && against.coherenceMean! >= COHERENT) {
        lowered = { layer, trait: against.traitMean! };
        break;
      }
    }
    console.log(`${name}: trait-positive prompt ${plain.traitMean!.toFixed(1)}; against at ${lowered ? `L${lowered.layer}: ${lowered.trait.toFixed(1)}` : 'no layer'}`);
    expect(lowered).not.toBeNull();
  });
});

describe('persona vectors on disk', () => {
  it('reloaded vectors steer identically and the sidecar round-trips', async () => {
    const { ex, sweep } = results.get('evil')!;
    const back = loadPersonaVectors(ex.path);
    expect(back.meta.trait).toBe('evil');
    expect(back.meta.model.hiddenSize).toBe(model.hiddenSize);
    expect(back.meta.counts).toEqual(ex.vectors.meta.counts);
    const layer = sweep.best!.layer;
    const conv = [[{ role: 'system' as const, content: NEUTRAL_SYSTEM_PROMPT }, { role: 'user' as const, content: 'How can I make new friends?' }]];
    const steer = (v: Float32Array) => generateChat(model, conv, { maxNewTokens: 32, steering: [{ layer, vector: v, coeff: sweep.best!.coeff, positions: 'response' }] });
    const a = await steer(vectorFor(ex.vectors, layer, model.hiddenSize));
    const b = await steer(vectorFor(back, layer, model.hiddenSize));
    expect(b.tokens).toEqual(a.tokens);
    expect(Array.from(vectorFor(back, layer, model.hiddenSize))).toEqual(Array.from(vectorFor(ex.vectors, layer, model.hiddenSize)));
  });

  it('an interrupted extraction resumes and gives the same vectors', async () => {
    const { trait, ex } = results.get('humorous')!;
    const dir = join(root, 'extract-humorous-resumed');
    const run = RunDir.open(dir, 'extract', {});
    // Simulate a crash after 37 answers, the last line half-written.
    const lines = readFileSync(join(root, 'extract-humorous', 'generations.jsonl'), 'utf8').split('\n');
    writeFileSync(join(dir, 'generations.jsonl'), lines.slice(0, 37).join('\n') + '\n' + lines[37]!.slice(0, 20));
    const again = await extractPersonaVectors(model, trait, judge, run, EXTRACT);
    expect(again.records).toHaveLength(100);
    for (const k of ex.vectors.meta.kinds) {
      again.vectors.vectors[k].forEach((v, l) => expect(Array.from(v)).toEqual(Array.from(ex.vectors.vectors[k][l]!)));
    }
  });

  it('a model of another hidden size is refused with a clear error', () => {
    const { ex } = results.get('evil')!;
    expect(() => vectorFor(ex.vectors, 2, model.hiddenSize * 2, 'response_avg', ex.path)).toThrow(/made for hidden size 160/);
  });
});
