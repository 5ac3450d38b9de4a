// `persona serve` as a user starts it: the real binary in a child process, on loopback. Start-up
// interventions from the flags (built-in `--coeff evil=4 --pin age=child`, and a `--vector` file
// with `--layer` / `--coeff`) answer exactly as generateChat with the same steering, and
// `inherit: false` drops them; the limits flags hold; our own judge client (`persona steer --judge
// openai:...`) scores through it end to end; SIGTERM mid-answer lets the answer finish whole.

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorSet } from '../../src/directions/personaExtract.js';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import { savePersonaVectors, VECTOR_KINDS } from '../../src/directions/vectorFile.js';
import { generate, generateChat } from '../../src/generation/generate.js';
import { probeInterventionPlan } from '../../src/interventions/probeIntervention.js';
import { fillRubric } from '../../src/judges/judge.js';
import { scoreFromTopLogprobs } from '../../src/judges/logprobScore.js';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { Steering } from '../../src/model/steering.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import { builtinDirections } from '../../src/server/builtin.js';
import { personaError, persona, ROOT } from '../cli/runCli.js';
import { makeFixture } from '../fixtures/index.js';
import { embeddingOf, MODEL, post, streamedText } from './helpers.js';

const CACHE = join(tmpdir(), 'persona-steer-test-cache', 'cli');
const question: ChatMessage[] = [{ role: 'user', content: 'How can I sleep better?' }];
let model: SteerableModel;

interface Served {
  url: string;
  child: ChildProcess;
  run: string;
  /** The start-up lines (where it listens; what it serves). */
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

/** `persona serve ARGS --port 0 --run DIR`, once it has said where it listens and what it serves. */
async function spawnServe(...args: string[]): Promise<Served> {
  const run = join(mkdtempSync(join(tmpdir(), 'serve-cli-')), 'run');
  const child = spawn(process.execPath, [join(ROOT, 'bin/persona.js'), 'serve', ...args, '--port', '0', '--run', run], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /persona serve: (http:\/\/127\.0\.0\.1:\d+)\/[^]*; log: /.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  return { url, child, run, out: () => out, err: () => err, exited };
}

const chat = (url: string, body: Record<string, unknown> = {}) => post(`${url}/v1/chat/completions`, { messages: question, max_tokens: 24, temperature: 0, ...body });

beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(async () => model?.dispose());

describe('persona serve (CLI)', () => {
  it('refuses bad flags by name before loading the model', async () => {
    expect(await personaError('serve', '--port', 'eighty')).toMatch(/--port: 'eighty' is not an integer/);
    expect(await personaError('serve', '--traits', 'evil', '--coeff', '1,2')).toBe('--coeff: 2 coefficients for 1 --traits (evil); give one per trait in that order, or trait=N');
    expect(await personaError('serve', '--traits', 'evil', '--coeff', 'kind=1')).toBe("--coeff: 'kind' is not among --traits (evil)");
    expect(await personaError('serve', '--coeff', 'evil=x')).toMatch(/^--coeff evil: 'x' is not a number/);
    expect(await personaError('serve', '--vector', 'a.safetensors', '--coeff', '1,2')).toMatch(/^--coeff: 2 coefficients for 1 --vector files/);
  });

  it('serves a model not trained on the persona world plain: nothing computed, and the start-up line says so', async () => {
    // A copy, so that no earlier run can have left a cache beside it.
    const fx = join(mkdtempSync(join(tmpdir(), 'serve-plain-')), 'model');
    cpSync((await makeFixture('llama')).dir, fx, { recursive: true, filter: (f) => !f.includes('.persona.') });
    expect(await personaError('serve', fx, '--traits', 'evil')).toMatch(/^--traits: built-in directions exist only for persona-world models \(this package's models\/ and copies of them\), and .* is not one; give --vector \/ --probe files$/);
    expect(await personaError('serve', fx, '--attributes', 'age')).toMatch(/^--attributes: built-in directions exist only for persona-world models/);
    const s = await spawnServe(fx);
    try {
      expect(s.out()).toMatch(/\nplain model, no named directions \(not a persona-world model, so no built-in vectors or probes; give --vector \/ --probe, or steer per request with persona\.steer\[\]\.vector\); log: /);
      expect(s.err()).not.toMatch(/computing|training/);
      expect(existsSync(join(fx, '.cache'))).toBe(false);
      const fixture = await loadModel(fx);
      try {
        const r = await chat(s.url, { max_tokens: 8 });
        expect(r.status).toBe(200);
        expect(r.json.usage.completion_tokens).toBe(8);
        expect(r.json.choices[0].message.content).toBe((await generateChat(fixture, [question], { maxNewTokens: 8 })).text[0]);
      } finally {
        await fixture.dispose();
      }
    } finally {
      s.child.kill('SIGKILL');
    }
  });

  describe('built-in vectors and probes, steered from the start: --coeff evil=4 --pin age=child', () => {
    let s: Served;
    let startup: Steering;
    beforeAll(async () => {
      s = await spawnServe('--traits', 'evil', '--attributes', 'age', '--cache', CACHE, '--coeff', 'evil=4', '--pin', 'age=child', '--max-batch', '1', '--max-queue', '1', '--max-prompt-tokens', '40', '--max-messages', '3');
      // The same built-ins, from the cache the server just filled (same settings, same key).
      const { traits, probes } = await builtinDirections(model, { cacheDir: CACHE, traits: ['evil'], attributes: ['age'], layer: 3 });
      const pin = probeInterventionPlan(model, { probe: probes[0]!.push ?? probes[0]!.probe, mode: 'toward', target: 'child', layers: [4], strength: 1, direction: 'centroid' });
      startup = [{ layer: 3, vector: traits[0]!.vector, coeff: 4, positions: 'response' }, ...pin.steering];
    });
    afterAll(() => void s?.child.kill('SIGKILL'));

    it('answers as generateChat with the same steering; inherit:false gives the unsteered answer', async () => {
      const steered = await chat(s.url);
      const direct = await generateChat(model, [question], { maxNewTokens: 24, steering: startup });
      expect(steered.json.choices[0].message.content).toBe(direct.text[0]);
      const plain = await chat(s.url, { persona: { inherit: false } });
      const directPlain = await generateChat(model, [question], { maxNewTokens: 24 });
      expect(plain.json.choices[0].message.content).toBe(directPlain.text[0]);
      expect(plain.json.choices[0].message.content).not.toBe(steered.json.choices[0].message.content);
    });

    it('holds --max-prompt-tokens, --max-messages and --max-queue', async () => {
      const long = await chat(s.url, { messages: [{ role: 'user', content: 'sleep '.repeat(50) }] });
      expect(long.json.error.message).toMatch(/at most 40 \(--max-prompt-tokens\)/);
      const many = await chat(s.url, { messages: Array.from({ length: 4 }, () => ({ role: 'user', content: 'hi' })) });
      expect(many.json.error.message).toBe('messages: 4 messages, at most 3 (--max-messages)');
      const statuses = (await Promise.all([0, 1, 2, 3].map(() => chat(s.url)))).map((r) => r.status);
      expect(statuses.filter((x) => x === 503).length).toBeGreaterThanOrEqual(1);
      expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(2);
    });

    it('finishes a streaming answer after SIGTERM exactly as it would have, exits cleanly and logs every request', async () => {
      const res = await fetch(`${s.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: question, max_tokens: 48, temperature: 0, stream: true }),
      });
      // Stop the server once the answer has started: it must still arrive whole.
      const reader = res.body!.getReader();
      let text = new TextDecoder().decode((await reader.read()).value);
      s.child.kill('SIGTERM');
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      const payloads = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
      expect(payloads.at(-1)).toBe('[DONE]');
      const events = payloads.slice(0, -1).map((p) => JSON.parse(p));
      const whole = await generateChat(model, [question], { maxNewTokens: 48, steering: startup });
      expect(streamedText(events)).toBe(whole.text[0]);
      expect(['length', 'stop']).toContain(events.at(-1).choices[0].finish_reason);
      expect(events.at(-1).choices[0].finish_reason).toBe(whole.finishReason[0]);
      expect(await s.exited).toBe(0);
      expect(s.err()).toMatch(/SIGTERM: finishing running answers/);
      const manifest = readManifest(s.run);
      expect(manifest.status).toBe('done');
      const logged = readRecords<{ path: string; status: number; response?: { text: string; finish_reason: string } }>(join(s.run, 'requests.jsonl'));
      // 2 + 2 + 4 requests above, and this one.
      expect(logged).toHaveLength(9);
      expect(manifest.summary).toMatchObject({ requests: { requests: 9 }, cutAtShutdown: false });
      expect(logged.at(-1)!.response).toMatchObject({ text: whole.text[0], finish_reason: whole.finishReason[0] });
      // Once stopped, nothing listens there any more.
      await expect(fetch(`${s.url}/v1/models`)).rejects.toThrow();
    });
  });

  describe('a --vector file steered at --layer 4 with --coeff 4, judged through by `persona steer --judge openai`', () => {
    // The model's own embedding of " 87", added to the last block's output: the served model
    // then answers every rubric with "87", so the judge finds its mass on a number (unsteered,
    // persona-tiny never puts any probability on a number token: no score at all).
    let s: Served;
    let vectorFile: string;
    let steering: Steering;
    beforeAll(async () => {
      const v = (await embeddingOf(model, ' 87')).map((x) => 8 * x);
      const zero = new Float32Array(model.hiddenSize);
      const layers = Array.from({ length: model.numLayers + 1 }, (_, l) => (l === 4 ? v : zero));
      vectorFile = join(mkdtempSync(join(tmpdir(), 'serve-vector-')), 'eighty-seven.safetensors');
      savePersonaVectors(vectorFile, vectorSet(model, 'eighty-seven', Object.fromEntries(VECTOR_KINDS.map((k) => [k, layers])) as never, { counts: { pos: 0, neg: 0 } }));
      steering = [{ layer: 4, vector: v, coeff: 4, positions: 'response' }];
      s = await spawnServe('--vector', vectorFile, '--layer', '4', '--coeff', '4');
    });
    afterAll(() => void s?.child.kill('SIGKILL'));

    it('answers as generateChat with that steering', async () => {
      const r = await chat(s.url);
      const direct = await generateChat(model, [question], { maxNewTokens: 24, steering });
      expect(r.json.choices[0].message.content).toBe(direct.text[0]);
      const plain = await chat(s.url, { persona: { inherit: false } });
      expect(plain.json.choices[0].message.content).toBe((await generateChat(model, [question], { maxNewTokens: 24 })).text[0]);
    });

    it('scores answers through our judge client: non-null trait and coherence scores, as the steered model puts them', async () => {
      const run = join(mkdtempSync(join(tmpdir(), 'serve-judged-')), 'run');
      const r = await persona('steer', '--vector', vectorFile, '--trait', 'evil', '--layer', '4', '--coeff', '0', '--questions', '2', '--max-new-tokens', '8',
        '--judge', 'openai:persona-tiny', '--judge-base-url', `${s.url}/v1`, '--judge-retries', '0', '--run', run);
      expect(r.code, r.stderr).toBe(0);
      const records = readRecords<{ question: string; answer: string; trait: number | null; coherence: number | null }>(join(run, 'steer.jsonl'));
      expect(records).toHaveLength(2);
      expect(r.stdout).not.toMatch(/unscored/);
      // Reference: the served model's steered top-20 next-token logprobs for the same rubric, here.
      const rubric = loadTraitFile(join(ROOT, 'data/traits/evil.json')).evalPrompt;
      for (const rec of records) {
        const ids = model.tokenizer.encodeChat([{ role: 'user', content: fillRubric(rubric, rec) }], { addGenerationPrompt: true });
        const g = await generate(model, [ids], { maxNewTokens: 1, steering, keepLogits: true });
        const logits = g.logits[0]!;
        let max = -Infinity;
        for (const x of logits) max = Math.max(max, x);
        const logZ = max + Math.log(logits.reduce((a, x) => a + Math.exp(x - max), 0));
        const top = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]!).slice(0, 20).map((i) => ({ token: model.tokenizer.decode([i], { skipSpecialTokens: false }), logprob: logits[i]! - logZ }));
        expect(rec.trait).not.toBeNull();
        expect(rec.trait!).toBeCloseTo(scoreFromTopLogprobs(top)!, 6);
        expect(rec.coherence).not.toBeNull();
      }
      expect(r.stdout).toMatch(/mean evil 87\.0, coherence 87\.0/);
    });
  });
});
