import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { persona } from './runCli.js';
import { makeFixture } from '../fixtures/index.js';
import { generateChat } from '../../src/generation/generate.js';
import { loadModel } from '../../src/model/load.js';

describe('persona CLI', () => {
  it('inspect prints the residual tensor chosen per layer', async () => {
    const fx = await makeFixture('llama');
    const r = await persona('inspect', fx.dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layers\s+3, hidden 64, float32/);
    expect(r.stdout).toContain('/model/layers.2/Add_1');
    const j = JSON.parse((await persona('inspect', fx.dir, '--json')).stdout);
    expect(j.points.map((p: { layer: number }) => p.layer)).toEqual([0, 1, 2, 3]);
  });

  it('prepare writes the instrumented model next to the source, then generate runs on it', async () => {
    const fx = await makeFixture('qwen2');
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    cpSync(fx.dir, dir, { recursive: true });
    const r = await persona('prepare', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(join(dir, 'onnx', 'model.persona.onnx'));
    const g = await persona('generate', dir, '-p', 'hello', '-n', '5');
    expect(g.code, g.stderr).toBe(0);
    // What it prints is the model's greedy answer, as the API gives it.
    const model = await loadModel(dir, { threads: 1 });
    const api = await generateChat(model, [[{ role: 'user', content: 'hello' }]], { maxNewTokens: 5 });
    await model.dispose();
    expect(api.tokens[0]!.length).toBeGreaterThan(0);
    expect(g.stdout).toBe(`${api.text[0]}\n`);
  });

  it('fails with a message naming the file at fault', async () => {
    const fx = await makeFixture('llama');
    const dir = mkdtempSync(join(tmpdir(), 'cli-bad-'));
    cpSync(fx.dir, dir, { recursive: true });
    writeFileSync(join(dir, 'onnx', 'model.onnx'), Buffer.from([0x0a, 0xff, 0xff]));
    const r = await persona('prepare', dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^persona: .*model\.onnx/m);
    const missing = await persona('inspect', join(dir, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope/);
  });
});
