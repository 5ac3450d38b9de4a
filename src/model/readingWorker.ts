// One reading session in a worker thread (see readingPool.ts): opens a reading variant already
// built and checked by the main thread, then answers forward calls on its share of a batch.
// Steering plans are made here (a plan is a function, which cannot cross threads), against the
// main model's layers, so that the vectors a single-session read accepts are accepted here.

import { parentPort, workerData } from 'node:worker_threads';
import { loadModelConfig } from './config.js';
import type { Manifest } from './instrument/prepare.js';
import { openSession, type SessionOptions } from './session.js';
import { SteerableModel, type AblateTensors } from './steerableModel.js';
import { steeringPlan, type Steering, type SteerTarget } from './steering.js';
import { loadTokenizer } from './tokenizer.js';

export interface ReadingWorkerInit {
  dir: string;
  path: string;
  options: SessionOptions;
  manifest?: Manifest;
}

export interface ReadingJob {
  id: number;
  inputIds: number[][];
  hiddenLayers: number[];
  /** Made into a plan here against `target`: the main model, whose layers the caller checked it against. */
  steering?: { target: SteerTarget; vectors: Steering; promptLengths?: number[] };
  ablate?: AblateTensors;
  pool?: { weights: Float32Array; positions: number; layers: number[] };
  /** Rows left-padded to the batch's length (0 = padding), so each row is computed as in the whole batch. */
  attentionMask?: number[][];
}

/** Asks the worker to release its session and exit (after the run it is in, if any). */
export interface ReadingClose {
  close: true;
}

export interface ReadingReply {
  id: number;
  error?: string;
  seq?: number;
  hidden?: [number, Float32Array][];
  pooled?: [number, Float32Array][];
}

const init = workerData as ReadingWorkerInit;
const port = parentPort!;

const ready = (async () => {
  const [tokenizer, session] = await Promise.all([loadTokenizer(init.dir), openSession(init.path, init.options, { logits: false })]);
  return new SteerableModel({ dir: init.dir, config: loadModelConfig(init.dir), tokenizer, session, manifest: init.manifest });
})();

ready.then(
  () => port.postMessage({ id: -1 }),
  (e: Error) => port.postMessage({ id: -1, error: e.message }),
);

// One message at a time, in order: a close waits for the jobs sent before it.
let queue = Promise.resolve();
port.on('message', (msg: ReadingJob | ReadingClose) => {
  queue = queue.then(() => handle(msg));
});

async function handle(msg: ReadingJob | ReadingClose): Promise<void> {
  if ('close' in msg) {
    await (await ready.catch(() => undefined))?.session.session.release();
    process.exit(0);
  }
  const job = msg;
  try {
    const reader = await ready;
    const s = job.steering;
    const steer = s?.vectors.length ? steeringPlan(s.target, s.vectors, s.promptLengths) : undefined;
    const r = await reader.forward({ inputIds: job.inputIds, attentionMask: job.attentionMask, hiddenLayers: job.hiddenLayers, steer, ablate: job.ablate, pool: job.pool, useCache: false });
    const hidden = [...r.hidden];
    const pooled = [...r.pooled];
    const buffers = [...hidden, ...pooled].map(([, a]) => a.buffer as ArrayBuffer);
    port.postMessage({ id: job.id, seq: r.seq, hidden, pooled } satisfies ReadingReply, [...new Set(buffers)]);
  } catch (e) {
    port.postMessage({ id: job.id, error: (e as Error).message } satisfies ReadingReply);
  }
}
