// The tests' temp folder: one per run, removed after it; a dead run's folder is removed by the
// next; the fixture cache stays outside it and drops what older fixture code wrote.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureSourcesHash, pruneFixtureCache } from '../fixtures/fixtureDir.js';
import setup from './tempDir.js';

const saved = { TMPDIR: process.env.TMPDIR, PERSONA_FIXTURE_CACHE: process.env.PERSONA_FIXTURE_CACHE };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
});

describe('the tests temp folder', () => {
  it('is where this run puts its temp files, apart from the fixture cache', () => {
    expect(dirname(tmpdir())).toBe(dirname(process.env.PERSONA_FIXTURE_CACHE!));
    expect(tmpdir().split('/').pop()).toMatch(/^persona-steer-test-\d+-/);
  });

  it("moves TMPDIR into a folder of the run's own, removes it at teardown and a dead run's folder at setup", () => {
    const base = mkdtempSync(join(tmpdir(), 'tempdir-'));
    const dead = join(base, 'persona-steer-test-999999999-abc');
    const live = join(base, `persona-steer-test-${process.pid}-abc`);
    for (const d of [dead, live]) mkdirSync(d);
    process.env.TMPDIR = base;
    delete process.env.PERSONA_FIXTURE_CACHE;
    const teardown = setup();
    const run = tmpdir();
    expect(dirname(run)).toBe(base);
    expect(process.env.PERSONA_FIXTURE_CACHE).toBe(join(base, 'persona-steer-fixtures'));
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    writeFileSync(join(run, 'left.txt'), 'x');
    teardown();
    expect(existsSync(run)).toBe(false);
    expect(tmpdir()).toBe(base);
    rmSync(base, { recursive: true });
  });

  it('prunes fixture folders of older fixture code a day after their last use, and dead builds', () => {
    const cache = mkdtempSync(join(tmpdir(), 'cache-'));
    const folder = (name: string, sources: string, usedAgoH: number) => {
      mkdirSync(join(cache, name));
      writeFileSync(join(cache, name, '.fixture-sources'), sources);
      writeFileSync(join(cache, name, '.fixture-used'), '');
      const t = (Date.now() - usedAgoH * 3600_000) / 1000;
      utimesSync(join(cache, name, '.fixture-used'), t, t);
    };
    folder('current-old', fixtureSourcesHash(), 72);
    folder('older-idle', 'f00', 25);
    folder('older-in-use', 'f00', 1);
    mkdirSync(join(cache, 'llama-0-abc.tmp-999999999-1'));
    mkdirSync(join(cache, `llama-0-abc.tmp-${process.pid}-1`));
    expect(pruneFixtureCache(cache).sort()).toEqual(['llama-0-abc.tmp-999999999-1', 'older-idle']);
    expect(readdirSync(cache).sort()).toEqual(['current-old', `llama-0-abc.tmp-${process.pid}-1`, 'older-in-use']);
    rmSync(cache, { recursive: true });
  });
});
