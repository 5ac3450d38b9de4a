// npm run bench: the runtime's speed goals, as ratios measured in one run on one machine.
//
//   prefill tok/s, all hidden states fetched   vs the uninstrumented model      goal >= 0.90x
//   decode tok/s, steering active              vs unsteered                      goal >= 0.97x
//   project / screen peak memory at 8n rows    vs n rows (scripts/bench-memory)   goal <= 1.15x
//   our loop's ms/token beyond session.run     as a share of the step, greedy    goal <= 3%
//     and with top-p 0.9 sampling over the 49k vocabulary                        goal <= 3%
//   a decode step fetching new KV columns      vs fetching the whole present      goal < 1 after 512 tokens
//   probe fits (CV accuracy, time)              vs scikit-learn, same folds       goal within 1 point, faster
//   extraction pruned after the deepest layer    vs the whole graph                (bench-extraction)
//   extraction, steered decode, memory after load vs PyTorch eager with hooks     goal >= 1.5x, <= 1.1x memory
//   extraction GFLOP/s                          vs the matmul roofline            goal >= 0.90x
//
// On a SmolLM2-135M-shaped random model (30 layers, hidden 576, 9/3 heads, ffn 1536, vocab 49152),
// built by the test fixture generator. A/B runs are interleaved and medians compared, so machine
// load drifts affect both sides alike. Writes build/bench.json.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { loadModel } from '../src/model/load.js';
import { generate } from '../src/generation/generate.js';
import { benchMemory } from './bench-memory.js';
import { describeMachine, machineLine } from './bench-machine.js';
import type { SteerableModel } from '../src/model/steerableModel.js';
import { makeFixture } from '../test/fixtures/index.js';
import { benchProbes } from './bench-probes.js';
import type { Row } from './bench-extraction.js';
import { benchAgainstTorch, benchTruncation } from './bench-extraction.js';
import { inTurn, median } from './bench-pairs.js';
import { KvBuffers } from '../src/model/kvBuffers.js';
import { KvSlots, slotsAllowed, slotsWork } from '../src/model/kvSlots.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const quick = args.has('quick');
// --skip=torch,memory,probes,truncation leaves parts out (e.g. to rerun one part on a busy machine).
const skip = new Set((args.get('skip') ?? '').split(',').filter(Boolean));
const SMOL = { numLayers: 30, hiddenSize: 576, numHeads: 9, numKvHeads: 3, intermediateSize: 1536, vocabSize: 49152, maxPositions: 2048 };
const config = quick ? { numLayers: 4, hiddenSize: 128, numHeads: 4, numKvHeads: 2, intermediateSize: 256, vocabSize: 2048 } : SMOL;
const PREFILL = { batch: 1, seq: quick ? 64 : 256 };
const DECODE_TOKENS = quick ? 16 : 48;
const REPS = quick ? 3 : 7;
// A 256-token prefill takes ~0.3 s, a 48-token decode ~1 s: more pairs than REPS cost little and
// steady the medians of goals within a few percent of 1 on a VM whose speed moves between seconds.
const PREFILL_PAIRS = quick ? 3 : 15;
const DECODE_PAIRS = quick ? 3 : 11;
const threads = Number(args.get('threads') ?? 2);
// Thread counts tried on both sides of the PyTorch comparison (each side keeps its fastest).
const threadChoices = [...new Set([1, threads])];


function log(msg: string) {
  process.stderr.write(msg + '\n');
}

async function timePrefill(model: SteerableModel, ids: number[][], hidden: 'all' | 'none'): Promise<number> {
  const t0 = performance.now();
  await model.forward({ inputIds: ids, hiddenLayers: hidden, useCache: false });
  return performance.now() - t0;
}

async function main() {
  log(`building ${quick ? 'quick' : 'SmolLM2-135M-shaped'} random model ...`);
  const fx = await makeFixture('llama', { seed: 7, config });
  const plain = await loadModel(fx.dir, { prepare: false, threads });
  log('instrumenting ...');
  const steered = await loadModel(fx.dir, { threads });

  const ids = Array.from({ length: PREFILL.batch }, (_, b) => Array.from({ length: PREFILL.seq }, (_, t) => 3 + ((b * 131 + t * 17) % (config.vocabSize - 3))));
  // Warm-up: first runs allocate arenas and pick kernels.
  await timePrefill(plain, ids, 'none');
  await timePrefill(steered, ids, 'all');

  log(`prefill ${PREFILL.batch}x${PREFILL.seq}, ${PREFILL_PAIRS} interleaved pairs ...`);
  const prefillPlain: number[] = [];
  const prefillHidden: number[] = [];
  const prefillRatios: number[] = [];
  for (let r = 0; r < PREFILL_PAIRS; r++) {
    // The ratio is the median of the pairs' (as for decode).
    const [p, h] = await inTurn(r, () => timePrefill(plain, ids, 'none'), () => timePrefill(steered, ids, 'all'));
    prefillPlain.push(p);
    prefillHidden.push(h);
    prefillRatios.push(p / h);
  }
  const tokens = PREFILL.batch * PREFILL.seq;
  const prefillPlainTps = tokens / (median(prefillPlain) / 1000);
  const prefillHiddenTps = tokens / (median(prefillHidden) / 1000);

  log(`decode ${DECODE_TOKENS} tokens, ${DECODE_PAIRS} pairs steering on/off interleaved ...`);
  const layer = Math.floor(config.numLayers / 2);
  const vector = Float32Array.from({ length: config.hiddenSize }, (_, i) => Math.sin(i));
  const prompt = [ids[0]!.slice(0, 32)];
  const run = (steer: boolean, sample = false) =>
    generate(steered, prompt, {
      maxNewTokens: DECODE_TOKENS,
      stopIds: [],
      steering: steer ? [{ layer, vector, coeff: 4, positions: 'all' }] : undefined,
      sampling: sample ? { temperature: 1, topP: 0.9, seed: 1 } : undefined,
    });
  await run(false);
  await run(true);
  const decodeOff: number[] = [];
  const decodeOn: number[] = [];
  const loopShare: number[] = [];
  const loopMsPerToken: number[] = [];
  const sampledShare: number[] = [];
  const steeredRatios: number[] = [];
  for (let r = 0; r < DECODE_PAIRS; r++) {
    const [off, on] = await inTurn(r, () => run(false), () => run(true));
    steeredRatios.push(off.timings.totalMs / on.timings.totalMs);
    decodeOff.push(off.timings.totalMs / DECODE_TOKENS);
    decodeOn.push(on.timings.totalMs / DECODE_TOKENS);
    // Shares over the decode steps (the prefill step is not one).
    const beyond = (g: typeof off) => {
      const steps = g.timings.steps.slice(1);
      const total = steps.reduce((a, x) => a + x.totalMs, 0);
      const run = steps.reduce((a, x) => a + x.runMs, 0);
      return { share: (total - run) / total, ms: (total - run) / steps.length };
    };
    for (const g of [off, on]) {
      loopShare.push(beyond(g).share);
      loopMsPerToken.push(beyond(g).ms);
    }
    sampledShare.push(beyond(await run(true, true)).share);
  }
  const decodeOffTps = 1000 / median(decodeOff);
  const decodeOnTps = 1000 / median(decodeOn);

  // A decode step that keeps the cache as generate does (new KV columns only, into fixed slots where
  // the graph allows, else appended to contiguous buffers) against one that fetches the whole
  // present cache. Short blocks of steps, alternating which side goes first, many pairs: drift on a
  // shared machine hits both sides alike. After 32 tokens the whole present is ~1.5 MB (SmolLM2
  // shape), a copy of ~0.1 ms in a ~22 ms step, below what this timing can resolve: that row is
  // informative; the goal is at 512 tokens, where the copy and its allocation are a third of a step.
  const kvRows: Row[] = [];
  const KV_BLOCK = 16;
  const KV_PAIRS = quick ? 3 : 9;
  for (const ctx of quick ? [32, 96] : [32, 512]) {
    const long = [Array.from({ length: ctx }, (_, t) => 3 + ((t * 17) % (config.vocabSize - 3)))];
    const slots = slotsAllowed(steered, ctx + KV_BLOCK) && (await slotsWork(steered));
    const steps = async (columns: boolean) => {
      const kv = columns ? (slots ? new KvSlots(ctx + KV_BLOCK) : new KvBuffers(ctx + KV_BLOCK)) : undefined;
      let r = await steered.forward({ inputIds: long, lastLogitsOnly: true, kvBuffers: kv });
      const t0 = performance.now();
      for (let i = 0; i < KV_BLOCK; i++) r = await steered.forward({ inputIds: [[5 + i]], cache: r.cache, lastLogitsOnly: true, kvBuffers: kv });
      return (performance.now() - t0) / KV_BLOCK;
    };
    await steps(true);
    await steps(false);
    const pairs: [number, number][] = [];
    for (let r = 0; r < KV_PAIRS; r++) {
      const [whole, columns] = await inTurn(r, () => steps(false), () => steps(true));
      pairs.push([columns, whole]);
    }
    const ratios = pairs.map(([c, p]) => c / p);
    const judged = ctx > 32;
    kvRows.push({
      metric: `decode step after ${ctx} tokens: new KV columns (${slots ? 'slots' : 'appended'}) / whole present`,
      a: median(pairs.map((p) => p[0])),
      b: median(pairs.map((p) => p[1])),
      ratio: median(ratios),
      spread: [Math.min(...ratios), Math.max(...ratios)],
      goal: judged ? '< 1' : '(info)',
      ok: !judged || median(ratios) < 1,
    });
  }

  const rows: Row[] = [
    { metric: 'prefill tok/s (all hidden states) / uninstrumented', a: prefillHiddenTps, b: prefillPlainTps, ratio: median(prefillRatios), spread: [Math.min(...prefillRatios), Math.max(...prefillRatios)], goal: '>= 0.90', ok: median(prefillRatios) >= 0.9 },
    { metric: 'decode tok/s steered / unsteered', a: decodeOnTps, b: decodeOffTps, ratio: median(steeredRatios), spread: [Math.min(...steeredRatios), Math.max(...steeredRatios)], goal: '>= 0.97', ok: median(steeredRatios) >= 0.97 },
    { metric: 'loop ms/token beyond session.run, greedy (share)', a: median(loopMsPerToken), b: median(decodeOff), ratio: median(loopShare), goal: '<= 0.03', ok: median(loopShare) <= 0.03 },
    { metric: '  same, top-p 0.9 sampling (share)', a: NaN, b: NaN, ratio: median(sampledShare), goal: '<= 0.03', ok: median(sampledShare) <= 0.03 },
    ...kvRows,
  ];
  if (!skip.has('truncation')) rows.push(...(await benchTruncation(steered, REPS, log)));
  const torch = skip.has('torch') ? { rows: [], skipped: 'left out (--skip=torch)' } : await benchAgainstTorch(
    [
      { label: quick ? 'quick' : 'SmolLM2-shaped', dir: fx.dir, onnx: join(fx.dir, 'onnx', 'model.onnx'), extract: quick ? [[8, 64]] : [[8, 64], [1, 256]] },
      { label: 'persona-tiny', dir: 'models/persona-tiny', onnx: 'models/persona-tiny/onnx/model.onnx', extract: [[8, 64]] },
    ],
    { reps: quick ? 3 : 5, threads: threadChoices, decodeTokens: DECODE_TOKENS },
    log,
  );
  if (torch.skipped) log(`PyTorch baseline skipped: ${torch.skipped}`);
  rows.push(...torch.rows);
  // project / screen memory against dataset size (fresh processes on the embedded model).
  if (!skip.has('memory')) rows.push(...(await benchMemory(quick, log)));
  const pad = (s: string, n: number) => s.padEnd(n);
  const machine = describeMachine();
  console.log(`\n${machineLine(machine)}`);
  console.log(`model: ${quick ? 'quick' : 'SmolLM2-135M-shaped'} (${config.numLayers} layers, hidden ${config.hiddenSize}, vocab ${config.vocabSize}), threads ${threads}`);
  console.log(pad('metric', 76) + pad('measured', 11) + pad('baseline', 11) + pad('ratio', 18) + pad('goal', 10) + 'met');
  const num = (x: number) => (Number.isNaN(x) ? '-' : Math.abs(x) < 0.01 && x !== 0 ? x.toExponential(1) : Math.abs(x) < 0.1 ? x.toFixed(3) : x.toFixed(2));
  for (const r of rows) {
    const ratio = r.spread ? `${num(r.ratio)} [${num(r.spread[0])}-${num(r.spread[1])}]` : num(r.ratio);
    console.log(pad(r.metric, 76) + pad(num(r.a), 11) + pad(num(r.b), 11) + pad(ratio, 18) + pad(r.goal, 10) + (r.goal.startsWith('(') ? '' : r.ok ? 'yes' : 'NO'));
  }
  console.log('\nratio [a-b]: median of paired, interleaved runs [their range]; measured/baseline: medians (ms, GFLOP/s, MB).');
  if (skip.has('torch')) console.log('PyTorch baseline: left out (--skip=torch)');
  else if (torch.skipped) console.log(`PyTorch baseline: ABSENT, so no toolkit/PyTorch rows: ${torch.skipped}`);
  else console.log(`PyTorch ${Object.values(torch.torch!)[0]?.torch} (eager, forward hooks); threads (toolkit/PyTorch) per workload ${JSON.stringify(Object.fromEntries(Object.entries(torch.torch!).map(([k, v]) => [k, v.threads])))}`);
  mkdirSync('build', { recursive: true });
  const out = join('build', quick ? 'bench-quick.json' : 'bench.json');
  writeJsonAtomic(out, {
    date: new Date().toISOString(),
    node: process.version,
    machine,
    threads,
    model: { ...config, params: 'random, fixture llama' },
    prefill: { batch: PREFILL.batch, seq: PREFILL.seq, msPlain: prefillPlain, msHidden: prefillHidden },
    decode: { tokens: DECODE_TOKENS, msPerTokenOff: decodeOff, msPerTokenOn: decodeOn, loopShare, loopMsPerToken, sampledShare },
    results: rows,
    torch: torch.torch ?? { skipped: torch.skipped },
    probes: skip.has('probes') ? 'left out (--skip=probes)' : await benchProbes({ quick }),
  });
  console.log(`\nwrote ${out}`);
  await plain.dispose();
  await steered.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
