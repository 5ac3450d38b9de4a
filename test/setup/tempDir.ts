// Vitest global setup: every test file's temp folders (mkdtemp under os.tmpdir(), in the tests,
// the CLI they spawn, Chromium, Jupyter) go into one folder per `npm test`, removed when the run
// ends, so repeated runs do not fill /tmp (a run left ~200 MB of them). The fixture models stay in
// the system temp folder, where they are a cache kept between runs (test/fixtures/fixtureDir.ts).
// A run killed before its teardown leaves its folder; the next run removes it (its process is gone).
// Fixture folders that older fixture code wrote go a day after they were last used.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../src/io/atomic.js';
import { fixtureCache, pruneFixtureCache } from '../fixtures/fixtureDir.js';

const PREFIX = 'persona-steer-test-';

export default function setup(): () => void {
  const system = tmpdir();
  process.env.PERSONA_FIXTURE_CACHE = fixtureCache(); // before TMPDIR moves
  pruneFixtureCache(process.env.PERSONA_FIXTURE_CACHE);
  for (const name of readdirSync(system)) {
    const pid = Number(name.startsWith(PREFIX) ? name.slice(PREFIX.length).split('-')[0] : NaN);
    if (Number.isInteger(pid) && !processAlive(pid)) rmSync(join(system, name), { recursive: true, force: true });
  }
  const run = mkdtempSync(join(system, `${PREFIX}${process.pid}-`));
  // os.tmpdir() reads TMPDIR on every call, here and in the forks vitest starts after this.
  process.env.TMPDIR = run;
  return () => {
    process.env.TMPDIR = system;
    rmSync(run, { recursive: true, force: true });
  };
}
