// Runs the real `persona` binary in a child process (from the repository root unless told
// otherwise) and returns its exit code and output (a failing command is a result to check, not an
// exception).

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';

const exec = promisify(execFile);
export const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/persona.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function persona(...args: string[]): Promise<CliResult> {
  return personaIn({ cwd: ROOT }, ...args);
}

/** `persona` run from `cwd`, with `env` overriding the inherited environment (undefined removes a variable). */
export async function personaIn(opts: { cwd: string; env?: Record<string, string | undefined> }, ...args: string[]): Promise<CliResult> {
  const env = { ...process.env, ...opts.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { cwd: opts.cwd, env, timeout: 180_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/**
 * The same CLI in this process (no child start-up: seconds saved per case), for checks that end
 * before or soon after the model loads. Returns the error message the binary would print, or null.
 */
export async function personaError(...args: string[]): Promise<string | null> {
  const { buildCli } = await import('../../src/cli/main.js');
  const program = buildCli();
  const quiet = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    c.commands.forEach(quiet);
  };
  quiet(program);
  try {
    await program.parseAsync(['node', 'persona', ...args]);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
