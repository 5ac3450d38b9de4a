// The bench's PyTorch baseline (scripts/bench-torch.py) computes the same hidden states as our
// runtime on the same weights, dumped from the ONNX file (named initializers on the fixture,
// anonymous onnx::MatMul_N ones named by their MatMul node on persona-tiny).

import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { findTorch, runTorch } from '../../scripts/bench-torch.js';
import { skipWithoutPython } from '../helpers/python.js';
import { fixtureModel } from './helpers.js';

const torch = findTorch();

describe.skipIf(skipWithoutPython('torch', 'python3-torch'))('PyTorch eager baseline of the bench', () => {
  it('equals our hidden states to 1e-5 on a fixture and on persona-tiny', async () => {
    if (!('python' in torch)) throw new Error(torch.skipped);
    const { fx, model } = await fixtureModel('llama');
    const a = await runTorch(torch.python, model, `${fx.dir}/onnx/model.onnx`, [], { reps: 1, threads: [1], roofline: false });
    expect(a.checkRelErr).toBeLessThan(1e-5);
    await model.dispose();
    const tiny = await loadModel('models/persona-tiny', { threads: 1 });
    const b = await runTorch(torch.python, tiny, 'models/persona-tiny/onnx/model.onnx', [], { reps: 1, threads: [1], roofline: false });
    expect(b.checkRelErr).toBeLessThan(1e-5);
    expect(b.rssAfterLoadMb).toBeGreaterThan(b.rssBeforeLoadMb);
    await tiny.dispose();
  });
});
