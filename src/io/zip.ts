// The ZIP container PyTorch's torch.save writes (and numpy's .npz, and others): local file headers,
// a central directory and its end record. We write stored (uncompressed) entries only, with each
// entry's data aligned to 64 bytes through an extra-field pad, as torch's own writer does so that
// storages can be memory-mapped; we read stored and deflated entries (deflate via node:zlib).
// Hand-written rather than a dependency: the subset is ~120 lines, and what torch expects (stored
// entries, 64-byte aligned data through the 'FB' pad field) is a writer detail that a general zip
// library would have to be configured for, if it offers it at all.

import { inflateRawSync } from 'node:zlib';

export class ZipError extends Error {}

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Stored entries, each entry's data starting at a multiple of `align` bytes. */
export function encodeZip(entries: ZipEntry[], align = 64): Uint8Array[] {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = crc32(e.data);
    // Local header is 30 bytes + name + extra; pad the extra field so the data lands aligned.
    const base = offset + 30 + name.length;
    const pad = (align - ((base + 4) % align)) % align;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0); // 'FB', the id torch uses for its padding field
    extra.writeUInt16LE(pad, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time/date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    parts.push(local, name, extra, e.data);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(0, 10);
    cd.writeUInt32LE(0, 12);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(e.data.length, 20);
    cd.writeUInt32LE(e.data.length, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(0, 30); // no extra in the central record
    cd.writeUInt16LE(0, 32);
    cd.writeUInt16LE(0, 34);
    cd.writeUInt16LE(0, 36);
    cd.writeUInt32LE(0, 38);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += 30 + name.length + extra.length + e.data.length;
    if (offset > 0xffffffff) throw new ZipError('archive larger than 4 GiB needs ZIP64, which this writer does not produce');
  }
  const cdSize = central.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...parts, ...central, end];
}

/** Every entry of an archive, by name (data copied out of `bytes`). */
export function decodeZip(bytes: Uint8Array, source = '<zip>'): Map<string, Uint8Array> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end-of-central-directory record sits in the last 22 + 65535 bytes (after an optional comment).
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError(`${source}: not a ZIP archive (no end-of-central-directory record)`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || p === 0xffffffff) throw new ZipError(`${source}: ZIP64 archives are not supported`);
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    if (p + 46 > buf.length || buf.readUInt32LE(p) !== 0x02014b50) throw new ZipError(`${source}: central directory entry ${i} is damaged`);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nlen);
    p += 46 + nlen + xlen + clen;
    if (local + 30 > buf.length || buf.readUInt32LE(local) !== 0x04034b50) throw new ZipError(`${source}: entry '${name}': local header is damaged`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    if (start + csize > buf.length) throw new ZipError(`${source}: entry '${name}' runs past the end of the file`);
    const raw = buf.subarray(start, start + csize);
    let data: Uint8Array;
    if (method === 0) data = Uint8Array.from(raw);
    else if (method === 8) data = inflateRawSync(raw);
    else throw new ZipError(`${source}: entry '${name}' uses compression method ${method} (only stored and deflate are read)`);
    if (data.length !== usize) throw new ZipError(`${source}: entry '${name}' has ${data.length} bytes, its header says ${usize}`);
    if (crc32(data) !== crc) throw new ZipError(`${source}: entry '${name}' fails its CRC check`);
    out.set(name, data);
  }
  return out;
}
