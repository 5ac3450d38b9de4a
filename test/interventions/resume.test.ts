// steer and sweep resume (README: "rerunning resumes"): answers already in the run directory are
// reused, never generated again, and an interrupted run ends with the same results as a whole one.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateSteering } from '../../src/interventions/steerEval.js';
import { sweepSteering, type SweepConfig } from '../../src/interventions/sweep.js';
import { LexiconJudge } from '../../src/judges/lexiconJudge.js';
import { RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../../src/directions/personaExtract.js';
import { syntheticVectorSet } from '../helpers/vectors.js';

const ROOT = join(import.meta.dirname, '../..');
const trait = loadTraitFile(join(ROOT, 'data/traits/evil.json'));
const judge = new LexiconJudge();
const vectors = syntheticVectorSet(160, 4).vectors.response_avg.map((v) => v.map((x) => x / 40));
const cfg: SweepConfig = {
  questions: trait.evalQuestions.slice(0, 3), system: 'You are a helpful assistant.', samples: 1, maxNewTokens: 8, temperature: 1, topP: 1, seed: 3, batchSize: 2,
  layers: [1, 2], coeffs: [0, 2], positions: 'response', coherenceThreshold: 50,
};
let model: SteerableModel;
const dir = mkdtempSync(join(tmpdir(), 'resume-'));
beforeAll(async () => (model = await loadModel(join(ROOT, 'models/persona-tiny'), { threads: 1 })));
afterAll(() => model?.dispose());

/** The first `n` lines of a run's steer.jsonl, then half of the next one: a run killed mid-write. */
function interrupted(from: string, to: string, n: number): void {
  const lines = readFileSync(join(from, 'steer.jsonl'), 'utf8').split('\n');
  writeFileSync(join(to, 'steer.jsonl'), lines.slice(0, n).join('\n') + '\n' + lines[n]!.slice(0, 25));
}

describe('resume', () => {
  it('steer: an interrupted evaluation generates only the missing answers and ends with the same records', async () => {
    const steering = [{ layer: 2, vector: vectors[2]!, coeff: 3, positions: 'response' as const }];
    const whole = await evaluateSteering(model, 'evil', trait.evalPrompt, judge, steering, cfg, { run: RunDir.open(join(dir, 'steer-whole'), 'steer', {}) });
    const run = RunDir.open(join(dir, 'steer-resumed'), 'steer', {});
    interrupted(join(dir, 'steer-whole'), run.dir, 2);
    let generated = 0;
    const resumed = await evaluateSteering(model, 'evil', trait.evalPrompt, judge, steering, cfg, { run, onAnswers: (n) => (generated += n) });
    expect(generated).toBe(1);
    expect(resumed.records).toEqual(whole.records);
    expect(run.records('steer')).toHaveLength(3);
  }, 120_000);

  it('extract: records written twice (two writers on one run) are counted once, so the vectors are unchanged', async () => {
    const ex = { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 4, maxInstructions: 1, maxNewTokens: 32, batchSize: 8 };
    const once = await extractPersonaVectors(model, trait, judge, RunDir.open(join(dir, 'extract-once'), 'extract', {}), ex);
    expect(once.kept).toBeGreaterThan(0);
    const run = RunDir.open(join(dir, 'extract-twice'), 'extract', {});
    const lines = readFileSync(join(dir, 'extract-once', 'generations.jsonl'), 'utf8');
    writeFileSync(join(run.dir, 'generations.jsonl'), lines + lines);
    const twice = await extractPersonaVectors(model, trait, judge, run, ex);
    expect(twice.kept).toBe(once.kept);
    expect(twice.records).toHaveLength(once.records.length);
    expect(twice.vectors.meta.counts).toEqual(once.vectors.meta.counts);
    twice.vectors.vectors.response_avg.forEach((v, l) => expect(Array.from(v)).toEqual(Array.from(once.vectors.vectors.response_avg[l]!)));
  }, 120_000);

  it('sweep: rerunning a finished sweep generates nothing; an interrupted one completes to the same cells', async () => {
    const vectorFor = (l: number) => vectors[l]!;
    const wholeDir = join(dir, 'sweep-whole');
    const whole = await sweepSteering(model, { name: 'evil', evalPrompt: trait.evalPrompt }, judge, vectorFor, cfg, RunDir.open(wholeDir, 'sweep', {}));
    const n = readFileSync(join(wholeDir, 'steer.jsonl'), 'utf8').split('\n').length;
    const again = await sweepSteering(model, { name: 'evil', evalPrompt: trait.evalPrompt }, judge, vectorFor, cfg, RunDir.open(wholeDir, 'sweep', {}));
    expect(readFileSync(join(wholeDir, 'steer.jsonl'), 'utf8').split('\n').length).toBe(n);
    expect(again.cells).toEqual(whole.cells);

    const run = RunDir.open(join(dir, 'sweep-resumed'), 'sweep', {});
    interrupted(wholeDir, run.dir, 7);
    const resumed = await sweepSteering(model, { name: 'evil', evalPrompt: trait.evalPrompt }, judge, vectorFor, cfg, run);
    expect(resumed.cells).toEqual(whole.cells);
    expect(run.records('steer')).toHaveLength(12);
  }, 120_000);
});
