// One model, many requests: requests wait in a bounded queue and run in waves. A wave takes the
// oldest waiting request and every other waiting one that can share its batch (same sampling
// temperature / top-p / top-k and the same ablation; steering may differ per row), up to
// `maxBatch` rows, and generates them together with the KV-cache loop. Each row streams its own
// tokens and ends as soon as it is done (its own max_tokens, a stop token, a stop string, or its
// client gone), not when the wave ends. Other model work (probe readings) runs between waves,
// so the session is only ever used by one call at a time.

import { generate } from '../generation/generate.js';
import { interventionCause, type OverflowError } from '../model/overflow.js';
import { rowwiseSteering } from '../model/rowSteering.js';
import { validateSteering, type Ablation, type Steering } from '../model/steering.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { RequestError } from './controls.js';

export interface TokenEvent {
  /** 0-based index of the token in the answer. */
  index: number;
  id: number;
  /** This step's next-token logits of the row (the distribution the token was drawn from, before sampling settings). */
  logits: Float32Array;
}

export interface GenerationJob {
  prompt: number[];
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  /**
   * Asked at every forward call with the number of answer tokens so far (the call that produces
   * token n is asked with n), so a change applies from the next token on.
   */
  steering: (tokensSoFar: number) => Steering;
  ablation: Ablation[];
  /** Layers whose hidden state of every answer token (and of the last prompt token) is wanted. */
  captureLayers: number[];
  onToken?: (e: TokenEvent) => void;
  /** index -1 = the last prompt token; i = answer token i. layer -> [H] */
  onHidden?: (index: number, hidden: Map<number, Float32Array>) => void;
  /** True ends the row at once (client gone, stop string reached). */
  cancelled?: () => boolean;
}

export interface JobResult {
  tokens: number[];
  finishReason: 'stop' | 'length' | 'cancelled';
}

interface Waiting {
  job: GenerationJob;
  resolve: (r: JobResult) => void;
  reject: (e: unknown) => void;
}

type Task = { kind: 'wave' } | { kind: 'exclusive'; run: () => Promise<void> };

export interface BatcherOptions {
  /** Rows per wave. */
  maxBatch: number;
  /** Requests allowed to wait; more are refused with 503. */
  maxQueue: number;
}

export interface BatcherStats {
  waves: number;
  rows: number;
  largestWave: number;
  waiting: number;
  running: number;
}

export class Batcher {
  private readonly queue: Waiting[] = [];
  private readonly exclusive: (() => Promise<void>)[] = [];
  private busy = false;
  private closed = false;
  private running = 0;
  readonly stats: BatcherStats = { waves: 0, rows: 0, largestWave: 0, waiting: 0, running: 0 };

  constructor(
    private readonly model: SteerableModel,
    private readonly opts: BatcherOptions,
  ) {}

  /** Queue a generation; resolves when its row is done. */
  submit(job: GenerationJob): Promise<JobResult> {
    if (this.closed) return Promise.reject(new RequestError('the server is shutting down', 503));
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(new RequestError(`server busy: ${this.queue.length} requests waiting (--max-queue)`, 503));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.kick();
      this.stats.waiting = this.queue.length;
    });
  }

  /** Run other model work (e.g. probe readings) between waves. */
  withModel<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new RequestError('the server is shutting down', 503));
    return new Promise<T>((resolve, reject) => {
      this.exclusive.push(() => fn().then(resolve, reject));
      this.kick();
    });
  }

  /** Refuse new work; what is queued or running still finishes. Resolves when idle. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.busy || this.queue.length || this.exclusive.length) await new Promise((r) => setTimeout(r, 20));
  }

  private kick(): void {
    if (this.busy) return;
    const task: Task | null = this.exclusive.length ? { kind: 'exclusive', run: this.exclusive.shift()! } : this.queue.length ? { kind: 'wave' } : null;
    if (!task) return;
    this.busy = true;
    const done = task.kind === 'exclusive' ? task.run() : this.wave();
    void done.finally(() => {
      this.busy = false;
      this.stats.waiting = this.queue.length;
      this.kick();
    });
  }

  private async wave(): Promise<void> {
    const first = this.queue[0]!;
    const key = compatKey(first.job);
    const rows: Waiting[] = [];
    for (let i = 0; i < this.queue.length && rows.length < this.opts.maxBatch; )
      if (compatKey(this.queue[i]!.job) === key) rows.push(...this.queue.splice(i, 1));
      else i++;
    this.stats.waves++;
    this.stats.rows += rows.length;
    this.stats.largestWave = Math.max(this.stats.largestWave, rows.length);
    this.stats.waiting = this.queue.length;
    this.stats.running = this.running = rows.length;

    const jobs = rows.map((r) => r.job);
    // Rows that want hidden states of every answer token run one step past their last token: the
    // state of a token exists only once it has been fed, and that extra step feeds it.
    const limits = jobs.map((j) => j.maxTokens + (j.captureLayers.length ? 1 : 0));
    const finished = rows.map(() => false);
    const stopIds = new Set(this.model.config.eosTokenIds);
    const end = (b: number, r: JobResult) => {
      if (finished[b]) return;
      finished[b] = true;
      this.stats.running = --this.running;
      rows[b]!.resolve(r);
    };
    // One row's failure (its steering overflows, or its plan cannot be built) ends that row alone.
    const fail = (b: number, e: unknown) => {
      if (finished[b]) return;
      finished[b] = true;
      this.stats.running = --this.running;
      rows[b]!.reject(e);
    };
    const H = this.model.hiddenSize;
    const captureLayers = [...new Set(jobs.flatMap((j) => j.captureLayers))];
    const produced: number[][] = rows.map(() => []);
    const checked = rows.map((): Steering | null => null);
    const steeringOf = (b: number): Steering => {
      if (finished[b]) return [];
      try {
        const s = jobs[b]!.steering(produced[b]!.length);
        // Checked once per new plan (callers hand a new array when settings change).
        if (s !== checked[b]) validateSteering(this.model, s);
        checked[b] = s;
        return s;
      } catch (e) {
        fail(b, new RequestError(`persona: ${(e as Error).message}`));
        return [];
      }
    };
    try {
      await generate(
        this.model,
        jobs.map((j) => j.prompt),
        {
          maxNewTokens: Math.max(...limits),
          sampling: { temperature: first.job.temperature, topP: first.job.topP, topK: first.job.topK, rowSeeds: jobs.map((j) => j.seed >>> 0) },
          steerPlan: rowwiseSteering(this.model, steeringOf, jobs.map((j) => j.prompt.length)),
          ablation: first.job.ablation,
          captureLayers,
          rowFailed: (b, e) => fail(b, overflowOf(checked[b] ?? [], first.job.ablation, e)),
          stopRow: (b, tokens) => finished[b]! || tokens.length >= limits[b]! || !!jobs[b]!.cancelled?.(),
          onToken: ({ step, tokens, hidden, logits }) => {
            const vocab = logits.length / rows.length;
            jobs.forEach((job, b) => {
              if (finished[b]) return;
              // The state fed at this step: the last prompt token (step 0) or answer token step-1.
              if (job.onHidden && job.captureLayers.length && step <= produced[b]!.length) {
                const h = new Map(job.captureLayers.map((l) => [l, hidden.get(l)!.slice(b * H, (b + 1) * H)]));
                job.onHidden(step - 1, h);
              }
              const id = tokens[b]!;
              if (id < 0) return;
              if (stopIds.has(id)) return end(b, { tokens: produced[b]!, finishReason: 'stop' });
              if (produced[b]!.length >= job.maxTokens) return end(b, { tokens: produced[b]!, finishReason: 'length' });
              if (job.cancelled?.()) return end(b, { tokens: produced[b]!, finishReason: 'cancelled' });
              produced[b]!.push(id);
              job.onToken?.({ index: produced[b]!.length - 1, id, logits: logits.subarray(b * vocab, (b + 1) * vocab) });
              if (job.cancelled?.()) return end(b, { tokens: produced[b]!, finishReason: 'cancelled' });
              if (produced[b]!.length >= limits[b]!) end(b, { tokens: produced[b]!, finishReason: 'length' });
            });
          },
        },
      );
      rows.forEach((_, b) => end(b, { tokens: produced[b]!, finishReason: 'length' }));
    } catch (e) {
      // Not a row's own doing (the session failed): every row still running fails with it.
      rows.forEach((_, b) => fail(b, e));
    }
  }
}

/**
 * A row's overflow as its client hears it: caused by its own steering (400, naming what it applied)
 * or, with nothing applied, by the model itself (500).
 */
function overflowOf(steering: Steering, ablation: Ablation[], e: OverflowError): Error {
  if (!steering.length && !ablation.length) return e;
  const cause = interventionCause(steering, ablation);
  return new RequestError(`persona: ${cause.text} ${e.what}; ${cause.hint}`);
}

/** Rows of one wave share sampling settings and ablation (their steering may differ). */
function compatKey(j: GenerationJob): string {
  const ablation = j.ablation.map((a) => `${a.layer}:${'span' in a ? a.span.map(hashVector).join('+') : hashVector(a.direction)}`).join(';');
  return `${j.temperature}|${j.topP}|${j.topK}|${ablation}`;
}

function hashVector(v: Float32Array): string {
  let h = 0x811c9dc5;
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16);
}
