// Load test for `persona serve`: N concurrent streaming clients, greedy, each with its own
// question and its own steering (an unnamed vector at a per-client coefficient), once per
// --max-batch value (batched against unbatched). Every stream must be complete and hold exactly
// the answer the library gives that request alone (generateChat, same steering). Writes
// load.json (settings, every client's tokens/s and latencies, batcher stats) and load.html (the
// figure) to a run directory; prints the summary.
//
//   npx tsx scripts/load-serve.ts [--clients 64] [--max-tokens 32] [--batches 16,1] [--runs runs]

import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { generateChat } from '../src/generation/generate.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { RunDir } from '../src/logs/runDir.js';
import { loadModel } from '../src/model/load.js';
import { bars, scatter, writeReport } from '../src/reports/html.js';
import { Directions } from '../src/server/controls.js';
import { runClients, type LoadResult } from '../src/server/loadClients.js';
import { DEFAULT_LIMITS, startServer } from '../src/server/server.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '64' },
    'max-tokens': { type: 'string', default: '32' },
    batches: { type: 'string', default: '16,1' },
    model: { type: 'string', default: 'models/persona-tiny' },
    runs: { type: 'string', default: 'runs' },
  },
});
const clients = Number(values.clients);
const maxTokens = Number(values['max-tokens']);
const batches = values.batches!.split(',').map(Number);
const LAYER = 3;
const COEFFS = [0, 2, -2, 4];
const QUESTIONS = ['How can I sleep better?', 'What pet should I get?', 'How do I learn to cook?', 'Any tips for saving money?', 'How can I stay fit?', 'What should I read next?', 'How do I make friends?', 'How can I focus?'];

const model = await loadModel(values.model!);
const run = RunDir.open(RunDir.freshPath(values.runs!, 'load-serve', basename(values.model!)), 'load-serve', { clients, maxTokens, batches, layer: LAYER, coeffs: COEFFS });
// A steering direction from the model itself: the embedding of one word (any fixed vector would do).
const word = model.tokenizer.encode(' kind');
const vector = (await model.forward({ inputIds: [word], hiddenLayers: [0], useCache: false })).hidden.get(0)!.slice(0, model.hiddenSize);
const requests = Array.from({ length: clients }, (_, i) => ({ question: QUESTIONS[i % QUESTIONS.length]!, coeff: COEFFS[Math.floor(i / QUESTIONS.length) % COEFFS.length]! }));
const bodies = requests.map((r) => ({
  messages: [{ role: 'user', content: r.question }],
  max_tokens: maxTokens,
  temperature: 0,
  persona: { steer: [{ vector: Array.from(vector), layer: LAYER, coeff: r.coeff }] },
}));

// The library's own answer to every distinct request, alone.
const reference = new Map<string, string>();
for (const r of requests) {
  const key = `${r.question}|${r.coeff}`;
  if (reference.has(key)) continue;
  const g = await generateChat(model, [[{ role: 'user', content: r.question }]], { maxNewTokens: maxTokens, steering: [{ layer: LAYER, vector, coeff: r.coeff, positions: 'response' }] });
  reference.set(key, g.text[0]!);
}
const expected = requests.map((r) => reference.get(`${r.question}|${r.coeff}`)!);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN;
const modes: { maxBatch: number; load: LoadResult; batcher: unknown; tokensPerSecond: number; summary: Record<string, number> }[] = [];
for (const maxBatch of batches) {
  const running = await startServer(model, new Directions(model, [], [], { layers: [LAYER], strength: 1, direction: 'centroid' }), RunDir.open(run.path(`serve-batch-${maxBatch}`), 'serve', {}), {
    host: '127.0.0.1', port: 0, modelId: 'persona-tiny', limits: DEFAULT_LIMITS, batch: { maxBatch, maxQueue: 4096 }, startup: { steer: [], probe: [] },
  });
  const load = await runClients(running.url, bodies, expected);
  await running.close();
  const ok = load.results.filter((r) => r.ok);
  const tokensPerSecond = load.tokens / (load.wallMs / 1000);
  const summary = {
    complete: ok.length, failed: load.failed, tokens: load.tokens, seconds: load.wallMs / 1000, tokensPerSecond,
    firstTokenP50Ms: pct(ok.map((r) => r.firstMs), 0.5), firstTokenP95Ms: pct(ok.map((r) => r.firstMs), 0.95),
    answerP50Ms: pct(ok.map((r) => r.totalMs), 0.5), answerP95Ms: pct(ok.map((r) => r.totalMs), 0.95),
  };
  modes.push({ maxBatch, load, batcher: { ...running.ctx.batcher.stats }, tokensPerSecond, summary });
  console.log(
    `--max-batch ${maxBatch}: ${clients} concurrent streaming clients, ${ok.length} complete and equal to the library's answers, ${load.failed} failed; ` +
      `${load.tokens} tokens in ${summary.seconds.toFixed(2)} s = ${tokensPerSecond.toFixed(0)} tokens/s; first token p50 ${summary.firstTokenP50Ms.toFixed(0)} ms, ` +
      `p95 ${summary.firstTokenP95Ms.toFixed(0)} ms; whole answer p50 ${summary.answerP50Ms.toFixed(0)} ms, p95 ${summary.answerP95Ms.toFixed(0)} ms; batcher ${JSON.stringify(running.ctx.batcher.stats)}`,
  );
  for (const x of load.results.filter((y) => !y.ok).slice(0, 5)) console.log(`  client ${x.client}: ${x.error}`);
  if (load.failed) process.exitCode = 1;
}

writeJsonAtomic(run.path('load.json'), { clients, maxTokens, layer: LAYER, coeffs: COEFFS, modes: modes.map((m) => ({ maxBatch: m.maxBatch, summary: m.summary, batcher: m.batcher, clients: m.load.results })) });
run.output('results', 'load.json');
const name = (m: { maxBatch: number }) => (m.maxBatch === 1 ? 'unbatched (--max-batch 1)' : `batched (--max-batch ${m.maxBatch})`);
const clientIds = Array.from({ length: clients }, (_, i) => String(i));
writeReport(run.path('load.html'), {
  title: 'persona serve under load',
  subtitle: `${clients} concurrent streaming clients, ${maxTokens} tokens each, greedy, per-client steering; ${values.model}`,
  sections: [
    {
      heading: 'Throughput',
      table: [['mode', 'complete', 'failed', 'tokens', 'seconds', 'tokens/s', 'first token p50 ms', 'p95', 'answer p50 ms', 'p95'], ...modes.map((m) => [
        name(m), m.summary.complete!, m.summary.failed!, m.summary.tokens!, m.summary.seconds!, m.summary.tokensPerSecond!, m.summary.firstTokenP50Ms!, m.summary.firstTokenP95Ms!, m.summary.answerP50Ms!, m.summary.answerP95Ms!,
      ])],
      figures: [bars(modes.map((m) => ({ name: name(m), y: m.load.results.map((r) => r.tokensPerSecond) })), clientIds, 'Tokens per second, per client', { x: 'client', y: 'tokens/s' })],
    },
    {
      heading: 'Latency per client',
      figures: [
        scatter(modes.flatMap((m) => [
          { name: `${name(m)}: first token`, x: m.load.results.map((r) => r.client), y: m.load.results.map((r) => r.firstMs) },
          { name: `${name(m)}: whole answer`, x: m.load.results.map((r) => r.client), y: m.load.results.map((r) => r.totalMs) },
        ]), 'Latency per client', { x: 'client', y: 'milliseconds' }),
      ],
    },
  ],
});
run.output('figure', 'load.html');
run.finish({ modes: modes.map((m) => ({ maxBatch: m.maxBatch, ...m.summary })) });
console.log(`run ${run.dir}: load.json, load.html`);
await model.dispose();
