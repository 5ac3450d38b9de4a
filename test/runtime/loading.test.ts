// Config normalisation across architectures, and the tokenizer loaded strictly offline.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeFixture } from '../fixtures/index.js';
import { loadModelConfig, parseModelConfig } from '../../src/model/config.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';

describe('model config', () => {
  it('normalises llama and gpt2 field names', async () => {
    const llama = loadModelConfig((await makeFixture('llama')).dir);
    expect(llama).toMatchObject({ modelType: 'llama', numLayers: 3, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 300 });
    expect(llama.eosTokenIds).toEqual([2]);
    const gpt2 = loadModelConfig((await makeFixture('gpt2')).dir);
    expect(gpt2).toMatchObject({ modelType: 'gpt2', numLayers: 3, hiddenSize: 64, numHeads: 4, numKvHeads: 4, headDim: 16, maxPositions: 128 });
  });

  it('defaults, lists of eos ids, nested text_config', () => {
    const c = parseModelConfig(
      { model_type: 'x', text_config: { num_hidden_layers: 2, hidden_size: 8, num_attention_heads: 2, vocab_size: 10 }, eos_token_id: [5, 6] },
      { eos_token_id: 7, pad_token_id: 0 },
    );
    expect(c).toMatchObject({ numLayers: 2, hiddenSize: 8, numKvHeads: 2, headDim: 4, padTokenId: 0 });
    expect(c.eosTokenIds).toEqual([7, 5, 6]);
  });

  it('errors name the file and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'persona-config-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ hidden_size: 8, num_attention_heads: 2, vocab_size: 4 }));
    expect(() => loadModelConfig(dir)).toThrow(new RegExp(`${dir}/config.json: missing field "num_hidden_layers" / "n_layer"`));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ n_layer: 'two', n_embd: 8, n_head: 2, vocab_size: 4 }));
    expect(() => loadModelConfig(dir)).toThrow(/config.json: field "n_layer" must be a non-negative integer/);
    writeFileSync(join(dir, 'config.json'), '{ nope');
    expect(() => loadModelConfig(dir)).toThrow(/config\.json:1:3: invalid JSON/);
    writeFileSync(join(dir, 'config.json'), '[1]');
    expect(() => loadModelConfig(dir)).toThrow(/config\.json: not a JSON object/);
    expect(() => loadModelConfig(join(dir, 'missing'))).toThrow(/no config.json/);
  });
});

describe('tokenizer', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('loads offline: no network call, chat template, encode/decode round trip', async () => {
    const fetchSpy = vi.fn(async () => {
      throw new Error('network used');
    });
    vi.stubGlobal('fetch', fetchSpy);
    const fx = await makeFixture('llama');
    const tok = await loadTokenizer(fx.dir);
    const text = tok.applyChatTemplate([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true });
    expect(text).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n');
    const ids = tok.encode(text);
    expect(ids[0]).toBe(1); // <|im_start|>, written by the template, not added twice
    expect(ids.filter((i) => i === 1).length).toBe(2);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(text);
    expect(tok.decode(tok.encode('hello world'))).toBe('hello world');
    expect(tok.encodeChat([{ role: 'user', content: 'Hi there' }], { addGenerationPrompt: true })).toEqual(ids);
    expect(tok.tokenId('<|im_end|>')).toBe(2);
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('a folder without tokenizer files fails clearly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'persona-tok-'));
    await expect(loadTokenizer(dir)).rejects.toThrow(/no tokenizer.json in model folder/);
  });
});
