// The built-in directions of `persona serve` with no arguments: what the bare command resolves to,
// and the cache behind it — a second start reuses it (nothing computed, fast), while a change of
// the settings or of the code that computes the directions computes them afresh.

import { appendFileSync, cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL } from '../../src/cli/defaults.js';
import { registerServeCommand, type ServePlan } from '../../src/cli/commands/serve.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { BUILTIN_ATTRIBUTES, BUILTIN_TRAITS, builtinCacheRoot, builtinDirections, type BuiltinOptions } from '../../src/server/builtin.js';
import { DEFAULT_LIMITS } from '../../src/server/server.js';
import { ROOT } from '../cli/runCli.js';
import { MODEL } from './helpers.js';

let model: SteerableModel;
beforeAll(async () => {
  model = await loadModel(MODEL);
});
afterAll(async () => model?.dispose());

describe('persona serve with no arguments', () => {
  it('serves persona-tiny on 127.0.0.1:8000 with every built-in trait and attribute, cached beside the model', async () => {
    let plan: ServePlan | undefined;
    const program = new Command();
    registerServeCommand(program, async (p) => void (plan = p));
    await program.parseAsync(['node', 'persona', 'serve']);
    expect(plan).toMatchObject({
      modelDir: DEFAULT_MODEL, host: '127.0.0.1', port: 8000, layer: 3, coeff: null, pins: [], vectors: [], probes: [], graceMs: 10_000, limits: DEFAULT_LIMITS,
      builtin: { traits: BUILTIN_TRAITS, attributes: BUILTIN_ATTRIBUTES, cacheDir: undefined },
    });
    await program.parseAsync(['node', 'persona', 'serve', '--grace', '2.5', '--coeff', 'evil=4,humorous=-2']);
    expect(plan).toMatchObject({ graceMs: 2500, coeff: { kind: 'named', values: { evil: 4, humorous: -2 } } });
    expect(builtinCacheRoot(model)).toBe(join(model.dir, '.cache', 'serve', model.manifest!.source.sha256.slice(0, 12)));
  });
});

describe('the built-in cache', () => {
  it('is reused by a second start; changed settings or changed code compute afresh', async () => {
    const src = join(mkdtempSync(join(tmpdir(), 'builtin-src-')), 'src');
    cpSync(join(ROOT, 'src'), src, { recursive: true });
    const said: string[] = [];
    const opts: BuiltinOptions = {
      cacheDir: mkdtempSync(join(tmpdir(), 'builtin-cache-')), traits: ['evil'], attributes: ['age'], layer: 3, questions: 1, perClass: 4,
      extract: { maxNewTokens: 12 }, srcRoot: src, onProgress: (l) => said.push(l),
    };
    const start = async (o: BuiltinOptions) => {
      said.length = 0;
      const t0 = performance.now();
      const r = await builtinDirections(model, o);
      return { r, ms: performance.now() - t0, said: [...said] };
    };
    const first = await start(opts);
    expect(first.said.map((l) => l.split(' (')[0])).toEqual(["computing the built-in 'evil' persona vector", 'training the built-in probes for age']);
    const second = await start(opts);
    expect(second.said).toEqual([]);
    expect(second.ms).toBeLessThan(Math.min(1000, first.ms / 4));
    expect(Array.from(second.r.traits[0]!.vector)).toEqual(Array.from(first.r.traits[0]!.vector));

    // Another extraction setting: the vector again, the probes (not depending on it) reused.
    const longer = await start({ ...opts, extract: { maxNewTokens: 10 } });
    expect(longer.said.map((l) => l.split(' (')[0])).toEqual(["computing the built-in 'evil' persona vector"]);
    // An edit to the code the directions come from: computed again (the probes' key holds the same
    // code hash; they are left out here to keep the test short).
    appendFileSync(join(src, 'directions', 'personaExtract.ts'), '\n// an edit\n');
    const edited = await start({ ...opts, attributes: [] });
    expect(edited.said.map((l) => l.split(' (')[0])).toEqual(["computing the built-in 'evil' persona vector"]);
    // Code outside that path (the server, the CLI) leaves the cache valid.
    appendFileSync(join(src, 'server', 'server.ts'), '\n// an edit\n');
    expect((await start({ ...opts, attributes: [] })).said).toEqual([]);
  });
});
