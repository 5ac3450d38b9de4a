// Real PyTorch / scikit-learn for cross-checks, when the machine has them (Debian python3-torch at
// /usr/bin/python3); tests that need them skip with the reason otherwise.

import { execFileSync, spawnSync } from 'node:child_process';

export const PYTHON = process.env.PERSONA_PYTHON ?? '/usr/bin/python3';

export function hasPythonModule(mod: string): boolean {
  return spawnSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Whether the tests that need Python module `mod` skip here: where it is missing, saying so, except
 * under CI (CI=true), where they run and fail, because CI must run the real cross-checks (npm test's
 * pretest step installs the Debian package).
 */
export function skipWithoutPython(mod: string, debianPackage: string, env = process.env): boolean {
  if (hasPythonModule(mod)) return false;
  const why = `${PYTHON} lacks ${mod} (Debian ${debianPackage}; the pretest step of npm test installs it)`;
  if (env.CI === 'true' || env.CI === '1') {
    console.error(`CI is set and ${why}: the tests that need it run, and fail`);
    return false;
  }
  console.warn(`tests skipped: ${why}`);
  return true;
}

/** Runs a Python script and returns its stdout (throws with stderr on failure). */
export function runPython(script: string, args: string[]): string {
  return execFileSync(PYTHON, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
