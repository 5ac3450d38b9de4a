// Model folder layouts: onnxruntime-genai (genai_config.json), transformers.js (onnx/), Optimum
// (model.onnx at the root); `persona inspect` names the one it read; bad genai configs fail by field.

import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelConfig } from '../../src/model/config.js';
import { resolveModelFolder } from '../../src/model/layout.js';
import { loadModel } from '../../src/model/load.js';
import { persona } from '../cli/runCli.js';
import { makeFixture } from '../fixtures/index.js';
import { modelDir, tinyDecoder } from '../instrument/graphs.js';
import { generate } from '../../src/generation/generate.js';

function copy(dir: string): string {
  const out = mkdtempSync(join(tmpdir(), 'persona-layout-'));
  cpSync(dir, out, { recursive: true });
  return out;
}

describe('model folder layouts', () => {
  it('Optimum: model.onnx at the root beside config.json loads and runs', async () => {
    const dir = copy((await makeFixture('llama')).dir);
    renameSync(join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx'));
    rmSync(join(dir, 'onnx'), { recursive: true });
    expect(resolveModelFolder(dir)).toMatchObject({ layout: 'optimum', file: 'model.onnx' });
    const model = await loadModel(dir, { threads: 1 });
    expect(model.session.path).toBe(join(dir, 'model.persona.onnx'));
    expect((await model.forward({ inputIds: [[1, 5, 6]], hiddenLayers: [2] })).hidden.get(2)).toHaveLength(3 * 64);
    await model.dispose();
  });

  it('genai: dims, ids and file from genai_config.json; errors name the field', async () => {
    const fx = await makeFixture('genai-int4');
    const c = loadModelConfig(fx.dir);
    expect(c).toMatchObject({ modelType: 'llama', numLayers: 3, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 300, eosTokenIds: [2], padTokenId: 2, maxPositions: 128 });
    const dir = copy(fx.dir);
    const path = join(dir, 'genai_config.json');
    const cfg = JSON.parse(readFileSync(path, 'utf8'));
    cfg.model.decoder.filename = 'decoder.onnx';
    writeFileSync(path, JSON.stringify(cfg));
    expect(() => resolveModelFolder(dir)).toThrow(`${path}: model.decoder.filename 'decoder.onnx' not found in ${dir}`);
    renameSync(join(dir, 'model.onnx'), join(dir, 'decoder.onnx'));
    expect(resolveModelFolder(dir).file).toBe('decoder.onnx');
    delete cfg.model.decoder.num_hidden_layers;
    writeFileSync(path, JSON.stringify(cfg));
    expect(() => loadModelConfig(dir)).toThrow(`${path}: missing field "num_hidden_layers" / "n_layer" / "num_layers"`);
  });

  it('persona inspect says which layout it read', async () => {
    const genai = await persona('inspect', (await makeFixture('genai-fp16')).dir);
    expect(genai.code, genai.stderr).toBe(0);
    expect(genai.stdout).toMatch(/^layout\s+onnxruntime-genai$/m);
    expect(genai.stdout).toMatch(/^file\s+model\.onnx /m);
    const hf = await persona('inspect', (await makeFixture('gpt2-past')).dir);
    expect(hf.stdout).toMatch(/^layout\s+transformers\.js$/m);
    // ... and how it feeds the graph's attention.
    expect(genai.stdout).toMatch(/^attention\s+MultiHeadAttention; rows left-padded \(the attention mask hides the pads\); cache: growing$/m);
    expect(hf.stdout).toMatch(/^attention\s+Attention; rows left-padded/m);
    const gqa = await persona('inspect', (await makeFixture('genai-gqa')).dir);
    expect(gqa.stdout).toMatch(
      /^attention\s+GroupQueryAttention; rows right-padded \(GroupQueryAttention '\/model\/layers\.0\/attn\/GroupQueryAttention' takes each row's length from the mask's row sums \(seqlens_k\)\); cache: shared past\/present buffers \(genai_config\.json past_present_share_buffer\)$/m,
    );
    const plain = await persona('inspect', (await makeFixture('llama')).dir);
    expect(plain.stdout).toMatch(/^attention\s+decomposed; rows left-padded/m);
  });
});

describe('graph inputs', () => {
  async function tinyFolder(extraInput?: string): Promise<string> {
    const dir = modelDir(tinyDecoder({ layers: 2, extraInput }), { model_type: 'tiny', num_hidden_layers: 2, hidden_size: 8, num_attention_heads: 2, vocab_size: 16, eos_token_id: 2 });
    const fx = (await makeFixture('llama')).dir;
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) cpSync(join(fx, f), join(dir, f));
    return dir;
  }

  it('a graph with only input_ids (no mask, positions or cache) runs; padding is refused by name', async () => {
    const model = await loadModel(await tinyFolder(), { threads: 1 });
    expect(model.session.attentionMask).toBeUndefined();
    expect(model.session.positionIds).toBeUndefined();
    expect(model.session.cache).toEqual([]);
    // Without a cache every step must see the whole sequence so far.
    const fed: number[] = [];
    const forward = model.forward.bind(model);
    model.forward = (input) => (fed.push(input.inputIds[0]!.length), forward(input));
    const a = await generate(model, [[1, 5, 6]], { maxNewTokens: 4, stopIds: [], keepLogits: true });
    expect(fed).toEqual([3, 4, 5, 6]);
    const b = await generate(model, [[1, 5, 6]], { maxNewTokens: 4, stopIds: [], keepLogits: true, fullRecompute: true });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.logits).toEqual(b.logits);
    await expect(model.forward({ inputIds: [[1, 5, 6], [1, 5]] })).rejects.toThrow(/has no attention_mask input, so rows cannot be padded/);
    await model.dispose();
  });

  it('an input the runtime cannot feed fails at load, by name', async () => {
    await expect(loadModel(await tinyFolder('token_type_ids'), { threads: 1 })).rejects.toThrow(/input "token_type_ids" is not one persona-steer can feed/);
  });
});
