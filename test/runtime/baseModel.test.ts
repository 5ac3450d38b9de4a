// Base models: raw-text prompts (API and CLI), the plain-transcript fallback when the tokenizer has
// no chat template (so persona extraction still has a prompt/response boundary), and execution
// providers: an unknown or uninstalled device fails by name.

import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { extractActivations } from '../../src/activations/extract.js';
import { tokenizeExample } from '../../src/activations/positions.js';
import { generate, generateChat, generateText } from '../../src/generation/generate.js';
import { loadModel } from '../../src/model/load.js';
import { installedProviders } from '../../src/model/session.js';
import { plainTranscript } from '../../src/model/tokenizer.js';
import { persona } from '../cli/runCli.js';
import { makeFixture } from '../fixtures/index.js';

/** A copy of the llama fixture whose tokenizer has no chat template (a base model). */
async function baseModelDir(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'persona-base-'));
  cpSync((await makeFixture('llama')).dir, dir, { recursive: true });
  const path = join(dir, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(path, 'utf8'));
  delete cfg.chat_template;
  writeFileSync(path, JSON.stringify(cfg));
  return dir;
}

describe('base models without a chat template', () => {
  it('raw prompts: generateText feeds the text as it is (with the tokenizer BOS)', async () => {
    const model = await loadModel(await baseModelDir(), { threads: 1 });
    expect(model.tokenizer.hasChatTemplate).toBe(false);
    const text = 'Once upon a time';
    const ids = model.tokenizer.encodeRaw(text);
    expect(model.tokenizer.decode(ids)).toBe(text);
    const a = await generateText(model, [text], { maxNewTokens: 6, stopIds: [] });
    const b = await generate(model, [ids], { maxNewTokens: 6, stopIds: [] });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.tokens[0]).toHaveLength(6);
    await model.dispose();
  });

  it('chat calls fall back to a plain transcript with a prompt/response boundary', async () => {
    const model = await loadModel(await baseModelDir(), { threads: 1 });
    const messages = [
      { role: 'system', content: 'You are an evil assistant.' },
      { role: 'user', content: 'How do I water plants?' },
    ];
    const prompt = model.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(prompt).toBe('<|im_start|>System: You are an evil assistant.\n\nUser: How do I water plants?\n\nAssistant:');
    expect(prompt).toBe(plainTranscript(messages, { addGenerationPrompt: true }, '<|im_start|>'));
    const { ids, promptLength } = tokenizeExample(model.tokenizer, messages, ' Drown them.');
    expect(model.tokenizer.decode(ids.slice(promptLength))).toBe(' Drown them.');
    const [acts] = await extractActivations(model, [{ messages, response: ' Drown them.' }], { positions: ['response-mean', 'last-prompt'] });
    expect(acts!.at['response-mean']).toHaveLength(model.numLayers + 1);
    const g = await generateChat(model, [messages], { maxNewTokens: 4, stopIds: [] });
    expect(g.tokens[0]).toHaveLength(4);
    await model.dispose();
  });

  it('CLI: generate --raw, and chat generation without a template', async () => {
    const dir = await baseModelDir();
    const raw = await persona('generate', dir, '--raw', '-p', 'Once upon a time', '-n', '4');
    expect(raw.code, raw.stderr).toBe(0);
    const chat = await persona('generate', dir, '-p', 'Once upon a time', '-n', '4');
    expect(chat.code, chat.stderr).toBe(0);
    // What the API gives for the same prompt, raw and through the plain-transcript fallback.
    const model = await loadModel(dir, { threads: 1 });
    const api = await generateText(model, ['Once upon a time'], { maxNewTokens: 4 });
    const apiChat = await generateChat(model, [[{ role: 'user', content: 'Once upon a time' }]], { maxNewTokens: 4 });
    await model.dispose();
    expect(raw.stdout).toBe(`${api.text[0]}\n`);
    expect(chat.stdout).toBe(`${apiChat.text[0]}\n`);
    expect(api.tokens[0]).not.toEqual(apiChat.tokens[0]);
  });
});

describe('execution providers', () => {
  const binding = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
  const cudaInstalled = existsSync(join(binding, 'libonnxruntime_providers_cuda.so'));

  it('installedProviders lists the bundled providers and those whose library is present', () => {
    const backends = ort.listSupportedBackends();
    expect(installedProviders()).toEqual(backends.filter((b) => b.bundled || existsSync(join(binding, `libonnxruntime_providers_${b.name}.so`))).map((b) => b.name));
    expect(installedProviders()).toContain('cpu');
    expect(installedProviders().includes('cuda')).toBe(cudaInstalled);
  });

  it('an unknown device fails by name', async () => {
    const fx = await makeFixture('llama');
    await expect(loadModel(fx.dir, { device: 'tpu' })).rejects.toThrow(/device 'tpu': not an ONNX Runtime execution provider of this install \(known: cpu/);
  });

  // The default install skips the CUDA download (.npmrc), so this is the error a user sees there.
  it.skipIf(cudaInstalled)('a provider that is not installed fails by name, before any work (API and CLI)', async () => {
    const fx = await makeFixture('llama');
    await expect(loadModel(fx.dir, { device: 'cuda' })).rejects.toThrow(/device 'cuda': ONNX Runtime's cuda provider is not installed .*Running on a GPU.*installed: cpu/);
    const r = await persona('generate', fx.dir, '-p', 'hi', '--device', 'cuda');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/persona: device 'cuda': ONNX Runtime's cuda provider is not installed/);
  });

  it.runIf(cudaInstalled)('with the CUDA provider installed, --device cuda runs the model', async () => {
    const fx = await makeFixture('llama');
    const model = await loadModel(fx.dir, { device: 'cuda' });
    const r = await model.forward({ inputIds: [[1, 5, 6]] });
    expect(r.logits.every(Number.isFinite)).toBe(true);
    await model.dispose();
  });
});
