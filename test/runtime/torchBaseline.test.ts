// The bench's PyTorch baseline (scripts/bench-torch.py) computes the same hidden states as our
// runtime on the same weights, dumped from the ONNX file (named initializers on the fixture,
// anonymous onnx::MatMul_N ones named by their MatMul node on persona-tiny); it serves timed runs
// one request at a time (what lets the bench interleave them with ours); and without a python3
// that imports torch the bench says so, naming what it tried.

import { existsSync, realpathSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { findTorch, runOurs, runTorch, TorchWorker } from '../../scripts/bench-torch.js';
import { chainDims, chainFlops, ProjectionChain } from '../../scripts/bench-roofline.js';
import { readModel } from '../../src/onnx/read.js';
import { readFileSync } from 'node:fs';
import { hasPythonModule } from '../helpers/python.js';
import { fixtureModel } from './helpers.js';

const torch = findTorch();

describe.runIf(hasPythonModule('torch'))('PyTorch eager baseline of the bench', () => {
  it('equals our hidden states to 1e-5 on a fixture and on persona-tiny', async () => {
    if (!('python' in torch)) throw new Error(torch.skipped);
    const { fx, model } = await fixtureModel('llama');
    const a = await runTorch(torch.python, model, `${fx.dir}/onnx/model.onnx`);
    expect(a.checkRelErr).toBeLessThan(1e-5);
    await model.dispose();
    const tiny = await loadModel('models/persona-tiny', { threads: 1 });
    const b = await runTorch(torch.python, tiny, 'models/persona-tiny/onnx/model.onnx');
    expect(b.checkRelErr).toBeLessThan(1e-5);
    expect(b.rssAfterLoadMb).toBeGreaterThan(b.rssBeforeLoadMb);
    // Debian's torch multiplies through the system libblas; where that is OpenBLAS, whose threads
    // torch.set_num_threads does not set, the baseline must have found its own setter.
    const alt = '/etc/alternatives/libblas.so.3-x86_64-linux-gnu';
    if (existsSync(alt) && realpathSync(alt).includes('openblas')) expect(b.blasThreads).toMatch(/openblas/);
    await tiny.dispose();
  });

  it('answers run and matmul requests one by one, in order', async () => {
    if (!('python' in torch)) throw new Error(torch.skipped);
    const { fx, model } = await fixtureModel('llama');
    const w = await TorchWorker.start(torch.python, model, `${fx.dir}/onnx/model.onnx`, [
      { name: 'x', kind: 'extract', ids: [[3, 4, 5, 6]] },
      { name: 'd', kind: 'decode', prompt: [3, 4], tokens: 3, layer: 1, vector: Array(model.hiddenSize).fill(0.1), coeff: 1 },
    ]);
    try {
      const [x, d, mm, x8, chain] = await Promise.all([w.run('x', 1), w.run('d', 1), w.matmul([[8, 16, 4]], 1), w.run('x', 1, 8), w.chain(chainDims(model), 8, 2, 1)]);
      expect(chain).toBeGreaterThan(0);
      expect(Number.isFinite(chain)).toBe(true);
      for (const t of [x, d, x8]) expect(t.ms).toBeGreaterThan(0);
      // An extraction run times its first batch apart (the one after the gap); decode has none.
      for (const t of [x, x8]) expect(t.firstMs).toBeGreaterThan(0);
      expect(d.firstMs).toBeUndefined();
      expect(x8.firstMs!).toBeLessThan(4 * x8.ms); // ms is per batch of the eight: the first is no half of them
      // Ours the same way: 8 batches of the dataset, the first of them timed apart.
      const xs = { name: 'x', kind: 'extract' as const, ids: [[3, 4, 5, 6], [7, 8, 9, 10]] };
      await runOurs(model, xs); // opens the reading variant
      const ours = await runOurs(model, xs, 8);
      expect(ours.firstMs).toBeGreaterThan(0);
      expect(ours.firstMs!).toBeLessThan(4 * ours.ms);
      expect(mm['8x16x4']).toBeGreaterThan(0);
      expect(() => w.run('nope', 1)).toThrow(/no workload nope/);
    } finally {
      await w.close();
      await model.dispose();
    }
  });
});

describe("the roofline's projection chain", () => {
  it("counts a forward pass's projection FLOPs (persona-tiny's MatMul weights) and runs them", async () => {
    const tiny = await loadModel('models/persona-tiny', { threads: 1 });
    const g = readModel(readFileSync('models/persona-tiny/onnx/model.onnx')).graph;
    const weights = new Map(g.initializers.filter((t) => t.dims.length === 2).map((t) => [t.name, t.dims[0]! * t.dims[1]!]));
    // Every MatMul on a weight but the LM head's (N = vocab).
    const params = g.nodes
      .filter((n) => n.opType === 'MatMul' && weights.has(n.inputs[1]!))
      .filter((n) => g.initializers.find((t) => t.name === n.inputs[1])!.dims[1] !== tiny.config.vocabSize)
      .reduce((a, n) => a + weights.get(n.inputs[1]!)!, 0);
    expect(params).toBeGreaterThan(0);
    expect(chainFlops(chainDims(tiny), 512)).toBe(2 * 512 * params);
    const chain = await ProjectionChain.create(chainDims(tiny), 1);
    try {
      const rate = await chain.gflops(64, 2);
      expect(rate).toBeGreaterThan(0);
      expect(Number.isFinite(rate)).toBe(true);
    } finally {
      await chain.release();
      await tiny.dispose();
    }
  });
});

describe('without PyTorch', () => {
  it('the bench says plainly that the baseline is absent, naming each interpreter tried', () => {
    const r = findTorch(['/nonexistent/python3', 'no-such-python3-here']);
    expect(r).toEqual({ skipped: expect.stringMatching(/^no python3 with torch \(\/nonexistent\/python3: not found; no-such-python3-here: .+\)$/) });
  });
});
