// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}}, then raw bytes.
// Chosen for vectors so Python users can load them with `safetensors.torch.load_file` directly.

import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';

export interface NamedTensor {
  data: Float32Array;
  shape: number[];
}

export class SafetensorsError extends Error {}

export function encodeSafetensors(tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new SafetensorsError(`tensor '${name}': shape [${t.shape}] has ${n} elements but data has ${t.data.length}`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((json.length + 8) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const parts: Uint8Array[] = [len, headerBytes];
  for (const name of names) {
    const d = tensors[name]!.data;
    parts.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return parts;
}

export function writeSafetensors(path: string, tensors: Record<string, NamedTensor>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function decodeSafetensors(bytes: Uint8Array, source = '<safetensors>'): { tensors: Record<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new SafetensorsError(`${source}: file too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(view.getBigUint64(0, true));
  if (8 + hlen > bytes.length) throw new SafetensorsError(`${source}: header length ${hlen} runs past the end of the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + hlen)).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors: Record<string, NamedTensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw new SafetensorsError(`${source}: tensor '${name}' has dtype ${e.dtype}; only F32 is supported`);
    const [a, b] = e.data_offsets;
    if (base + b > bytes.length || b < a) throw new SafetensorsError(`${source}: tensor '${name}' data_offsets [${a}, ${b}] out of range`);
    const n = e.shape.reduce((x, y) => x * y, 1);
    if ((b - a) !== n * 4) throw new SafetensorsError(`${source}: tensor '${name}' shape [${e.shape}] does not match its ${b - a} bytes`);
    // Copy: the file buffer's offset is not guaranteed 4-byte aligned.
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(bytes.subarray(base + a, base + b));
    tensors[name] = { data, shape: e.shape };
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string) {
  return decodeSafetensors(readFileSync(path), path);
}
