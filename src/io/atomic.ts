// Atomic file writes: a crash or Ctrl-C never leaves a half-written output behind, because the
// final name only ever points at complete content (write to a temp file, fsync, rename).

import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { threadId } from 'node:worker_threads';

let counter = 0;

// Temp names carry the writer's pid and thread (worker threads share the pid, each with its own
// counter): `.NAME.PID.THREAD-N.tmp`; `.NAME.PID.N.tmp` from before threads are still recognised.
const TEMP_NAME = /^\..+\.(\d+)\.(?:\d+-)?\d+\.tmp$/;

/**
 * Removes temp files left in `dir` (and its subfolders, `depth` deep) by atomic writes that never
 * committed, because their process died. Files of live processes are in-flight writes and stay.
 */
export function removeStaleTempFiles(dir: string, alive: (pid: number) => boolean = processAlive, depth = 2): string[] {
  const removed: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth > 0) removed.push(...removeStaleTempFiles(p, alive, depth - 1));
    const m = TEMP_NAME.exec(e.name);
    if (e.isFile() && m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
      rmSync(p, { force: true });
      removed.push(p);
    }
  }
  return removed;
}

/** Whether a process with this id runs on this machine (signal 0 only checks). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function writeFileAtomic(path: string, data: string | Uint8Array | Uint8Array[]): void {
  const w = new AtomicWriter(path);
  try {
    for (const part of Array.isArray(data) ? data : [data]) w.write(part);
  } catch (e) {
    w.abort();
    throw e;
  }
  w.commit();
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * A file written piece by piece (outputs too large to hold in memory), with the same guarantee:
 * the final name appears only at commit(), complete.
 */
export class AtomicWriter {
  private readonly tmp: string;
  private fd: number;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${threadId}-${counter++}.tmp`);
    this.fd = openSync(this.tmp, 'w');
  }

  write(data: string | Uint8Array): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }

  commit(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.path);
  }

  abort(): void {
    closeSync(this.fd);
    rmSync(this.tmp, { force: true });
  }
}
