// Atomic file writes: a crash or Ctrl-C never leaves a half-written output behind, because the
// final name only ever points at complete content (write to a temp file, fsync, rename).

import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

let counter = 0;

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
    this.tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${counter++}.tmp`);
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
