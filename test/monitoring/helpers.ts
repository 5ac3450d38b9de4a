// Persona vectors of the embedded model for the monitoring tests: extracted the way `persona
// extract` does (generate under pos/neg prompts, lexicon judge, filter, difference of means), small.

import { join } from 'node:path';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, type ExtractResult } from '../../src/directions/personaExtract.js';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import { LexiconJudge } from '../../src/judges/lexiconJudge.js';
import { RunDir } from '../../src/logs/runDir.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';

export const MODEL = join(import.meta.dirname, '../../models/persona-tiny');

export async function worldVector(model: SteerableModel, trait: string, root: string): Promise<ExtractResult> {
  const file = loadTraitFile(join(import.meta.dirname, '../../data/traits', `${trait}.json`));
  const run = RunDir.open(join(root, `extract-${trait}`), 'extract', {});
  return extractPersonaVectors(model, file, new LexiconJudge(), run, { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 10, maxNewTokens: 48, batchSize: 25 });
}
