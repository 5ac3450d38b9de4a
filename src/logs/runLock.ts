// One writer per run directory. Two processes appending to the same records would duplicate keys
// and double counts, so `RunDir.open` takes `.lock` (created exclusively, holding pid, host and
// command). A lock whose process is gone (same host, pid not alive) is stale and taken over; a
// lock held from another host cannot be checked and is refused with what to do about it.

import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../io/atomic.js';

export interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

/** The run directory is locked by another live process (or one on another host), named in `holder`. */
export class RunInUseError extends Error {
  override name = 'RunInUseError';
  constructor(
    message: string,
    readonly holder: LockInfo,
  ) {
    super(message);
  }
}

function readLock(path: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
  } catch {
    return null; // vanished meanwhile, or half-written by a process that died creating it
  }
}

const held = new Set<string>();
let exitHooked = false;

export class RunLock {
  private constructor(readonly path: string) {}

  static acquire(dir: string, command: string): RunLock {
    const path = join(dir, '.lock');
    // Re-entrant within one process: a script may reopen a run it opened before.
    if (held.has(path)) return new RunLock(path);
    const me: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, JSON.stringify(me) + '\n');
        closeSync(fd);
        held.add(path);
        if (!exitHooked) {
          exitHooked = true;
          process.on('exit', () => held.forEach((p) => rmSync(p, { force: true })));
        }
        return new RunLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const other = readLock(path);
      if (other && other.host !== me.host)
        throw new RunInUseError(`${dir}: in use by '${other.command}' (pid ${other.pid} on host ${other.host}, since ${other.since}); if that process is gone, delete ${path}`, other);
      if (other && other.pid === me.pid) {
        held.add(path); // ours, left by an earlier open in this process
        return new RunLock(path);
      }
      if (other && processAlive(other.pid))
        throw new RunInUseError(`${dir}: in use by '${other.command}' (pid ${other.pid} on host ${other.host}, since ${other.since}); wait for it to end or use another --run directory`, other);
      // Stale: move it aside (atomic, so only one taker wins), then check it was the stale one we saw.
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
      } catch {
        continue; // someone else moved it first: try again
      }
      const moved = readLock(aside);
      if (other && moved && (moved.pid !== other.pid || moved.host !== other.host)) {
        renameSync(aside, path); // a fresh lock of another taker: give it back
        continue;
      }
      rmSync(aside, { force: true });
      process.stderr.write(`note: ${dir}: took over the lock of ${other ? `pid ${other.pid}, which is no longer running` : 'an unreadable lock file'}\n`);
    }
    throw new Error(`${dir}: could not take the run lock ${path} (another process keeps taking it)`);
  }

  release(): void {
    if (!held.delete(this.path)) return;
    if (existsSync(this.path) && readLock(this.path)?.pid === process.pid) rmSync(this.path, { force: true });
  }
}
