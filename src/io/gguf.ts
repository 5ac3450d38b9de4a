// GGUF (version 3), the container of llama.cpp models and control vectors: "GGUF", u32 version,
// u64 tensor count, u64 key/value count, the key/values (u64-length strings, u32 type, value),
// tensor infos (name, u32 n_dims, u64 dims, u32 ggml type, u64 offset into the data section), then
// the data section at the next multiple of `general.alignment` (default 32). All little-endian.
// We write F32 tensors and read F32 and F16 ones, with every metadata type.

import { readFileSync } from 'node:fs';
import { halfBitsToFloat } from './fp16.js';
import { writeFileAtomic } from './atomic.js';

export class GgufError extends Error {}

export type GgufValue = string | number | bigint | boolean | GgufValue[];

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (a 1-D vector is [n]). */
  dims: number[];
  data: Float32Array;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensor[];
}

const T = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;
const GGML_F32 = 0;
const GGML_F16 = 1;

/** A typed metadata value for writing. */
export type GgufEntry = { type: 'string'; value: string } | { type: 'int32' | 'uint32'; value: number } | { type: 'float32'; value: number };

export function encodeGguf(metadata: [string, GgufEntry][], tensors: GgufTensor[], alignment = 32): Uint8Array[] {
  const head: Buffer[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); head.push(b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); head.push(b); };
  const str = (s: string) => { const b = Buffer.from(s, 'utf8'); u64(b.length); head.push(b); };
  head.push(Buffer.from('GGUF', 'latin1'));
  u32(3);
  u64(tensors.length);
  u64(metadata.length);
  for (const [key, e] of metadata) {
    str(key);
    if (e.type === 'string') { u32(T.STRING); str(e.value); }
    else if (e.type === 'uint32') { u32(T.UINT32); u32(e.value); }
    else if (e.type === 'int32') { u32(T.INT32); const b = Buffer.alloc(4); b.writeInt32LE(e.value); head.push(b); }
    else { u32(T.FLOAT32); const b = Buffer.alloc(4); b.writeFloatLE(e.value); head.push(b); }
  }
  let offset = 0;
  const pad = (n: number) => (alignment - (n % alignment)) % alignment;
  for (const t of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new GgufError(`tensor '${t.name}': dims [${t.dims}] hold ${n} values, data has ${t.data.length}`);
    str(t.name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(GGML_F32);
    u64(offset);
    offset += t.data.byteLength + pad(t.data.byteLength);
  }
  const headLen = head.reduce((s, b) => s + b.length, 0);
  const parts: Uint8Array[] = [...head, Buffer.alloc(pad(headLen))];
  for (const t of tensors) parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), Buffer.alloc(pad(t.data.byteLength)));
  return parts;
}

export function writeGguf(path: string, metadata: [string, GgufEntry][], tensors: GgufTensor[]): void {
  writeFileAtomic(path, encodeGguf(metadata, tensors));
}

export function decodeGguf(bytes: Uint8Array, source = '<gguf>'): GgufFile {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const need = (n: number, what: string) => {
    if (p + n > bytes.length) throw new GgufError(`${source}: file ends inside ${what} (offset ${p})`);
  };
  const u32 = (what: string) => { need(4, what); const v = dv.getUint32(p, true); p += 4; return v; };
  const u64 = (what: string) => { need(8, what); const v = dv.getBigUint64(p, true); p += 8; if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${source}: ${what} ${v} too large`); return Number(v); };
  const str = (what: string) => { const n = u64(what); need(n, what); const s = Buffer.from(bytes.subarray(p, p + n)).toString('utf8'); p += n; return s; };
  need(4, 'the magic');
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== 'GGUF') throw new GgufError(`${source}: not a GGUF file (magic is not 'GGUF')`);
  p = 4;
  const version = u32('the version');
  if (version < 2 || version > 3) throw new GgufError(`${source}: GGUF version ${version} is not supported (2 or 3)`);
  const nTensors = u64('the tensor count');
  const nKv = u64('the metadata count');
  const value = (type: number, key: string): GgufValue => {
    const what = `metadata '${key}'`;
    switch (type) {
      case T.UINT8: need(1, what); return dv.getUint8(p++);
      case T.INT8: need(1, what); return dv.getInt8(p++);
      case T.UINT16: need(2, what); p += 2; return dv.getUint16(p - 2, true);
      case T.INT16: need(2, what); p += 2; return dv.getInt16(p - 2, true);
      case T.UINT32: return u32(what);
      case T.INT32: need(4, what); p += 4; return dv.getInt32(p - 4, true);
      case T.FLOAT32: need(4, what); p += 4; return dv.getFloat32(p - 4, true);
      case T.BOOL: need(1, what); return dv.getUint8(p++) !== 0;
      case T.STRING: return str(what);
      case T.UINT64: need(8, what); p += 8; return dv.getBigUint64(p - 8, true);
      case T.INT64: need(8, what); p += 8; return dv.getBigInt64(p - 8, true);
      case T.FLOAT64: need(8, what); p += 8; return dv.getFloat64(p - 8, true);
      case T.ARRAY: {
        const et = u32(what);
        const n = u64(what);
        return Array.from({ length: n }, () => value(et, key));
      }
      default: throw new GgufError(`${source}: metadata '${key}' has unknown type ${type}`);
    }
  };
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = str(`metadata key ${i}`);
    metadata.set(key, value(u32(`metadata '${key}' type`), key));
  }
  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str(`tensor ${i} name`);
    const nd = u32(`tensor '${name}' dims`);
    const dims = Array.from({ length: nd }, () => u64(`tensor '${name}' dims`));
    infos.push({ name, dims, type: u32(`tensor '${name}' type`), offset: u64(`tensor '${name}' offset`) });
  }
  const alignment = Number(metadata.get('general.alignment') ?? 32);
  const base = p + ((alignment - (p % alignment)) % alignment);
  const tensors = infos.map(({ name, dims, type, offset }) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const size = type === GGML_F32 ? 4 : type === GGML_F16 ? 2 : 0;
    if (!size) throw new GgufError(`${source}: tensor '${name}' has ggml type ${type}; only F32 (0) and F16 (1) are read`);
    const start = base + offset;
    if (start + n * size > bytes.length) throw new GgufError(`${source}: tensor '${name}' data runs past the end of the file`);
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = size === 4 ? dv.getFloat32(start + 4 * k, true) : halfBitsToFloat(dv.getUint16(start + 2 * k, true));
    return { name, dims, data };
  });
  return { version, metadata, tensors };
}

export function readGguf(path: string): GgufFile {
  return decodeGguf(readFileSync(path), path);
}

