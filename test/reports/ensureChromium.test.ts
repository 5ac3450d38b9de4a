// `npm test` must pass on a fresh Debian machine as the README writes it: the test command itself
// installs the Chromium the report tests drive when none is found.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installCommands } from '../../scripts/ensure-chromium.js';

const ROOT = join(import.meta.dirname, '../..');

describe('Chromium for the report tests', () => {
  it('npm test runs the installer first', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.pretest).toBe('tsx scripts/ensure-chromium.ts');
  });

  it('installs Debian chromium through apt-get (sudo when not root) when no browser is found', () => {
    expect(installCommands(true, true)).toEqual([
      ['apt-get', 'update', '-qq'],
      ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'chromium'],
    ]);
    expect(installCommands(false, true)![1]!.slice(0, 2)).toEqual(['sudo', '-n']);
    expect(installCommands(true, false)).toBeNull();
    // The script itself, on a machine where none of the usual places has a browser (dry run).
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ensure-chromium.ts', '--dry-run'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHROMIUM_PATH: '', PERSONA_CHROMIUM_CANDIDATES: '/nonexistent/chromium' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/no Chromium found; the report tests need one\. Installing Debian's chromium:\n.*apt-get update -qq\n.*apt-get install -y -qq chromium/);
  });
});
