// A real `persona serve` server in the test process: the embedded model, built-in vectors and
// probes computed with small settings into a fresh cache, listening on a free loopback port.

import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunDir } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { builtinDirections } from '../../src/server/builtin.js';
import { Directions, type Settings } from '../../src/server/controls.js';
import { DEFAULT_LIMITS, startServer, type RunningServer } from '../../src/server/server.js';

export const MODEL = join(import.meta.dirname, '../../models/persona-tiny');

export interface TestServer {
  running: RunningServer;
  model: SteerableModel;
  directions: Directions;
  run: RunDir;
  url: string;
  stop: () => Promise<void>;
}

/**
 * `cache` names a built-in cache kept across runs in the temp folder (one per test file, so files
 * running in parallel never write the same one); the first run computes it (seconds).
 */
export async function testServer(o: { traits: string[]; attributes: string[]; cache: string; maxBatch?: number; startup?: Settings }): Promise<TestServer> {
  const root = mkdtempSync(join(tmpdir(), 'serve-'));
  const model = await loadModel(MODEL);
  const loaded = await builtinDirections(model, { cacheDir: join(tmpdir(), 'persona-steer-test-cache', o.cache), traits: o.traits, attributes: o.attributes, layer: 3, questions: 6, perClass: 12 });
  const directions = new Directions(model, loaded.traits, loaded.probes, { layers: [4], strength: 1, direction: 'centroid' });
  const run = RunDir.open(join(root, 'run'), 'serve', {});
  const running = await startServer(model, directions, run, {
    host: '127.0.0.1',
    port: 0,
    modelId: 'persona-tiny',
    limits: { ...DEFAULT_LIMITS, maxTokens: 64 },
    batch: { maxBatch: o.maxBatch ?? 8, maxQueue: 64 },
    startup: o.startup ?? { steer: [], probe: [] },
  });
  return {
    running,
    model,
    directions,
    run,
    url: running.url,
    stop: async () => {
      await running.close();
      await model.dispose();
    },
  };
}

/** POST JSON; the parsed reply and status. */
export async function post(url: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: await r.json() };
}

/** A streamed chat completion read to its end: the data payloads in order (the last is "[DONE]"). */
export async function streamChat(url: string, body: Record<string, unknown>): Promise<{ status: number; events: any[]; done: boolean }> {
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  const text = await r.text();
  const payloads = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
  const done = payloads.at(-1) === '[DONE]';
  return { status: r.status, events: payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p)), done };
}

/** The answer text of a stream: its content deltas joined. */
export function streamedText(events: any[]): string {
  return events.map((e) => e.choices?.[0]?.delta?.content ?? '').join('');
}

/**
 * A request through node:http, which (unlike fetch) may set any Host header and send a body in
 * chunks without a length. The reply's status and parsed JSON (null when it is not JSON).
 */
export function rawRequest(url: string, o: { method?: string; path: string; headers?: Record<string, string>; chunks?: string[] }): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${o.path}`, { method: o.method ?? (o.chunks ? 'POST' : 'GET'), headers: o.headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode!, json });
      });
    });
    req.on('error', reject);
    const chunks = [...(o.chunks ?? [])];
    const next = () => {
      const c = chunks.shift();
      if (c === undefined) return void req.end();
      req.write(c, () => setImmediate(next));
    };
    next();
  });
}

/** hidden_states[0] of one token: its embedding row, a fixed direction of the model itself to steer with. */
export async function embeddingOf(model: SteerableModel, token: string): Promise<Float32Array> {
  const ids = model.tokenizer.encode(token);
  if (ids.length !== 1) throw new Error(`'${token}' is ${ids.length} tokens`);
  const f = await model.forward({ inputIds: [ids], hiddenLayers: [0], useCache: false });
  return f.hidden.get(0)!.slice(0, model.hiddenSize);
}
