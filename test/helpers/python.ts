// Real PyTorch / scikit-learn for cross-checks, when the machine has them (Debian python3-torch at
// /usr/bin/python3); tests that need them skip with the reason otherwise.

import { execFileSync, spawnSync } from 'node:child_process';

export const PYTHON = process.env.PERSONA_PYTHON ?? '/usr/bin/python3';

export function hasPythonModule(mod: string): boolean {
  return spawnSync(PYTHON, ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a Python script and returns its stdout (throws with stderr on failure). */
export function runPython(script: string, args: string[]): string {
  return execFileSync(PYTHON, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
