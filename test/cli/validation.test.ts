// Every numeric, range, list and enum flag is checked before any work: the error names the flag
// and the accepted form, and no run directory is created. (Before, `Number()` let `abc` through as
// NaN: greedy runs recorded temperature null, filters compared with NaN, ranges looped forever.)

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { savePersonaVectors } from '../../src/directions/vectorFile.js';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { saveProbe } from '../../src/directions/probes/probeFile.js';
import { steeringPlan } from '../../src/model/steering.js';
import { syntheticVectorSet } from '../helpers/vectors.js';
import { syntheticProbe } from '../probes/helpers.js';
import { personaError } from './runCli.js';

const dir = mkdtempSync(join(tmpdir(), 'cli-flags-'));
const runs = join(dir, 'runs');
// The embedded model's shape: layers 0..4, hidden 160.
const vec = join(dir, 'evil.safetensors');
savePersonaVectors(vec, syntheticVectorSet(160, 4));
const nanVec = join(dir, 'nan.safetensors');
const withNaN = syntheticVectorSet(160, 4);
withNaN.vectors.response_avg[3]![7] = Number.NaN;
savePersonaVectors(nanVec, withNaN);
// Finite, but 1e20 times a vector of ordinary norm: float32 activations cannot hold it.
const hugeVec = join(dir, 'huge.safetensors');
const huge = syntheticVectorSet(160, 4);
for (const layer of huge.vectors.response_avg) layer.forEach((x, i) => (layer[i] = x * 1e20));
savePersonaVectors(hugeVec, huge);

const extract = ['extract', '--trait', 'evil', '--runs', runs];
const steer = ['steer', '--vector', vec, '--runs', runs];
const sweep = ['sweep', '--vector', vec, '--runs', runs];
const data = join(dir, 'chats.jsonl'); // never read: the flags fail first
const probeFile = join(dir, 'age.safetensors');
saveProbe(probeFile, syntheticProbe({ hiddenSize: 160, numLayers: 4, dir: '/m' }, ['child', 'adult']));
const out = join(dir, 'out'); // what probe data and vector export would write
// A probe whose rows are 1e20 times ordinary: any push with it overflows float32.
const hugeProbe = join(dir, 'huge-age.safetensors');
const hp = syntheticProbe({ hiddenSize: 160, numLayers: 4, dir: '/m' }, ['child', 'adult']);
for (const w of hp.weight) w.forEach((x, i) => (w[i] = x * 1e20));
saveProbe(hugeProbe, hp);
// --port 0: were a case to pass its check, the server would not take a fixed port.
const serve = ['serve', '--port', '0', '--runs', runs];

const cases: [string, string[], RegExp][] = [
  ['extract --temperature abc', [...extract, '--temperature', 'abc'], /^--temperature: 'abc' is not a number \(expected a number from 0 to 100\)$/],
  ['extract --questions abc', [...extract, '--questions', 'abc'], /^--questions: 'abc' is not an integer \(expected an integer >= 1\)$/],
  ['extract --pos-threshold abc', [...extract, '--pos-threshold', 'abc'], /^--pos-threshold: 'abc' is not a number \(expected a number from 0 to 100\)$/],
  ['extract --neg-threshold 101', [...extract, '--neg-threshold', '101'], /^--neg-threshold: 101 is out of range \(expected a number from 0 to 100\)$/],
  ['extract --batch-size -1', [...extract, '--batch-size', '-1'], /^--batch-size: -1 is out of range \(expected an integer from 1 to 4096\)$/],
  ['extract --samples 0', [...extract, '-n', '0'], /^--samples: 0 is out of range/],
  ['extract --top-p 0', [...extract, '--top-p', '0'], /^--top-p: 0 is out of range \(expected a number from 0 \(exclusive\) to 1\)$/],
  ['extract --max-new-tokens 1.5', [...extract, '--max-new-tokens', '1.5'], /^--max-new-tokens: '1\.5' is not an integer/],
  ['extract --seed x', [...extract, '--seed', 'x'], /^--seed: 'x' is not an integer/],
  ['extract -o out.pt', [...extract, '-o', join(dir, 'out.pt')], /^--out: '.*out\.pt' must end in \.safetensors$/],
  ['steer --positions 5-1', [...steer, '--positions', '5-1'], /^--positions: range '5-1' runs backwards/],
  ['steer --positions abc', [...steer, '--positions', 'abc'], /^--positions: 'abc' is not all, prompt, response or a list of token indices/],
  ['steer --coeff abc', [...steer, '--coeff', 'abc'], /^--coeff: 'abc' is not a number/],
  ['steer --coeff 1e40', [...steer, '--coeff', '1e40'], /^--coeff: 1e\+40 is out of range \(expected a number from -1000000 to 1000000\)$/],
  ['steer --layer 9', [...steer, '--layer', '9'], /^--layer: layer 9 is out of range; the vector file has layers 0\.\.4/],
  ['steer --layer x', [...steer, '--layer', 'x'], /^--layer: 'x' is not an integer/],
  ['steer --ablate 7', [...steer, '--ablate', '7'], /^--ablate: layer 7 is out of range/],
  ['steer two coeffs for three layers', [...steer, '--layer', '1', '2', '3', '--coeff', '1', '2'], /^--coeff: give one coefficient or one per --layer \(3\)$/],
  ['steer --kind bogus', [...steer, '--kind', 'bogus'], /^--kind: unknown value 'bogus' \(choose from response_avg, prompt_avg, prompt_last\)$/],
  ['steer --questions 0', [...steer, '--questions', '0'], /^--questions: 0 is out of range/],
  ['steer on a vector file holding NaN', ['steer', '--vector', nanVec, '--runs', runs], /nan\.safetensors: tensor 'response_avg' layer 3 holds a non-finite value \(NaN\)/],
  ['steer with a 1e20-scaled vector', ['steer', '--vector', hugeVec, '--layer', '2', '--coeff', '2', '--runs', runs], /^--coeff: 2 times the layer 2 vector of .*huge\.safetensors \(\|v\| 3\.24e\+22\) is 6\.48e\+22; float32 activations overflow above 1\.84e\+19$/],
  ['sweep with a 1e20-scaled vector', ['sweep', '--vector', hugeVec, '--layers', '1', '--coeffs', '0,1e-5,2', '--runs', runs], /^--coeffs: 2 times the layer 1 vector of .*huge\.safetensors \(\|v\| 3\.13e\+22\) is 6\.26e\+22; float32/],
  ['sweep --layers 1-4:0', [...sweep, '--layers', '1-4:0'], /^--layers: step in '1-4:0' must be at least 1/],
  ['sweep --layers 1-100000000', [...sweep, '--layers', '1-100000000'], /^--layers: range '1-100000000' has more than 10000 values/],
  ['sweep --layers 2-7', [...sweep, '--layers', '2-7'], /^--layers: 5 is out of range \(expected integers from 0 to 4/],
  ['sweep --coeffs 0,abc', [...sweep, '--coeffs', '0,abc'], /^--coeffs: 'abc' is not a number/],
  ['sweep --positions 3', [...sweep, '--positions', '3'], /^--positions: unknown value '3' \(choose from all, prompt, response\)$/],
  ['sweep --coherence-threshold -5', [...sweep, '--coherence-threshold', '-5'], /^--coherence-threshold: -5 is out of range/],
  ['generate --temperature abc', ['generate', 'models/persona-tiny', '-p', 'hi', '-t', 'abc'], /^--temperature: 'abc' is not a number/],
  ['generate --max-new-tokens 0', ['generate', 'models/persona-tiny', '-p', 'hi', '-n', '0'], /^--max-new-tokens: 0 is out of range/],
  ['project --kind bogus', ['project', data, '--vector', vec, '--layer', '3', '--kind', 'bogus', '--runs', runs], /^--kind: unknown value 'bogus'/],
  ['project --layer -2', ['project', data, '--vector', vec, '--layer', '-2', '--runs', runs], /^--layer: -2 is out of range/],
  ['monitor --temperature -1', ['monitor', '--vector', vec, '--layer', '3', '--temperature', '-1', '--runs', runs], /^--temperature: -1 is out of range/],
  ['screen --top-k 0', ['screen', data, '--vector', vec, '--layer', '3', '--top-k', '0', '--runs', runs], /^--top-k: 0 is out of range/],
  // Layer lists are checked against the model's config before the model loads (no run directory).
  ['lens --layers 99', ['lens', '-p', 'hi', '--layers', '99', '--runs', runs], /^--layers: 99 is out of range \(expected integers from 0 to 4/],
  ['refusal --layers 99', ['refusal', '--layers', '99', '--runs', runs], /^--layers: 99 is out of range \(expected integers from 0 to 4/],
  ['probe steer --layers 9', ['probe', 'steer', '--probes', probeFile, '--layers', '9', '--runs', runs], /^--layers: 9 is out of range \(expected integers from 0 to 4/],
  ['probe stereotype --layers 2-9', ['probe', 'stereotype', '--probes', probeFile, '--layers', '2-9', '--runs', runs], /^--layers: 5 is out of range \(expected integers from 0 to 4/],
  ['probe read --layer 5', ['probe', 'read', '--probes', probeFile, '--conversation', data, '--layer', '5', '--runs', runs], /^--layer: 5 is out of range \(expected an integer from 0 to 4\)$/],
  ['probe steer --strength 1e9', ['probe', 'steer', '--probes', probeFile, '--layers', '3', '--strength', '1e9', '--runs', runs], /^--strength: 1000000000 is out of range/],
  ['probe data --turns 0-3', ['probe', 'data', '-o', out, '--turns', '0-3'], /^--turns: 0 is out of range \(expected integers from 1 to 4/],
  ['probe data --turns 1-x', ['probe', 'data', '-o', out, '--turns', '1-x'], /^--turns: cannot read '1-x'/],
  ['vector export --layers 1 to gguf', ['vector', 'export', vec, '-o', join(dir, 'v.gguf'), '--layers', '1'], /^--layers: 1 is out of range \(expected integers from 2 to 4/],
  ['vector export --layers 0 to svec', ['vector', 'export', vec, '-o', join(dir, 'v.svec'), '--layers', '0-2'], /^--layers: 0 is out of range \(expected integers from 1 to 4/],
  ['vector export --layers to pt', ['vector', 'export', vec, '-o', out, '--layers', '2'], /^--layers: only for gguf and svec/],
  ['extract --from-csv --batch-size 5000', [...extract, '--from-csv', 'a.csv,b.csv', '--batch-size', '5000'], /^--batch-size: 5000 is out of range \(expected an integer from 1 to 4096\)$/],
  ['project --batch-size 5000', ['project', data, '--vector', vec, '--layer', '3', '--batch-size', '5000', '--runs', runs], /^--batch-size: 5000 is out of range/],
  ['monitor --layer 7', ['monitor', '--vector', vec, '--layer', '7', '--runs', runs], /^--layer: 7 is out of range \(expected integers from 0 to 4/],
  // persona serve: bounds from the model's config and the flags' own, before the model loads.
  ['serve --layer 9', [...serve, '--layer', '9'], /^--layer: 9 is out of range \(expected an integer from 0 to 4\)$/],
  ['serve --pin-layers 3-9', [...serve, '--pin-layers', '3-9'], /^--pin-layers: 5 is out of range \(expected integers from 0 to 4/],
  ['serve --coeff evil=1e7', [...serve, '--traits', 'evil', '--coeff', 'evil=1e7'], /^--coeff evil: 10000000 is out of range \(expected a number from -1000000 to 1000000\)$/],
  ['serve --vector --coeff 1e40', [...serve, '--vector', vec, '--coeff', '1e40'], /^--coeff: 1e\+40 is out of range \(expected a number from -1000000 to 1000000\)$/],
  ['serve with a 1e20-scaled vector', [...serve, '--vector', hugeVec, '--layer', '2', '--coeff', '2'], /^--coeff: 2 times the layer 2 'evil' vector \(\|v\| 3\.24e\+22\) is 6\.48e\+22; float32 activations overflow above 1\.84e\+19$/],
  ['serve --vector --coeff kind=1', [...serve, '--vector', vec, '--coeff', 'kind=1'], /^--coeff: 'kind' is not a loaded trait \(loaded: evil\)$/],
  ['serve --pin-strength 1e9', [...serve, '--pin-strength', '1e9'], /^--pin-strength: 1000000000 is out of range \(expected a number from -1000000 to 1000000\)$/],
  ['serve --pin with a 1e20-scaled probe', [...serve, '--probe', hugeProbe, '--pin', 'age=child', '--pin-direction', 'weight', '--pin-strength', '2'], /^--pin-strength: 2 times the 'child' direction of the age probe at layer 4 \(\|v\| [\d.]+e\+20\) is [\d.]+e\+21; float32 activations overflow above 1\.84e\+19$/],
  ['serve --pin with no probe for it', [...serve, '--probe', probeFile, '--pin', 'gender=male'], /^--pin gender=male: no --probe for 'gender' \(probes: age\)$/],
  ['serve --pin to an unknown class', [...serve, '--probe', probeFile, '--pin', 'age=toddler'], /^--pin age=toddler: .*'toddler'/],
  ['serve --pin not among --attributes', [...serve, '--attributes', 'age', '--pin', 'gender=male'], /^--pin gender=male: 'gender' is not among --attributes \(age\)$/],
  ['serve --max-queue 1000000', [...serve, '--max-queue', '1000000'], /^--max-queue: 1000000 is out of range \(expected an integer from 1 to 100000\)$/],
  ['serve --max-tokens 1000000', [...serve, '--max-tokens', '1000000'], /^--max-tokens: 1000000 is out of range \(expected an integer from 1 to 131072\)$/],
  ['serve --max-prompt-tokens 100000000', [...serve, '--max-prompt-tokens', '100000000'], /^--max-prompt-tokens: 100000000 is out of range \(expected an integer from 1 to 1048576\)$/],
  ['serve --max-body 1000000000', [...serve, '--max-body', '1000000000'], /^--max-body: 1000000000 is out of range \(expected an integer from 1024 to 268435456\)$/],
  ['serve --max-messages 1000000', [...serve, '--max-messages', '1000000'], /^--max-messages: 1000000 is out of range \(expected an integer from 1 to 100000\)$/],
  ['trait new --questions abc', ['trait', 'new', 'x', '-d', 'y', '--questions', 'abc'], /^--questions: 'abc' is not an integer/],
];

describe('CLI flags are validated before any work', () => {
  it.each(cases)('%s', async (_name, args, message) => {
    expect(await personaError(...args)).toMatch(message);
    expect(existsSync(runs)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('token positions beyond the model context are refused by name (after loading, before the run)', async () => {
    expect(await personaError(...steer, '--positions', '100000')).toBe("--positions: token index 100000 is beyond the model's context (1024 positions)");
    expect(existsSync(runs)).toBe(false);
  }, 60_000);

  it('a trait the lexicon cannot judge is refused before generating, not after the first batch', async () => {
    const other = syntheticVectorSet(160, 4, 'sarcastic');
    const file = join(dir, 'sarcastic.safetensors');
    savePersonaVectors(file, other);
    mkdirSync(join(dir, 'traits'));
    const trait = join(dir, 'traits', 'sarcastic.json');
    const evil = JSON.parse(readFileSync(join(import.meta.dirname, '../../data/traits/evil.json'), 'utf8'));
    writeFileSync(trait, JSON.stringify({ ...evil, trait: 'sarcastic' }));
    const env = { ...process.env };
    delete process.env.PERSONA_JUDGE_BASE_URL;
    delete process.env.OPENAI_BASE_URL;
    try {
      expect(await personaError('steer', '--vector', file, '--trait', trait, '--runs', runs)).toMatch(/^--judge: trait 'sarcastic' is not a persona-world trait, so the lexicon judge cannot score it; use --judge openai/);
      expect(await personaError('extract', '--trait', trait, '--judge', 'lexicon', '--runs', runs)).toMatch(/^--judge: trait 'sarcastic' is not a persona-world trait/);
    } finally {
      Object.assign(process.env, env);
    }
    expect(existsSync(runs)).toBe(false);
  });

  it('--ablate alone is a pure ablation: no default steering is added', async () => {
    // A copy of the embedded model: loading it with ablate inputs must not touch the shared cache.
    const modelDir = join(dir, 'model');
    cpSync(join(import.meta.dirname, '../../models/persona-tiny'), modelDir, { recursive: true, filter: (f) => !f.includes('.persona.') });
    const run = join(dir, 'ablate-run');
    expect(await personaError('steer', modelDir, '--vector', vec, '--ablate', '3', '--questions', '1', '--max-new-tokens', '4', '--run', run)).toBeNull();
    const [rec] = readRecords<{ steering: unknown[]; ablation: unknown[] }>(join(run, 'steer.jsonl'));
    expect(rec!.steering).toEqual([]);
    expect(rec!.ablation).toEqual([{ layer: 3 }]);
    expect(readManifest(run).config).toMatchObject({ layers: [], coeffs: [], ablate: [3] });
  }, 120_000);

  it('the API keeps API names in its errors', () => {
    const model = { hiddenSize: 4, numLayers: 2, steerableLayers: [1, 2] };
    expect(() => steeringPlan(model, [{ layer: 1, vector: new Float32Array(4), coeff: Number.NaN }])).toThrow(/^steering\[0\] \(layer 1\): coeff must be a finite number/);
  });
});
