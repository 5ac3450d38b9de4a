// Data-parallel reading: a batch's rows split over worker threads, each running the reading variant
// in a session of its own. ONNX Runtime's intra-op threads split every op of one run; on a small
// model most ops are too small for that to pay (a thread hand-off per op), so two one-thread
// sessions on half the rows each beat one two-thread session on all of them (persona-tiny 8x64 on
// 2 cores, workers looping alone: 0.68-0.80 of the time; through extractActivations 0.82-1.01;
// SmolLM2-135M-shaped 0.93-0.95). Each session holds the
// variant's weights, so the pool is only opened while they are small (MAX_POOL_WEIGHTS).

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReadingClose, ReadingJob, ReadingReply, ReadingWorkerInit } from './readingWorker.js';
import { physicalCores } from './physicalCores.js';
import type { SteerableModel } from './steerableModel.js';

/** Weight bytes all of a pool's sessions may hold together (the main thread's reader not counted). */
export const MAX_POOL_WEIGHTS = 1 << 30;
/** Sessions at most, by default: a batch of 8 splits into shares of 2 rows; more cores go to their threads. */
const MAX_SESSIONS = 4;

/** What one share of a batch gives back: as ForwardResult, for the rows sent. */
export interface ShareResult {
  seq: number;
  hidden: Map<number, Float32Array>;
  pooled: Map<number, Float32Array>;
}

export type ShareJob = Omit<ReadingJob, 'id'>;

/** physicalCores() of this process, read once. */
let machineCores: number | undefined;

/** A `readers` count as ExtractOptions takes it: a positive integer, or undefined (the default). */
export function checkReaders(asked: number | undefined): void {
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1)) throw new Error(`readers: expected a positive integer, got ${asked}`);
}

/**
 * How many sessions read in parallel, each with how many intra-op threads (the model's threads
 * shared out): `asked` (ExtractOptions readers), else one per thread the model was given (ONNX
 * Runtime's default: one per physical core), at most MAX_SESSIONS, while their weights fit MAX_POOL_WEIGHTS.
 * One means no pool.
 */
export function poolSize(reader: SteerableModel, asked?: number): { sessions: number; threads: number } {
  const threads = reader.session.options.threads ?? (machineCores ??= physicalCores());
  checkReaders(asked);
  if (reader.session.device !== 'cpu' || reader.session.hasLogits) return { sessions: 1, threads };
  const bytes = variantBytes(reader);
  const sessions = asked ?? Math.max(1, Math.min(threads, MAX_SESSIONS, Math.floor(MAX_POOL_WEIGHTS / bytes)));
  return { sessions, threads: Math.max(1, Math.floor(threads / sessions)) };
}

/**
 * The weights a session on the variant holds, from the config (the file may keep them as external
 * data): embeddings and the blocks read, counted as float32 (an upper bound for float16 and
 * quantized graphs).
 */
function variantBytes(reader: SteerableModel): number {
  const c = reader.config;
  const F = Number((c.raw as { intermediate_size?: number }).intermediate_size ?? 4 * c.hiddenSize);
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const block = 2 * c.hiddenSize * q + 2 * c.hiddenSize * kv + 3 * c.hiddenSize * F;
  return 4 * (c.vocabSize * c.hiddenSize + Math.max(...reader.hiddenLayers, 1) * block);
}

/** Worker threads each holding a reading session; `read` sends each its share of a batch. */
export class ReadingPool {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: ReadingReply) => void; reject: (e: Error) => void }>();
  private readonly exited = new Set<Worker>();
  private busy = 0;
  private failed?: Error;
  private closing?: Promise<void>;
  private retired = false;
  private retiring?: Promise<void>;
  private whenIdle?: () => void;
  /** Shares read so far (how a caller can tell the pool did the reading). */
  shares = 0;

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (r: ReadingReply) => this.settle(r));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        this.exited.add(w);
        this.fail(new Error(`reading worker exited (code ${code})`));
      });
      // After the listeners (a 'message' listener refs the worker's port): an idle pool does not
      // keep the process alive (see read: ref while a call is in flight).
      w.unref();
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** False once a worker has died or the pool is closing: callers read on the one session instead. */
  get usable(): boolean {
    return !this.failed && !this.retired;
  }

  /**
   * Opens `sessions` sessions on the reader's file, `threads` intra-op threads each. Until they are
   * open the workers keep the process alive (none is cut off while it loads its session), so a
   * process whose read was too short to use them waits for them (~0.5 s); after that only reads
   * and closing do.
   */
  static async open(reader: SteerableModel, sessions: number, threads: number): Promise<ReadingPool> {
    const init: ReadingWorkerInit = {
      dir: reader.dir,
      path: reader.session.path,
      options: { ...reader.session.options, threads },
      manifest: reader.manifest,
    };
    const workers = Array.from({ length: sessions }, () => spawn(init));
    const started = await Promise.allSettled(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('message', (r: ReadingReply) => (r.error ? reject(new Error(`reading worker: ${r.error}`)) : resolve()));
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`reading worker exited (code ${code}) while opening its session`)));
          }),
      ),
    );
    const bad = started.find((s) => s.status === 'rejected');
    if (bad) {
      // Every worker has answered (or is gone): none is inside a run, so terminating is safe.
      await Promise.all(workers.map((w) => w.terminate()));
      throw (bad as PromiseRejectedResult).reason;
    }
    return new ReadingPool(workers);
  }

  /** Runs share i of a batch on worker i (at most `size` shares), all at once. */
  async read(shares: ShareJob[]): Promise<ShareResult[]> {
    if (shares.length > this.workers.length) throw new Error(`ReadingPool.read: ${shares.length} shares for ${this.workers.length} sessions`);
    if (this.failed || this.retired) throw this.failed ?? new Error('reading pool retired');
    if (this.busy++ === 0) for (const w of this.workers) w.ref();
    try {
      const replies = await Promise.all(
        shares.map((job, i) => {
          const id = this.next++;
          return new Promise<ReadingReply>((resolve, reject) => {
            this.waiting.set(id, { resolve, reject });
            try {
              this.workers[i]!.postMessage({ ...job, id } satisfies ReadingJob);
            } catch (e) {
              this.waiting.delete(id);
              reject(e as Error);
            }
          });
        }),
      );
      this.shares += replies.length;
      return replies.map((r) => ({ seq: r.seq!, hidden: new Map(r.hidden), pooled: new Map(r.pooled) }));
    } finally {
      if (--this.busy === 0) {
        if (!this.closing) for (const w of this.workers) w.unref(); // closing: held until they exit
        this.whenIdle?.();
      }
    }
  }

  /** Takes no more reads, lets those in flight finish, then closes (a pool replaced by another size). */
  retire(): Promise<void> {
    this.retired = true;
    if (this.busy === 0) return this.close();
    return (this.retiring ??= new Promise<void>((resolve) => (this.whenIdle = resolve)).then(() => this.close()));
  }

  /**
   * Rejects the reads in flight and stops the workers, each once it has finished the run it is in:
   * a worker terminated inside ONNX Runtime's run takes the process down with it.
   */
  close(why?: string): Promise<void> {
    this.fail(new Error(`reading pool closed${why ? `: ${why}` : ''}`), false);
    return (this.closing ??= Promise.all(
      this.workers.map((w) =>
        this.exited.has(w)
          ? undefined
          : new Promise<void>((resolve) => {
              w.ref(); // the process waits for it: leaving with a worker inside a run aborts
              w.once('exit', () => resolve());
              w.postMessage({ close: true } satisfies ReadingClose);
            }),
      ),
    ).then(() => {}));
  }

  private settle(r: ReadingReply): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if (r.error) w.reject(new Error(r.error));
    else w.resolve(r);
  }

  /** Rejects every read in flight; a pool a worker of which died stops the others (closeRest). */
  private fail(e: Error, closeRest = true): void {
    this.failed ??= e;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
    if (closeRest) void this.close();
  }
}

/**
 * A worker running readingWorker: the compiled .js beside this module where there is one, else the
 * TypeScript source, with tsx registered first as bin/persona.js does (tsx, vitest and tslab run
 * the sources; tslab names this module .js without writing one).
 */
function spawn(init: ReadingWorkerInit): Worker {
  const js = new URL('./readingWorker.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData: init });
  const tsx = tsxRegisterUrl(import.meta.url);
  const entry = new URL('./readingWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData: init });
}

/** tsx's ESM register API (what `import 'tsx/esm/api'` loads; require() would resolve its CommonJS build). */
function tsxRegisterUrl(from: string): string {
  const pkg = createRequire(from).resolve('tsx/package.json');
  const api = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']!.import.default;
  return pathToFileURL(join(dirname(pkg), api)).href;
}
