// --generator openai:URL against a real HTTP server started here, which answers /v1/models,
// /v1/chat/completions and /v1/completions from the embedded ONNX model (greedy when temperature
// is 0). Extraction and screening through it must see exactly the answers the local model gives;
// the CLI's --generator / --generator-model flags and the API-key variables reach the server.

import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EXTRACT_CONFIG, extractPersonaVectors } from '../../src/directions/personaExtract.js';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import { generate, generateChat } from '../../src/generation/generate.js';
import { generateRemote, parseGeneratorSpec, type RemoteGenerator } from '../../src/generation/remote.js';
import { LexiconJudge } from '../../src/judges/lexiconJudge.js';
import { readRecords, RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { screenDataset } from '../../src/monitoring/screening.js';
import { personaError, personaIn, ROOT } from '../cli/runCli.js';

let model: SteerableModel;
let server: Server;
let gen: RemoteGenerator;
let url: string;
const seen: string[] = [];
/** Every request as the server saw it: route, Authorization header, the body's model. */
const requests: { route: string; authorization?: string; model?: string }[] = [];
const root = mkdtempSync(join(tmpdir(), 'remote-'));

beforeAll(async () => {
  model = await loadModel(join(ROOT, 'models/persona-tiny'), { threads: 1 });
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      seen.push(`${req.method} ${req.url}`);
      const send = (o: unknown) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(o)); };
      const body = raw ? JSON.parse(raw) : {};
      requests.push({ route: `${req.method} ${req.url}`, authorization: req.headers.authorization, model: body.model });
      if (req.url === '/v1/models') return send({ object: 'list', data: [{ id: 'persona-tiny' }] });
      const opts = { maxNewTokens: body.max_tokens, sampling: body.temperature > 0 ? { temperature: body.temperature, topP: body.top_p, seed: body.seed } : undefined };
      if (req.url === '/v1/chat/completions') {
        const g = await generateChat(model, [body.messages], opts);
        return send({ choices: [{ index: 0, message: { role: 'assistant', content: g.text[0] }, finish_reason: g.finishReason[0] }] });
      }
      if (req.url === '/v1/completions') {
        const g = await generate(model, [model.tokenizer.encode(body.prompt)], opts);
        return send({ choices: [{ index: 0, text: g.text[0], finish_reason: g.finishReason[0] }] });
      }
      res.statusCode = 404;
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  url = `openai:http://127.0.0.1:${port}/v1`;
  gen = parseGeneratorSpec(url)!;
});
afterAll(async () => {
  server?.close();
  await model?.dispose();
});

describe('remote generation (--generator openai:URL)', () => {
  it('parses the flag and names it when wrong', () => {
    expect(parseGeneratorSpec('local')).toBeNull();
    expect(() => parseGeneratorSpec('vllm:http://x')).toThrow(/--generator: 'vllm:http:\/\/x' is not 'local' or 'openai:URL'/);
  });

  it('extraction through the server gets the local model\'s answers and the same vectors', async () => {
    const trait = loadTraitFile(join(ROOT, 'data/traits/evil.json'));
    const cfg = { ...DEFAULT_EXTRACT_CONFIG, maxQuestions: 2, maxInstructions: 2, maxNewTokens: 32, temperature: 0 };
    const local = await extractPersonaVectors(model, trait, new LexiconJudge(), RunDir.open(join(root, 'local'), 'extract', {}), cfg);
    const remote = await extractPersonaVectors(model, trait, new LexiconJudge(), RunDir.open(join(root, 'remote'), 'extract', {}), cfg, () => {}, gen);
    expect(seen).toContain('GET /v1/models');
    expect(seen.filter((s) => s === 'POST /v1/chat/completions').length).toBe(8);
    expect(remote.records.map((r) => r.answer)).toEqual(local.records.map((r) => r.answer));
    expect(Array.from(remote.vectors.vectors.response_avg[3]!)).toEqual(Array.from(local.vectors.vectors.response_avg[3]!));
  });

  it('screening sends templated prompts to /completions and chats to /chat/completions', async () => {
    const data = join(root, 'd.jsonl');
    const rows = ['How can I sleep better?', 'What should I cook tonight?'].map((q) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: 'Keep a routine.' }] }));
    writeFileSync(data, rows.join('\n') + '\n');
    const v = new Float32Array(model.hiddenSize).fill(0.1);
    const before = seen.length;
    await screenDataset(model, data, [{ name: 'x', layer: 3, vector: v }], RunDir.open(join(root, 'screen'), 'screen', {}), { out: join(root, 'o.jsonl'), generation: { maxNewTokens: 24 }, generator: gen, chunkRows: 8 });
    expect(seen.slice(before).filter((s) => s === 'POST /v1/chat/completions').length).toBe(2);
    const base = readRecords<{ answer: string }>(join(root, 'screen', 'base-answers.jsonl')).map((r) => r.answer);
    const local = await generateChat(model, [[{ role: 'user', content: 'How can I sleep better?' }]], { maxNewTokens: 24 });
    expect(base[0]).toBe(local.text[0]);
    const text = await generateRemote(gen, [{ prompt: { text: model.tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true }) }, maxNewTokens: 16, temperature: 0, topP: 1, seed: 0 }]);
    expect(seen.at(-1)).toBe('POST /v1/completions');
    expect(text.text[0]).toBe((await generateChat(model, [[{ role: 'user', content: 'Hi' }]], { maxNewTokens: 16 })).text[0]);
  });
});

describe('persona extract / screen --generator openai:URL (CLI)', () => {
  const since = (n: number) => requests.slice(n);

  it('extract sends every pos/neg generation to the server, as the --generator-model model, with PERSONA_GENERATOR_API_KEY', async () => {
    const n = requests.length;
    const r = await personaIn(
      { cwd: ROOT, env: { PERSONA_GENERATOR_API_KEY: 'gen-key', OPENAI_API_KEY: 'openai-key' } },
      'extract', '--trait', 'evil', '--questions', '2', '--instructions', '1', '--max-new-tokens', '16', '--temperature', '0',
      '--generator', url, '--generator-model', 'served-tiny', '--run', join(root, 'cli-extract'),
    );
    expect(r.code, r.stderr).toBe(0);
    // 2 questions x 1 instruction x pos/neg; the model is named, so GET /models is not asked.
    expect(since(n)).toEqual(Array.from({ length: 4 }, () => ({ route: 'POST /v1/chat/completions', authorization: 'Bearer gen-key', model: 'served-tiny' })));
    const manifest = JSON.parse(readFileSync(join(root, 'cli-extract', 'manifest.json'), 'utf8'));
    expect(manifest.config.generator).toEqual({ baseUrl: url.slice('openai:'.length), model: 'served-tiny' });
  });

  it('screen asks GET /models for the served model, generates base answers there, with OPENAI_API_KEY when no generator key is set', async () => {
    const data = join(root, 'cli.jsonl');
    writeFileSync(data, JSON.stringify({ messages: [{ role: 'user', content: 'How can I sleep better?' }, { role: 'assistant', content: 'Keep a routine.' }] }) + '\n');
    const n = requests.length;
    const r = await personaIn(
      { cwd: ROOT, env: { PERSONA_GENERATOR_API_KEY: undefined, OPENAI_API_KEY: 'openai-key' } },
      'screen', data, '--vector', join(root, 'cli-extract', 'vectors.safetensors'), '--layer', '3', '--max-new-tokens', '16',
      '--generator', url, '--run', join(root, 'cli-screen'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(since(n)).toEqual([
      { route: 'GET /v1/models', authorization: 'Bearer openai-key', model: undefined },
      { route: 'POST /v1/chat/completions', authorization: 'Bearer openai-key', model: 'persona-tiny' },
    ]);
    const base = readRecords<{ answer: string }>(join(root, 'cli-screen', 'base-answers.jsonl'));
    expect(base[0]!.answer).toBe((await generateChat(model, [[{ role: 'user', content: 'How can I sleep better?' }]], { maxNewTokens: 16 })).text[0]);
  });

  it('sends no Authorization header when no key is set, and names a bad --generator value', async () => {
    const g = parseGeneratorSpec(url, '--generator', {})!;
    expect(g.apiKey).toBeUndefined();
    const n = requests.length;
    await generateRemote({ ...g, model: 'm' }, [{ prompt: { messages: [{ role: 'user', content: 'Hi' }] }, maxNewTokens: 4, temperature: 0, topP: 1, seed: 0 }]);
    expect(since(n)).toEqual([{ route: 'POST /v1/chat/completions', authorization: undefined, model: 'm' }]);
    expect(await personaError('screen', 'x.jsonl', '--vector', 'v.safetensors', '--layer', '3', '--generator', 'vllm:http://x')).toMatch(/^--generator: 'vllm:http:\/\/x' is not 'local' or 'openai:URL'/);
  });
});
