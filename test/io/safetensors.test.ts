import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';

describe('safetensors', () => {
  it('round-trips tensors and metadata, leaving no temp files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const p = join(dir, 'v.safetensors');
    const a = new Float32Array([1, -2.5, 3e-8, 4]);
    const b = new Float32Array([7, 8, 9, 10, 11, 12]);
    writeSafetensors(p, { 'layer.2': { data: a, shape: [4] }, 'layer.1': { data: b, shape: [2, 3] } }, { trait: 'evil' });
    const back = readSafetensors(p);
    expect(Array.from(back.tensors['layer.2']!.data)).toEqual(Array.from(a));
    expect(back.tensors['layer.1']!.shape).toEqual([2, 3]);
    expect(back.metadata).toEqual({ trait: 'evil' });
    expect(readdirSync(dir)).toEqual(['v.safetensors']);
    // Header layout per the spec: u64 little-endian length, JSON, data 8-byte aligned.
    const bytes = readFileSync(p);
    const hlen = Number(bytes.readBigUInt64LE(0));
    expect((8 + hlen) % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + hlen).toString());
    expect(header['layer.1'].data_offsets).toEqual([0, 24]);
  });

  it('fails clearly on truncated or foreign files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const p = join(dir, 'bad.safetensors');
    writeFileSync(p, Buffer.from([1, 2, 3]));
    expect(() => readSafetensors(p)).toThrow(/bad\.safetensors: file too short/);
    const hdr = Buffer.from(JSON.stringify({ x: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hdr.length));
    expect(() => decodeSafetensors(Buffer.concat([len, hdr, Buffer.alloc(2)]), 'v.st')).toThrow(/v\.st: tensor 'x' has dtype BF16/);
  });
});
