// Load test for `persona serve`: N concurrent streaming clients, each checked for a complete,
// well-formed stream (role chunk, one chunk per token, finish_reason, usage, [DONE]); prints the
// figures. Not a timed test: run it by hand.
//
//   npx tsx scripts/load-serve.ts [--clients 64] [--max-tokens 32] [--rounds 1] [--url http://127.0.0.1:8000]
//
// Without --url it starts a server in this process on the embedded model (no vectors or probes).

import { parseArgs } from 'node:util';
import { loadModel } from '../src/model/load.js';
import { RunDir } from '../src/logs/runDir.js';
import { Directions } from '../src/server/controls.js';
import { DEFAULT_LIMITS, startServer } from '../src/server/server.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '64' }, 'max-tokens': { type: 'string', default: '32' }, rounds: { type: 'string', default: '1' }, url: { type: 'string' }, 'max-batch': { type: 'string', default: '16' } },
});
const clients = Number(values.clients);
const maxTokens = Number(values['max-tokens']);
const rounds = Number(values.rounds);

let url = values.url;
let stop = async () => {};
let stats = () => ({}) as unknown;
if (!url) {
  const model = await loadModel(join(import.meta.dirname, '../models/persona-tiny'));
  const run = RunDir.open(mkdtempSync(join(tmpdir(), 'load-serve-')), 'serve', {});
  const running = await startServer(model, new Directions(model, [], [], { layers: [3], strength: 1, direction: 'centroid' }), run, {
    host: '127.0.0.1', port: 0, modelId: 'persona-tiny', limits: DEFAULT_LIMITS, batch: { maxBatch: Number(values['max-batch']), maxQueue: 4096 }, startup: { steer: [], probe: [] },
  });
  url = running.url;
  stats = () => running.ctx.batcher.stats;
  stop = async () => {
    await running.close();
    await model.dispose();
  };
}

const questions = ['How can I sleep better?', 'What pet should I get?', 'How do I learn to cook?', 'Any tips for saving money?', 'How can I stay fit?', 'What should I read next?', 'How do I make friends?', 'How can I focus?'];

interface ClientResult { ok: boolean; error?: string; tokens: number; firstMs: number; totalMs: number }

async function client(i: number): Promise<ClientResult> {
  const t0 = performance.now();
  let firstMs = NaN;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: questions[i % questions.length] }], max_tokens: maxTokens, temperature: 1, seed: i, stream: true, stream_options: { include_usage: true } }),
    });
    if (!res.ok) return { ok: false, error: `HTTP ${res.status} ${await res.text()}`, tokens: 0, firstMs, totalMs: performance.now() - t0 };
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      // The first token arrives in the second event (the first only opens the assistant message).
      if (Number.isNaN(firstMs) && text.split('\n\n').length > 2) firstMs = performance.now() - t0;
    }
    const payloads = text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
    const totalMs = performance.now() - t0;
    if (payloads.at(-1) !== '[DONE]') return { ok: false, error: 'no [DONE]', tokens: 0, firstMs, totalMs };
    const events = payloads.slice(0, -1).map((p) => JSON.parse(p));
    const usage = events.at(-1).usage;
    const contentChunks = events.filter((e) => e.choices?.[0]?.delta && 'content' in e.choices[0].delta && !('role' in e.choices[0].delta)).length;
    const finish = events.find((e) => e.choices?.[0]?.finish_reason)?.choices[0].finish_reason;
    if (!usage || !finish) return { ok: false, error: 'missing usage or finish_reason', tokens: 0, firstMs, totalMs };
    if (contentChunks !== usage.completion_tokens) return { ok: false, error: `${contentChunks} token chunks for ${usage.completion_tokens} tokens (lost messages)`, tokens: 0, firstMs, totalMs };
    return { ok: true, tokens: usage.completion_tokens, firstMs, totalMs };
  } catch (e) {
    return { ok: false, error: (e as Error).message, tokens: 0, firstMs, totalMs: performance.now() - t0 };
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
for (let r = 0; r < rounds; r++) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const wall = (performance.now() - t0) / 1000;
  const ok = results.filter((x) => x.ok);
  const tokens = ok.reduce((a, x) => a + x.tokens, 0);
  console.log(
    `round ${r + 1}: ${clients} concurrent streaming clients, ${ok.length} complete, ${clients - ok.length} failed; ` +
      `${tokens} tokens in ${wall.toFixed(2)} s = ${(tokens / wall).toFixed(0)} tokens/s; ` +
      `first token p50 ${pct(ok.map((x) => x.firstMs), 0.5).toFixed(0)} ms, p95 ${pct(ok.map((x) => x.firstMs), 0.95).toFixed(0)} ms; ` +
      `whole answer p50 ${pct(ok.map((x) => x.totalMs), 0.5).toFixed(0)} ms, p95 ${pct(ok.map((x) => x.totalMs), 0.95).toFixed(0)} ms`,
  );
  for (const x of results.filter((y) => !y.ok).slice(0, 5)) console.log('  error:', x.error);
  if (ok.length !== clients) process.exitCode = 1;
}
console.log('batcher:', JSON.stringify(stats()));
await stop();
