// Small helpers shared by CLI commands: number lists, validated flags, progress lines on stderr,
// the run lifecycle.

import type { RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';

export function parseIntList(s: string, what: string): number[] {
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
      for (let x = a; x <= Number(m[2]); x += step) out.push(x);
    }
  }
  return out;
}

export function parseFloatList(s: string, what: string): number[] {
  return s.split(',').map((p) => {
    const v = Number(p.trim());
    if (!Number.isFinite(v)) throw new Error(`${what}: '${p}' is not a number`);
    return v;
  });
}

/** A progress line that rewrites itself on a terminal and prints plain lines elsewhere (CI logs). */
export function progress(label: string): (done: number, total: number, note?: string) => void {
  const tty = process.stderr.isTTY;
  let last = -1;
  const t0 = Date.now();
  return (done, total, note = '') => {
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (!tty && pct === last) return;
    if (!tty && pct % 10 !== 0 && done !== total) return;
    last = pct;
    const secs = (Date.now() - t0) / 1000;
    const eta = done > 0 && done < total ? ` eta ${Math.round((secs / done) * (total - done))}s` : '';
    const line = `${label} ${done}/${total} (${pct}%)${eta}${note ? ' ' + note : ''}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}${done === total ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}

/** A validated integer flag value: `--per-class abc` fails naming the flag, before any work. */
export function intFlag(s: string, flag: string, min = -Infinity, max = Infinity): number {
  const v = Number(s);
  if (!/^\s*-?\d+\s*$/.test(s) || !Number.isSafeInteger(v)) throw new Error(`${flag}: '${s}' is not an integer`);
  if (v < min || v > max) throw new Error(`${flag}: ${v} is out of range (${min}..${max})`);
  return v;
}

/** A validated finite number flag value. */
export function floatFlag(s: string, flag: string, min = -Infinity, max = Infinity): number {
  const v = Number(s);
  if (!s.trim() || !Number.isFinite(v)) throw new Error(`${flag}: '${s}' is not a number`);
  if (v < min || v > max) throw new Error(`${flag}: ${v} is out of range (${min}..${max})`);
  return v;
}

/** A comma-separated list whose every item is one of `allowed`. */
export function choiceList<T extends string>(s: string, flag: string, allowed: readonly T[]): T[] {
  const items = s.split(',').map((x) => x.trim()).filter(Boolean);
  if (!items.length) throw new Error(`${flag}: empty list`);
  for (const x of items) if (!allowed.includes(x as T)) throw new Error(`${flag}: unknown value '${x}' (choose from ${allowed.join(', ')})`);
  return items as T[];
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
