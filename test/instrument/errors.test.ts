// Malformed or unsupported models fail with an InstrumentError naming the file and what is missing.

import { readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InstrumentError } from '../../src/model/instrument/errors.js';
import { prepareModel } from '../../src/model/instrument/prepare.js';
import { describeModel } from '../../src/model/instrument/inspect.js';
import { cleanupScratch, copyFixture, fixture } from './helpers.js';
import { modelDir, tinyDecoder } from './graphs.js';

afterAll(cleanupScratch);

async function failure(p: Promise<unknown>): Promise<InstrumentError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InstrumentError);
    return e as InstrumentError;
  }
  throw new Error('expected an InstrumentError');
}

function setConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const path = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

describe('instrumentation errors', () => {
  it('truncated model file', async () => {
    const dir = copyFixture(await fixture('llama'));
    const path = join(dir, 'onnx', 'model.onnx');
    truncateSync(path, Math.floor(statSync(path).size * 0.6));
    const e = await failure(prepareModel(dir));
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/not an ONNX protobuf|malformed graph|runs past/);
  });

  it('no logits output', async () => {
    const dir = modelDir(tinyDecoder({ layers: 2, logitsName: 'scores' }), { num_hidden_layers: 2, hidden_size: 8 });
    const e = await failure(prepareModel(dir));
    expect(e.message).toMatch(/onnx\/model\.onnx: no 'logits' output \(graph outputs: scores\)/);
  });

  it('graph without a residual chain', async () => {
    const dir = modelDir(tinyDecoder({ layers: 2, noResidual: true }), { num_hidden_layers: 2, hidden_size: 8 });
    const e = await failure(prepareModel(dir));
    expect(e.message).toMatch(
      /onnx\/model\.onnx: no residual chain from logits back to the embedding \(stopped at node '\/model\/embed_tokens\/Gather' \(Gather\): an embedding lookup with no residual add after it\)/,
    );
  });

  it.each([2, 4, 6])('config.json with the wrong layer count (%i for 3)', async (n) => {
    const dir = copyFixture(await fixture('llama'));
    setConfig(dir, (c) => (c['num_hidden_layers'] = n));
    const e = await failure(prepareModel(dir));
    expect(e.message).toContain(join(dir, 'onnx', 'model.onnx'));
    expect(e.message).toMatch(new RegExp(`residual chain of 6 adds holds 3 attention blocks; it does not split into ${n} layers`));
  });

  it('wrong layer count on a merged model names the branch', async () => {
    const dir = copyFixture(await fixture('llama-merged'));
    setConfig(dir, (c) => (c['num_hidden_layers'] = 2));
    const e = await failure(prepareModel(dir));
    expect(e.message).toMatch(/\(then_branch of node 'optimum::if' \(If\)\): residual chain of 6 adds/);
  });

  it('config.json without the layer count', async () => {
    const dir = copyFixture(await fixture('gpt2'));
    setConfig(dir, (c) => delete c['n_layer']);
    const e = await failure(prepareModel(dir));
    expect(e.message).toBe(`${join(dir, 'config.json')}: missing num_hidden_layers (or n_layer)`);
    expect(() => describeModel(dir)).toThrow(/missing num_hidden_layers/);
  });

  it('config.json and genai_config.json with a JSON syntax error: FILE:LINE:COLUMN', async () => {
    const dir = copyFixture(await fixture('llama'));
    const path = join(dir, 'config.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/\{/, '{\n  "broken": ,'));
    expect((await failure(prepareModel(dir))).message).toMatch(new RegExp(`^${path}:2:13: invalid JSON`));
    rmSync(path);
    writeFileSync(join(dir, 'genai_config.json'), '{\n  "model": {\n    "decoder": nope\n  }\n}\n');
    expect((await failure(prepareModel(dir))).message).toMatch(new RegExp(`^${join(dir, 'genai_config.json')}:3:16: invalid JSON`));
  });

  it('no ONNX file, and an instrumented file given as the source', async () => {
    const dir = modelDir(tinyDecoder({ layers: 1 }), { num_hidden_layers: 1, hidden_size: 8 });
    await expect(prepareModel(dir, { file: 'onnx/nope.onnx' })).rejects.toThrow(/nope\.onnx: no such file/);
    const p = await prepareModel(dir);
    const e = await failure(prepareModel(dir, { file: 'onnx/model.persona.onnx' }));
    expect(e.message).toMatch(/model\.persona\.onnx: already has 'steer\.0' \(instrumented twice\?\)/);
    expect(p.manifest.numLayers).toBe(1);
  });
});
