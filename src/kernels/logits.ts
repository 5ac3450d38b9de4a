// One row of logits in WebAssembly memory and the SIMD passes of logits.wat over it. A decode step
// scans its 49k+ logits several times (finite check, argmax, softmax, top-p); in JavaScript that
// was ~1 ms of a 25 ms SmolLM2-135M step, four lanes at a time it is a few tens of microseconds.
//
// Memory: x (the row, padded to a multiple of 8 with PAD: softmax reads two vectors at a time),
// e (exp values), keys, idx (gathered ids), hist (4 x 512 float64 bucket masses, one histogram per
// SIMD lane). One kernel per process: everything here is synchronous, so calls never interleave.

import { LOGITS_WASM } from './logitsWasm.js';

/**
 * Pads the row to whole pairs of vectors: below any logit (a finite pad could exceed a row of
 * -3.4e38s), with exp 0 and the largest key, so it is never kept or drawn; scan reads only the real
 * values.
 */
const PAD = -Infinity;
/** key = floor((max - x) * KEY_SCALE); buckets are key >> 9 (1/16 nat), sub-buckets key & 511. */
export const KEY_SCALE = 8192;
export const BUCKETS = 512;
const HIST_BYTES = 4 * BUCKETS * 8;
const PAGE = 65536;

// The WebAssembly API as far as used here (this project's TypeScript libs carry no DOM types).
const wasmApi = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => { exports: unknown } };
}).WebAssembly;

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  min: { value: number };
  bad: { value: number };
  scan(x: number, n: number): number;
  firstEqual(x: number, n4: number, v: number): number;
  divide(x: number, n4: number, t: number): void;
  softmax(x: number, e: number, keys: number, n4: number, max: number, hist: number): number;
  addLanes(hist: number): void;
  subBucketMass(keys: number, e: number, n4: number, c: number, hist: number): void;
  gather(keys: number, n4: number, lo: number, hi: number, out: number): number;
  cutFrom(keys: number, e: number, n4: number, k: number): number;
  draw(e: number, n4: number, t: number): number;
}

export class LogitsKernel {
  private static instance?: LogitsKernel;
  /** The process's kernel (compiled on first use, ~2 KB of code). */
  static get(): LogitsKernel {
    return (LogitsKernel.instance ??= new LogitsKernel());
  }

  private readonly wasm: Exports;
  private n = 0;
  private n4 = 0;
  private offE = 0;
  private offKeys = 0;
  private offIdx = 0;
  private offHist = 0;
  /** Views over the current row's parts (valid until the next load). */
  x = new Float32Array(0);
  e = new Float32Array(0);
  keys = new Int32Array(0);
  private idx = new Int32Array(0);
  private hist = new Float64Array(0);
  /** softmax(max, true)'s bucket masses, until another pass reuses hist. */
  private bucketsOf?: Float64Array;

  private constructor() {
    const module = new wasmApi.Module(Buffer.from(LOGITS_WASM, 'base64'));
    this.wasm = new wasmApi.Instance(module).exports as Exports;
  }

  /** Copy row[from, to) in (divided by `temperature` unless 1); returns its length. */
  load(row: Float32Array, from = 0, to = row.length, temperature = 1): number {
    const n = to - from;
    if (n < 1) throw new Error('logits kernel: empty row');
    const n4 = (n + 7) & ~7;
    const need = 16 * n4 + HIST_BYTES;
    const mem = this.wasm.memory;
    if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / PAGE));
    if (n4 !== this.n4 || this.x.buffer !== mem.buffer) {
      this.n4 = n4;
      this.offE = 4 * n4;
      this.offKeys = 8 * n4;
      this.offIdx = 12 * n4;
      this.offHist = 16 * n4;
      this.x = new Float32Array(mem.buffer, 0, n4);
      this.e = new Float32Array(mem.buffer, this.offE, n4);
      this.keys = new Int32Array(mem.buffer, this.offKeys, n4);
      this.idx = new Int32Array(mem.buffer, this.offIdx, n4);
      this.hist = new Float64Array(mem.buffer, this.offHist, 4 * BUCKETS);
    }
    this.n = n;
    this.bucketsOf = undefined;
    this.x.set(row.subarray(from, to));
    this.x.fill(PAD, n);
    if (temperature !== 1) this.divide(temperature);
    return n;
  }

  /** x /= temperature over the loaded row (the -inf pads stay -inf). */
  divide(temperature: number): void {
    this.wasm.divide(0, this.n4, temperature);
  }

  /** Values in the loaded row. */
  get length(): number {
    return this.n;
  }

  /** max, min and whether every value of the row is finite. */
  scan(): { max: number; min: number; finite: boolean } {
    const max = this.wasm.scan(0, this.n);
    return { max, min: this.wasm.min.value, finite: this.wasm.bad.value === 0 };
  }

  /** First index of the row's maximum (ties: the lowest id, as a scalar argmax). */
  argmax(max = this.scan().max): number {
    const i = this.wasm.firstEqual(0, this.n4, max);
    return i >= 0 && i < this.n ? i : 0;
  }

  /**
   * e = exp(x - max) over the row and each token's key (its distance below max in 1/KEY_SCALE nat);
   * the sum of e (float64 over float32 values). The passes below read both. With `buckets`, the
   * same pass also sums the mass of each 1/16-nat bucket below the max (the last bucket holds
   * everything from 511/16 nat on), read by bucketMass().
   */
  softmax(max: number, buckets = false): number {
    if (buckets) this.hist.fill(0);
    const z = this.wasm.softmax(0, this.offE, this.offKeys, this.n4, max, buckets ? this.offHist : 0);
    this.bucketsOf = buckets ? this.laneSum() : undefined;
    return z;
  }

  /** The bucket masses of the last softmax(max, true) (a view, valid until the next call). */
  bucketMass(): Float64Array {
    if (!this.bucketsOf) throw new Error('logits kernel: bucketMass() needs softmax(max, true) first');
    return this.bucketsOf;
  }

  /** Mass of each 1/8192-nat sub-bucket of bucket c < 511 (a view, valid until the next call). */
  subBucketMass(c: number): Float64Array {
    this.bucketsOf = undefined;
    this.hist.fill(0);
    this.wasm.subBucketMass(this.offKeys, this.offE, this.n4, c, this.offHist);
    return this.laneSum();
  }

  /** Ids whose key is in [lo, hi], in id order (a view, valid until the next call). */
  gather(lo: number, hi: number): Int32Array {
    const count = this.wasm.gather(this.offKeys, this.n4, lo, hi, this.offIdx);
    return this.idx.subarray(0, count);
  }

  /** e = 0 from key k on; the f64 sum of what is left. */
  cutFrom(k: number): number {
    return this.wasm.cutFrom(this.offKeys, this.offE, this.n4, k);
  }

  /** The first id whose running sum of e passes t (an inverse-CDF draw), or -1. */
  draw(t: number): number {
    return this.wasm.draw(this.offE, this.n4, t);
  }

  /** The four lane histograms added (in WebAssembly: ~1 us; the JavaScript loop took 7-12). */
  private laneSum(): Float64Array {
    this.wasm.addLanes(this.offHist);
    return this.hist.subarray(0, BUCKETS);
  }
}
