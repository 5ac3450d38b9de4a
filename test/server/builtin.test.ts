// The built-in directions of `persona serve` with no arguments: what the bare command resolves to,
// and the cache behind it — a second start reuses it (nothing computed, fast), while a change of
// the settings or of the code that computes the directions computes them afresh; a start that
// finds another one computing the same direction waits for it.

import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
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
      modelDir: DEFAULT_MODEL, host: '127.0.0.1', port: 8000, layer: 3, coeff: null, pins: [], files: null, graceMs: 10_000, limits: DEFAULT_LIMITS,
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
    expect(first.said.map((l) => l.split(' (')[0])).toEqual(["computing the built-in 'evil' persona vector", 'training the built-in probes for age', 'training the built-in push probes for age']);
    // Pins push along the answer-position probe (its classes include "neutral"); the bars read the suffix probe.
    expect(first.r.probes[0]!.push!.meta.classes).toContain('neutral');
    expect(first.r.probes[0]!.probe.meta.suffix).not.toBe('');
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

/** builtinStart.ts in a child process: `go()` starts its built-in step, `vector` is what it got. */
function start(cache: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'builtinStart.ts'), MODEL, cache], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const poke = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.on('data', (d) => ((out += d), poke()));
  child.stderr!.on('data', (d) => ((err += d), poke()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => (r(code), poke())));
  let code: number | null | undefined;
  void exited.then((c) => (code = c));
  /** Resolves once the child's output matches (fails if it exits first). */
  const says = (re: RegExp, stream: () => string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (re.test(stream())) resolve();
        else if (code !== undefined) reject(new Error(`exited ${code} before ${re}: ${err}`));
        else waiters.push(check);
      };
      check();
    });
  const vector = exited.then((c) => {
    if (c !== 0) throw new Error(`exited ${c}: ${err}`);
    return JSON.parse(out.trim().split('\n').at(-1)!) as number[];
  });
  vector.catch(() => {}); // a child the test kills never has one
  return {
    pid: child.pid!,
    ready: says(/^ready$/m, () => out),
    go: () => child.stdin!.write('go\n'),
    said: (re: RegExp) => says(re, () => err),
    err: () => err,
    vector,
    kill: () => child.kill('SIGKILL'),
  };
}

describe('two starts computing the same built-in at once', () => {
  const computing = /^computing the built-in 'evil' persona vector/m;

  /** Two starts on one fresh cache; the second is let go once the first is computing. */
  async function race() {
    const cache = mkdtempSync(join(tmpdir(), 'builtin-race-'));
    const [first, second] = [start(cache), start(cache)];
    await Promise.all([first.ready, second.ready]);
    first.go();
    await first.said(computing);
    second.go();
    return { cache, first, second };
  }

  it('the second waits for the first, naming its pid, then uses its vector; if the first dies, it takes over', async () => {
    const { cache, first: a, second: b } = await race();
    const [va, vb] = await Promise.all([a.vector, b.vector]);
    expect(b.err()).toMatch(new RegExp(`^waiting for pid ${a.pid}, which is computing the built-in 'evil' persona vector in ${cache}`, 'm'));
    expect(b.err()).not.toMatch(computing);
    expect(vb).toEqual(va);

    // The one computing is killed while the other waits: the waiting one resumes the work itself.
    const { first: c, second: d } = await race();
    await d.said(/^waiting for pid/m);
    c.kill();
    const vd = await d.vector;
    expect(d.err()).toMatch(new RegExp(`took over the lock of pid ${c.pid}, which is no longer running`));
    expect(d.err()).toMatch(computing);
    expect(vd).toEqual(va);
  });

  it('a cache folder locked from another host is not waited for (that process cannot be watched): it stops saying so', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'builtin-host-'));
    const opts: BuiltinOptions = { cacheDir: cache, traits: ['evil'], attributes: [], layer: 3, questions: 1, extract: { maxNewTokens: 12 } };
    // The directory this start computes in (learnt from a start elsewhere), locked by a process on another host.
    const said: string[] = [];
    const elsewhere = mkdtempSync(join(tmpdir(), 'builtin-name-'));
    await builtinDirections(model, { ...opts, cacheDir: elsewhere, onProgress: (l) => said.push(l) });
    const locked = join(cache, relative(elsewhere, /cached in (.*)\)$/.exec(said[0]!)![1]!));
    mkdirSync(locked, { recursive: true });
    writeFileSync(join(locked, '.lock'), JSON.stringify({ pid: 4242, host: 'elsewhere', command: 'extract', since: '2026-01-01T00:00:00.000Z' }));
    await expect(builtinDirections(model, opts)).rejects.toThrow(
      `the built-in 'evil' persona vector: pid 4242 on host elsewhere is computing it in ${locked} (a cache folder shared between machines), and a process on another host cannot be watched; start again once it is done, or give another --cache`,
    );
  });
});
