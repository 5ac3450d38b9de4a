// Extraction methods compared on the embedded model: for each trait, one extraction run (answers
// under pos/neg prompts, lexicon judge, the paper's filter), then a vector per method from the same
// kept pairs, and the same layers x coefficients sweep on neutral-prompt questions for each.
// Reports the best coherent cell per method (trait score at coherence >= 50) as a table and a plot.
// Usage: npx tsx scripts/compare-extraction-methods.ts [trait,...]   (default evil,humorous,optimistic)
//   [--questions 10] [--instructions 5] [--eval 8] [--layers 1,2,3,4] [--coeffs 0,1,2,3,4,5,6]
//   [--tokens 48] [--out runs/compare-methods]   (the defaults made the README table)

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EXTRACTION_METHODS } from '../src/directions/extractionMethods.js';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors, keptPairs, pairedVectors, vectorSet } from '../src/directions/personaExtract.js';
import { loadTraitFile } from '../src/directions/traitFile.js';
import { vectorFor } from '../src/directions/vectorFile.js';
import { writeJsonAtomic, writeFileAtomic } from '../src/io/atomic.js';
import { sweepSteering } from '../src/interventions/sweep.js';
import { LexiconJudge } from '../src/judges/lexiconJudge.js';
import { RunDir } from '../src/logs/runDir.js';
import { loadModel } from '../src/model/load.js';
import { bars, writeReport } from '../src/reports/html.js';
import { NEUTRAL_SYSTEM_PROMPT } from '../src/world/index.js';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    questions: { type: 'string', default: '10' }, instructions: { type: 'string', default: '5' }, eval: { type: 'string', default: '8' },
    layers: { type: 'string', default: '1,2,3,4' }, coeffs: { type: 'string', default: '0,1,2,3,4,5,6' }, tokens: { type: 'string', default: '48' },
    out: { type: 'string', default: 'runs/compare-methods' },
  },
});
const numbers = (s: string) => s.split(',').map(Number);
const traits = (positionals[0] ?? 'evil,humorous,optimistic').split(',');
const OUT = o.out;
const EXTRACT = { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: Number(o.questions), maxInstructions: Number(o.instructions), maxNewTokens: Number(o.tokens), batchSize: 25 };
const SWEEP = { system: NEUTRAL_SYSTEM_PROMPT, samples: 1, maxNewTokens: Number(o.tokens), temperature: 0, topP: 1, seed: 0, batchSize: 28, layers: numbers(o.layers), coeffs: numbers(o.coeffs), positions: 'response' as const, coherenceThreshold: 50 };

const model = await loadModel('models/persona-tiny');
const judge = new LexiconJudge();
const rows: { trait: string; method: string; layer: number | null; coeff: number | null; score: number | null; coherence: number | null }[] = [];
for (const name of traits) {
  const trait = loadTraitFile(join('data/traits', `${name}.json`));
  const ex = await extractPersonaVectors(model, trait, judge, RunDir.open(join(OUT, `extract-${name}`), 'extract', EXTRACT), EXTRACT);
  const pairs = keptPairs(ex.records, EXTRACT.thresholds).map(([p, n]) => ({
    pos: { messages: [{ role: 'system' as const, content: p.system }, { role: 'user' as const, content: p.user }], response: p.answer },
    neg: { messages: [{ role: 'system' as const, content: n.system }, { role: 'user' as const, content: n.user }], response: n.answer },
  }));
  for (const method of EXTRACTION_METHODS) {
    const t0 = performance.now();
    const { vectors } = await pairedVectors(model, pairs, { batchSize: 25, method });
    const set = vectorSet(model, name, vectors, { counts: { pos: pairs.length, neg: pairs.length }, method });
    const run = RunDir.open(join(OUT, `sweep-${name}-${method}`), 'sweep', { method });
    const r = await sweepSteering(model, { name, evalPrompt: trait.evalPrompt }, judge, (l) => vectorFor(set, l, model.hiddenSize), { ...SWEEP, questions: trait.evalQuestions.slice(0, Number(o.eval)) }, run);
    rows.push({ trait: name, method, layer: r.best?.layer ?? null, coeff: r.best?.coeff ?? null, score: r.best?.trait ?? null, coherence: r.best?.coherence ?? null });
    console.error(`${name} ${method}: best ${JSON.stringify(r.best)} (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
  }
  console.error(`${name}: ${pairs.length} kept pairs`);
}
await model.dispose();

const fmt = (x: number | null, d = 1) => (x === null ? '-' : x.toFixed(d));
const table = [
  '| trait | ' + EXTRACTION_METHODS.join(' | ') + ' |',
  '|---|' + EXTRACTION_METHODS.map(() => '---').join('|') + '|',
  ...traits.map((t) => `| ${t} | ` + EXTRACTION_METHODS.map((m) => {
    const r = rows.find((x) => x.trait === t && x.method === m)!;
    return r.score === null ? 'no coherent cell' : `${fmt(r.score)} (L${r.layer}, c=${r.coeff}, coh ${fmt(r.coherence, 0)})`;
  }).join(' | ') + ' |'),
].join('\n');
console.log(table);
writeFileAtomic(join(OUT, 'table.md'), table + '\n');
writeJsonAtomic(join(OUT, 'results.json'), rows);
writeReport(join(OUT, 'compare-methods.html'), {
  title: 'Extraction methods on persona-tiny',
  sections: [{
    heading: 'Trait score at the best coherent cell (coherence >= 50), per method',
    figures: [bars(EXTRACTION_METHODS.map((m) => ({ name: m, y: traits.map((t) => rows.find((x) => x.trait === t && x.method === m)!.score) })), traits, 'best coherent trait score', { x: 'trait', y: 'trait score (lexicon judge)' })],
  }],
});
console.log(`report ${join(OUT, 'compare-methods.html')}`);
