// A run directory is what every command leaves behind: manifest.json (what was asked, on which
// model, with which versions, how it ended), records.jsonl (one JSON object per unit of work,
// appended as it completes) and any outputs. Later commands and reports read it back; a run that was
// interrupted resumes by skipping the records already written.

import { appendFileSync, createReadStream, existsSync, mkdirSync, readFileSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { removeStaleTempFiles, writeJsonAtomic } from '../io/atomic.js';
import { parseJsonLine, readJsonFile } from '../io/json.js';
import { RunLock } from './runLock.js';

export interface RunManifest {
  command: string;
  config: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'done' | 'failed' | 'interrupted';
  error?: string;
  /** Named outputs (relative paths) the run produced, e.g. {"vectors": "vectors.safetensors"}. */
  outputs: Record<string, string>;
  timings: Record<string, number>;
  versions: Record<string, string>;
  summary?: Record<string, unknown>;
}

/** Runs of this process still running: marked `interrupted` when a signal ends the process. */
const live = new Set<RunDir>();
let signalsHooked = false;
let stopper: ((signal: 'SIGINT' | 'SIGTERM') => void) | null = null;

function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      if (stopper) return stopper(signal);
      for (const run of live) run.interrupt(signal);
      process.exit(code);
    });
  }
}

/**
 * A command that stops gracefully on its own (the server finishes running answers first) takes
 * over SIGINT / SIGTERM: `stop` is called instead of marking runs interrupted and exiting, and
 * must end the process itself.
 */
export function stopOnSignals(stop: (signal: 'SIGINT' | 'SIGTERM') => void): void {
  stopper = stop;
  hookSignals();
}

export class RunDir {
  readonly manifest: RunManifest;

  private constructor(readonly dir: string, manifest: RunManifest, private readonly lock: RunLock) {
    this.manifest = manifest;
  }

  /**
   * Create a new run, or reopen `dir` to resume when it holds a run of the same command. The
   * directory is locked for this process: a second process on it is refused (a lock left by a
   * process that died is taken over), leftover temp files of interrupted writes are removed.
   */
  static open(dir: string, command: string, config: Record<string, unknown>): RunDir {
    dir = resolve(dir);
    const mpath = join(dir, 'manifest.json');
    let old: RunManifest | null = null;
    if (existsSync(mpath)) {
      old = readJsonFile(mpath) as RunManifest;
      if (old.command !== command) throw new Error(`${mpath}: run directory belongs to '${old.command}', not '${command}'`);
      // Resuming with other settings (or another model) would mix records of two experiments.
      const differs = configDifference(old.config, config);
      if (differs) throw new Error(`${mpath}: cannot resume, the run was made with a different ${differs}; use a fresh run directory`);
    }
    mkdirSync(dir, { recursive: true });
    const lock = RunLock.acquire(dir, command);
    removeStaleTempFiles(dir);
    hookSignals();
    if (old) {
      const run = new RunDir(dir, { ...old, status: 'running', error: undefined, updatedAt: new Date().toISOString() }, lock);
      live.add(run);
      run.save();
      return run;
    }
    const now = new Date().toISOString();
    const run = new RunDir(dir, {
      command,
      config,
      createdAt: now,
      updatedAt: now,
      status: 'running',
      outputs: {},
      timings: {},
      versions: { node: process.version, personaSteer: '0.1.0' },
    }, lock);
    live.add(run);
    run.save();
    return run;
  }

  /** A fresh directory name under `root`: runs/2026-11-21T10-00-00-extract-evil */
  static freshPath(root: string, command: string, tag = ''): string {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    return join(root, `${stamp}-${command}${tag ? '-' + tag.replace(/[^\w.-]+/g, '_') : ''}`);
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  save(): void {
    this.manifest.updatedAt = new Date().toISOString();
    writeJsonAtomic(join(this.dir, 'manifest.json'), this.manifest);
  }

  private repaired = new Set<string>();

  /** Append one record. A crash mid-write leaves at most a partial last line, which readers skip. */
  append(stream: string, record: Record<string, unknown>): void {
    const path = join(this.dir, `${stream}.jsonl`);
    if (!this.repaired.has(stream)) {
      // Resuming after a crash: cut the half-written last line so the next record starts clean.
      dropPartialLine(path);
      this.repaired.add(stream);
    }
    appendFileSync(path, JSON.stringify(record) + '\n');
  }

  records<T = Record<string, unknown>>(stream: string): T[] {
    return readRecords<T>(join(this.dir, `${stream}.jsonl`));
  }

  /**
   * Records with one entry per key, the first written kept. A key written twice (two writers, or
   * a resumed run that redid work) is reported on stderr, never counted twice.
   */
  keyedRecords<T>(stream: string, keyOf: (r: T) => string): T[] {
    const { records, duplicates } = dedupeRecords(this.records<T>(stream), keyOf);
    if (duplicates.length)
      process.stderr.write(`warning: ${this.path(`${stream}.jsonl`)}: ${duplicates.length} record(s) repeat a key already recorded; the first of each is used (${duplicates.slice(0, 5).join(', ')}${duplicates.length > 5 ? ', ...' : ''})\n`);
    return records;
  }

  /** Number of complete records, counted without loading the file (large streamed runs). */
  async count(stream: string): Promise<number> {
    const path = join(this.dir, `${stream}.jsonl`);
    if (!existsSync(path)) return 0;
    let n = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) for (const b of chunk) if (b === 0x0a) n++;
    return n;
  }

  /** Complete records one at a time, in file order, without loading the file. */
  async *iterate<T = Record<string, unknown>>(stream: string): AsyncGenerator<T> {
    const path = join(this.dir, `${stream}.jsonl`);
    if (!existsSync(path)) return;
    let rest = '';
    let lineNo = 0;
    for await (const chunk of createReadStream(path, 'utf8') as AsyncIterable<string>) {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!; // an unterminated last line is an interrupted write: never yielded
      for (const l of parts) {
        lineNo++;
        if (l.trim()) yield parseJsonLine(l, path, lineNo) as T;
      }
    }
  }

  output(name: string, rel: string): void {
    this.manifest.outputs[name] = rel;
    this.save();
  }

  finish(summary?: Record<string, unknown>): void {
    this.manifest.status = 'done';
    if (summary) this.manifest.summary = summary;
    this.close();
  }

  fail(err: unknown): void {
    this.manifest.status = 'failed';
    this.manifest.error = err instanceof Error ? err.message : String(err);
    this.close();
  }

  /** The process is being stopped (Ctrl-C, kill): say so, so nobody mistakes the run for one still going. */
  interrupt(signal: string): void {
    if (this.manifest.status !== 'running') return;
    this.manifest.status = 'interrupted';
    this.manifest.error = `interrupted by ${signal}; resume with --run ${this.dir}`;
    this.close();
  }

  /** Save and release the directory to other processes. */
  close(): void {
    this.save();
    live.delete(this);
    this.lock.release();
  }
}

/** The first config field whose value differs, described; null when they agree. */
export function configDifference(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  // JSON round trip: compare what the manifest stores (undefined fields vanish, numbers normalise).
  const x = JSON.parse(JSON.stringify(a)) as Record<string, unknown>;
  const y = JSON.parse(JSON.stringify(b)) as Record<string, unknown>;
  for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
    const [u, v] = [JSON.stringify(x[k]), JSON.stringify(y[k])];
    if (u !== v) return `'${k}' (${u ?? 'unset'} then, ${v ?? 'unset'} now)`;
  }
  return null;
}

function dropPartialLine(path: string): void {
  if (!existsSync(path)) return;
  const bytes = readFileSync(path);
  if (bytes.length === 0 || bytes[bytes.length - 1] === 0x0a) return;
  truncateSync(path, bytes.lastIndexOf(0x0a) + 1);
}

export function readRecords<T = Record<string, unknown>>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  // The last element is '' when the file ends with a newline; anything else is an interrupted write.
  lines.pop();
  const out: T[] = [];
  lines.forEach((l, i) => {
    if (l.trim()) out.push(parseJsonLine(l, path, i + 1) as T);
  });
  return out;
}

/** First record per key, and the keys seen again. */
export function dedupeRecords<T>(records: T[], keyOf: (r: T) => string): { records: T[]; duplicates: string[] } {
  const seen = new Set<string>();
  const out: T[] = [];
  const duplicates: string[] = [];
  for (const r of records) {
    const k = keyOf(r);
    if (seen.has(k)) duplicates.push(k);
    else {
      seen.add(k);
      out.push(r);
    }
  }
  return { records: out, duplicates };
}

export function readManifest(dir: string): RunManifest {
  const p = join(dir, 'manifest.json');
  if (!existsSync(p)) throw new Error(`${p}: not a run directory (no manifest.json)`);
  return readJsonFile(p) as RunManifest;
}
