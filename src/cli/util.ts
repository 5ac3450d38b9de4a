// Small helpers shared by CLI commands: number lists, validated flags, progress lines on stderr,
// the run lifecycle.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { JUDGE_DEFAULTS } from '../judges/index.js';
import type { RunDir } from '../logs/runDir.js';
import { loadModelConfig, type ModelConfig } from '../model/config.js';
import { MAX_RESIDUAL_NORM, short } from '../model/overflow.js';
import type { SteerableModel } from '../model/steerableModel.js';

const MAX_LIST = 10_000;

/** Not exported: every list flag goes through intListFlag, which adds the bounds. */
function parseIntList(s: string, what: string): number[] {
  // "3", "2,4,6", "2-6", "2-10:2"
  const out: number[] = [];
  for (const part of s.split(',')) {
    const m = /^\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*(?::\s*(\d+))?)?\s*$/.exec(part);
    if (!m) throw new Error(`${what}: cannot read '${part}' (use e.g. 4 or 2,4,6 or 2-8 or 2-8:2)`);
    const a = Number(m[1]);
    const step = Number(m[3] ?? 1);
    if (m[3] !== undefined && step < 1) throw new Error(`${what}: step in '${part}' must be at least 1`);
    if (m[2] === undefined) out.push(a);
    else {
      if (Number(m[2]) < a) throw new Error(`${what}: range '${part}' runs backwards`);
      // Checked before expanding: "1-1000000000" is a typo, not a list to allocate.
      if ((Number(m[2]) - a) / step > MAX_LIST) throw new Error(`${what}: range '${part}' has more than ${MAX_LIST} values`);
      for (let x = a; x <= Number(m[2]); x += step) out.push(x);
    }
  }
  return out;
}

/** A progress line that rewrites itself on a terminal and prints plain lines elsewhere (CI logs). */
export function progress(label: string): (done: number, total: number, note?: string) => void {
  const tty = process.stderr.isTTY;
  // Off a terminal: the first update in each tenth, and the last (updates come in batch-sized
  // steps, which seldom land on a round percentage).
  let last = -1;
  const t0 = Date.now();
  return (done, total, note = '') => {
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (!tty && (pct === last || (Math.floor(pct / 10) === Math.floor(last / 10) && done !== total))) return;
    last = pct;
    const secs = (Date.now() - t0) / 1000;
    const eta = done > 0 && done < total ? ` eta ${Math.round((secs / done) * (total - done))}s` : '';
    const line = `${label} ${done}/${total} (${pct}%)${eta}${note ? ' ' + note : ''}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}${done === total ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}

/** "an integer from 1 to 4096", "a number >= 0": the accepted form, for error messages. */
function accepted(kind: string, min: number, max: number): string {
  const show = (x: number) => (x === Number.MIN_VALUE ? '0 (exclusive)' : String(x));
  if (min > -Infinity && max < Infinity) return `${kind} from ${show(min)} to ${show(max)}`;
  if (min > -Infinity) return min === Number.MIN_VALUE ? `${kind} > 0` : `${kind} >= ${min}`;
  if (max < Infinity) return `${kind} <= ${max}`;
  return kind;
}

/** A validated integer flag value: `--per-class abc` fails naming the flag and the accepted form, before any work. */
export function intFlag(s: string, flag: string, min = -Infinity, max = Infinity): number {
  const v = Number(s);
  const form = accepted('an integer', min, max);
  if (!/^\s*-?\d+\s*$/.test(s) || !Number.isSafeInteger(v)) throw new Error(`${flag}: '${s}' is not an integer (expected ${form})`);
  if (v < min || v > max) throw new Error(`${flag}: ${v} is out of range (expected ${form})`);
  return v;
}

/** A validated finite number flag value. */
export function floatFlag(s: string, flag: string, min = -Infinity, max = Infinity): number {
  const v = Number(s);
  const form = accepted('a number', min, max);
  if (!s.trim() || !Number.isFinite(v)) throw new Error(`${flag}: '${s}' is not a number (expected ${form})`);
  if (v < min || v > max) throw new Error(`${flag}: ${v} is out of range (expected ${form})`);
  return v;
}

/** Integer list flag ("3", "2,4,6", "2-6", "2-10:2"), every item within min..max. */
export function intListFlag(s: string, flag: string, min = -Infinity, max = Infinity): number[] {
  const out = parseIntList(s, flag);
  const bad = out.find((v) => v < min || v > max);
  if (bad !== undefined) throw new Error(`${flag}: ${bad} is out of range (expected integers from ${min} to ${max}, e.g. 4 or 2,4,6 or 2-8 or 2-8:2)`);
  return out;
}

/**
 * The model's layer count and hidden size from its config alone, so layer flags and probe files
 * are checked before the session is built (instrumenting and loading take seconds to minutes) and
 * before a run directory exists.
 */
export function modelShape(dir: string): { dir: string; numLayers: number; hiddenSize: number; config: ModelConfig } {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new Error(`model folder not found: ${abs}`);
  const config = loadModelConfig(abs);
  return { dir: abs, numLayers: config.numLayers, hiddenSize: config.hiddenSize, config };
}

/**
 * `coeff` times a vector of norm `n` must fit the float32 residual (see model/overflow.ts):
 * refused by flag before the model loads. `what` names the vector ("the layer 3 vector of a.safetensors").
 */
export function checkScaledFlag(flag: string, coeff: number, n: number, what: string): void {
  const added = Math.abs(coeff) * n;
  if (!(added < MAX_RESIDUAL_NORM))
    throw new Error(`${flag}: ${coeff} times ${what} (|v| ${short(n)}) is ${short(added)}; float32 activations overflow above ${short(MAX_RESIDUAL_NORM)}`);
}

/** Comma-separated numbers, each finite and within min..max. */
export function floatListFlag(s: string, flag: string, min = -Infinity, max = Infinity): number[] {
  return s.split(',').map((p) => floatFlag(p, flag, min, max));
}

/** One value out of `allowed`. */
export function choiceFlag<T extends string>(s: string, flag: string, allowed: readonly T[]): T {
  if (!allowed.includes(s as T)) throw new Error(`${flag}: unknown value '${s}' (choose from ${allowed.join(', ')})`);
  return s as T;
}

/** A comma-separated list whose every item is one of `allowed`. */
export function choiceList<T extends string>(s: string, flag: string, allowed: readonly T[]): T[] {
  const items = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (!items.length) throw new Error(`${flag}: empty list`);
  for (const x of items) if (!allowed.includes(x as T)) throw new Error(`${flag}: unknown value '${x}' (choose from ${allowed.join(', ')})`);
  return items as T[];
}

/** --judge-base-url, --judge-timeout, --judge-retries: the options of every command with an HTTP judge. */
export function judgeHttpOptions(cmd: Command): Command {
  return cmd
    .option('--judge-base-url <url>', 'OpenAI-compatible base URL (or PERSONA_JUDGE_BASE_URL / OPENAI_BASE_URL)')
    .option('--judge-timeout <ms>', `per-request judge timeout (or PERSONA_JUDGE_TIMEOUT_MS; default ${JUDGE_DEFAULTS.timeoutMs})`)
    .option('--judge-retries <n>', `judge retries after a timeout, 429 or 5xx (or PERSONA_JUDGE_RETRIES; default ${JUDGE_DEFAULTS.retries})`);
}

export interface JudgeHttpFlags {
  judgeBaseUrl?: string;
  judgeTimeout?: string;
  judgeRetries?: string;
}

/** The judge endpoint settings given on the command line, checked (unset ones fall back to the environment). */
export function judgeHttpFlags(o: JudgeHttpFlags): { baseUrl?: string; timeoutMs?: number; retries?: number } {
  return {
    baseUrl: o.judgeBaseUrl,
    timeoutMs: o.judgeTimeout === undefined ? undefined : intFlag(o.judgeTimeout, '--judge-timeout', 1),
    retries: o.judgeRetries === undefined ? undefined : intFlag(o.judgeRetries, '--judge-retries', 0, 100),
  };
}

export { MAX_COEFF } from '../model/overflow.js';

export interface GenerationFlagValues {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  seed: number;
}

/** The generation flags every generating command shares, checked. */
export function generationFlags(o: { maxNewTokens: string; temperature: string; topP?: string; seed: string }): GenerationFlagValues {
  return {
    maxNewTokens: intFlag(o.maxNewTokens, '--max-new-tokens', 1, 4096),
    temperature: floatFlag(o.temperature, '--temperature', 0, 100),
    topP: o.topP === undefined ? 1 : floatFlag(o.topP, '--top-p', Number.MIN_VALUE, 1),
    seed: intFlag(o.seed, '--seed'),
  };
}

/** Run a command's body, marking the run failed on error and always releasing the model. */
export async function inRun(run: RunDir, model: SteerableModel, body: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await body();
    run.manifest.timings['totalMs'] = performance.now() - t0;
    run.save();
  } catch (e) {
    run.manifest.timings['totalMs'] = performance.now() - t0;
    run.fail(e);
    throw e;
  } finally {
    await model.dispose();
  }
}
