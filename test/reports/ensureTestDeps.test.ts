// `npm test` must pass on a fresh Debian machine as the README writes it: the test command itself
// installs what the browser and notebook tests need from Debian when it is missing.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installCommands, TEST_DEPS } from '../../scripts/ensure-test-deps.js';
import { skipWithoutPython } from '../helpers/python.js';

const ROOT = join(import.meta.dirname, '../..');

describe('test dependencies outside npm', () => {
  it('npm test runs the installer first', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts.pretest).toBe('tsx scripts/ensure-test-deps.ts');
  });

  it('covers Chromium, the Jupyter stack, PyTorch and scikit-learn, and all are present here after the pretest step', () => {
    expect(TEST_DEPS.flatMap((d) => d.packages)).toEqual(['chromium', 'jupyter-nbconvert', 'python3-nbclient', 'python3-ipykernel', 'python3-torch', 'python3-sklearn']);
    for (const d of TEST_DEPS) expect(d.present(), d.name).toBe(true);
  });

  it('a Python without torch makes the pretest install python3-torch; the tests needing it skip, saying why, except under CI', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ensure-test-deps.ts', '--dry-run'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, PERSONA_PYTHON: '/nonexistent/python3' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/missing .*PyTorch \(the \.pt tests load our files with the real torch\.load\).*Installing from Debian:\n.*apt-get update -qq\n.*apt-get install -y -qq --no-install-recommends jupyter-nbconvert python3-nbclient python3-ipykernel python3-torch python3-sklearn\n/);
    expect(skipWithoutPython('no_such_module_here', 'python3-nothing', {})).toBe(true);
    expect(skipWithoutPython('no_such_module_here', 'python3-nothing', { CI: 'true' })).toBe(false);
    expect(skipWithoutPython('json', 'python3', {})).toBe(false);
  });

  it('installs missing Debian packages through apt-get (sudo when not root)', () => {
    expect(installCommands(['chromium'], true, true)).toEqual([
      ['apt-get', 'update', '-qq'],
      ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium'],
    ]);
    expect(installCommands(['chromium'], false, true)![1]!.slice(0, 2)).toEqual(['sudo', '-n']);
    expect(installCommands(['chromium'], true, false)).toBeNull();
    // The script itself, on a machine where none of the usual places has a browser (dry run).
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ensure-test-deps.ts', '--dry-run'], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHROMIUM_PATH: '', PERSONA_CHROMIUM_CANDIDATES: '/nonexistent/chromium' },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/missing Chromium \(the report and dashboard tests need one\)\. Installing from Debian:\n.*apt-get update -qq\n.*apt-get install -y -qq --no-install-recommends chromium\n/);
  });
});
