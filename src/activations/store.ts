// Activations on disk, one row per example, so a dataset never has to fit in memory: one raw
// float32 file per layer (`layer-K.f32`, rows of H values, appended as batches finish) and
// `store.json` saying how many rows are complete. Layer-major because consumers (probe fits,
// projections) want one layer's [N, H] block at a time.
//
// Crash safety: rows are appended to every layer file first, then the row count is committed
// atomically; reopening cuts any bytes past the committed count, so a resumed run continues
// exactly after the last complete batch.

import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { readJsonFile } from '../io/json.js';

export interface StoreHeader {
  format: 'persona-steer/activations@1';
  layers: number[];
  hiddenSize: number;
  /** Complete rows in every layer file. */
  rows: number;
  /** Free description (model, position, suffix) checked on reopen so two datasets never mix. */
  describe: Record<string, unknown>;
}

const FORMAT = 'persona-steer/activations@1';

export class ActivationStore {
  private constructor(
    readonly dir: string,
    private header: StoreHeader,
  ) {}

  get rows(): number {
    return this.header.rows;
  }
  get layers(): number[] {
    return this.header.layers;
  }
  get hiddenSize(): number {
    return this.header.hiddenSize;
  }

  /** Open `dir` (creating it when new); an existing store must have the same layers, size and description. */
  static open(dir: string, layers: number[], hiddenSize: number, describe: Record<string, unknown> = {}): ActivationStore {
    const path = join(dir, 'store.json');
    if (existsSync(path)) {
      const h = ActivationStore.readHeader(dir);
      const want = JSON.stringify({ layers, hiddenSize, describe });
      const have = JSON.stringify({ layers: h.layers, hiddenSize: h.hiddenSize, describe: h.describe });
      if (want !== have) throw new Error(`${path}: holds other activations (${have}); expected ${want}`);
      const store = new ActivationStore(dir, h);
      store.truncateToCommitted();
      return store;
    }
    mkdirSync(dir, { recursive: true });
    const store = new ActivationStore(dir, { format: FORMAT, layers, hiddenSize, rows: 0, describe });
    for (const l of layers) closeSync(openSync(store.layerPath(l), 'w'));
    store.commit();
    return store;
  }

  /** An existing store, read-only use. */
  static read(dir: string): ActivationStore {
    return new ActivationStore(dir, ActivationStore.readHeader(dir));
  }

  private static readHeader(dir: string): StoreHeader {
    const path = join(dir, 'store.json');
    if (!existsSync(path)) throw new Error(`${dir}: not an activation store (no store.json)`);
    const h = readJsonFile(path) as StoreHeader;
    if (h.format !== FORMAT) throw new Error(`${path}: field 'format' is ${JSON.stringify(h.format)}, expected ${FORMAT}`);
    return h;
  }

  layerPath(layer: number): string {
    return join(this.dir, `layer-${layer}.f32`);
  }

  /** Append rows: `rows[i][j]` is example i's vector at layers[j]. */
  append(rows: Float32Array[][]): void {
    const H = this.hiddenSize;
    this.layers.forEach((l, j) => {
      const block = new Float32Array(rows.length * H);
      rows.forEach((r, i) => {
        const v = r[j]!;
        if (v.length !== H) throw new Error(`${this.dir}: row of ${v.length} values at layer ${l}, store holds ${H}`);
        block.set(v, i * H);
      });
      const fd = openSync(this.layerPath(l), 'a');
      try {
        const bytes = new Uint8Array(block.buffer);
        let off = 0;
        while (off < bytes.length) off += writeSync(fd, bytes, off);
      } finally {
        closeSync(fd);
      }
    });
    this.header.rows += rows.length;
    this.commit();
  }

  /** All rows of one layer as [rows, H]. */
  readLayer(layer: number): Float32Array {
    if (!this.layers.includes(layer)) throw new Error(`${this.dir}: no layer ${layer} (has ${this.layers.join(', ')})`);
    const H = this.hiddenSize;
    const out = new Float32Array(this.rows * H);
    const fd = openSync(this.layerPath(layer), 'r');
    try {
      const bytes = new Uint8Array(out.buffer);
      let off = 0;
      while (off < bytes.length) {
        const n = readSync(fd, bytes, off, bytes.length - off, off);
        if (n === 0) throw new Error(`${this.layerPath(layer)}: shorter than the ${this.rows} rows store.json records`);
        off += n;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  private commit(): void {
    writeJsonAtomic(join(this.dir, 'store.json'), this.header);
  }

  private truncateToCommitted(): void {
    const bytes = this.rows * this.hiddenSize * 4;
    for (const l of this.layers) {
      const fd = openSync(this.layerPath(l), existsSync(this.layerPath(l)) ? 'r+' : 'w+');
      try {
        const size = fstatSync(fd).size;
        if (size < bytes) throw new Error(`${this.layerPath(l)}: ${size} bytes, fewer than the ${this.rows} rows store.json records`);
        if (size > bytes) ftruncateSync(fd, bytes);
      } finally {
        closeSync(fd);
      }
    }
  }
}
