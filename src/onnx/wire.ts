// Protobuf wire format, just enough to read and edit ONNX files without a schema.
//
// Why not protobufjs + onnx.proto: decoding into objects and re-encoding with a fixed schema drops
// fields the schema does not know (newer ONNX versions) and copies every weight. Here a message is a
// list of field *ranges* into the original bytes; edits splice new bytes between untouched slices,
// so unknown fields and weights survive byte for byte.

export const enum Wire {
  Varint = 0,
  I64 = 1,
  Len = 2,
  I32 = 5,
}

/** One field occurrence inside a message: where it sits in `buf` and where its payload is. */
export interface Field {
  no: number;
  wire: Wire;
  /** Range of the whole field (tag + payload). */
  start: number;
  end: number;
  /** Range of the payload (Len: the bytes; Varint: the varint; I32/I64: the fixed bytes). */
  dataStart: number;
  dataEnd: number;
}

export class WireError extends Error {}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new WireError(`truncated varint at byte ${pos}`);
    const b = buf[pos++]!;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
    if (shift > 63n) throw new WireError(`varint longer than 10 bytes at byte ${pos}`);
  }
}

/** Fast path for varints that fit in 53 bits (tags, lengths), falling back to BigInt. */
function readSmallVarint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= buf.length) throw new WireError(`truncated varint at byte ${pos}`);
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  const [big, next] = readVarint(buf, pos - 8);
  return [Number(BigInt.asIntN(64, big)), next];
}

/** Split `buf[start, end)` into its top-level fields. Throws on malformed bytes. */
export function readFields(buf: Uint8Array, start = 0, end = buf.length): Field[] {
  const fields: Field[] = [];
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readSmallVarint(buf, pos);
    const no = Math.floor(tag / 8);
    const wire = (tag & 7) as Wire;
    if (no === 0) throw new WireError(`field number 0 at byte ${fieldStart}`);
    pos = afterTag;
    let dataStart = pos;
    switch (wire) {
      case Wire.Varint:
        pos = readVarint(buf, pos)[1];
        break;
      case Wire.I64:
        pos += 8;
        break;
      case Wire.I32:
        pos += 4;
        break;
      case Wire.Len: {
        const [len, afterLen] = readSmallVarint(buf, pos);
        dataStart = afterLen;
        pos = afterLen + len;
        break;
      }
      default:
        throw new WireError(`unsupported wire type ${wire} (field ${no}) at byte ${fieldStart}`);
    }
    if (pos > end) throw new WireError(`field ${no} at byte ${fieldStart} runs past the end of its message`);
    fields.push({ no, wire, start: fieldStart, end: pos, dataStart, dataEnd: pos });
  }
  return fields;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Enc = new TextEncoder();

export function fieldString(buf: Uint8Array, f: Field): string {
  return utf8.decode(buf.subarray(f.dataStart, f.dataEnd));
}

export function fieldBytes(buf: Uint8Array, f: Field): Uint8Array {
  return buf.subarray(f.dataStart, f.dataEnd);
}

/** Signed 64-bit integer value of a varint field, as a JS number (ONNX ints stay far below 2^53). */
export function fieldInt(buf: Uint8Array, f: Field): number {
  if (f.wire !== Wire.Varint) throw new WireError(`field ${f.no} is not a varint`);
  return Number(BigInt.asIntN(64, readVarint(buf, f.dataStart)[0]));
}

export function fieldFloat(buf: Uint8Array, f: Field): number {
  if (f.wire !== Wire.I32) throw new WireError(`field ${f.no} is not a 32-bit float`);
  return new DataView(buf.buffer, buf.byteOffset + f.dataStart, 4).getFloat32(0, true);
}

/** Repeated int64: accepts both packed (Len) and unpacked (Varint) encodings. */
export function repeatedInts(buf: Uint8Array, fields: Field[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === Wire.Varint) out.push(fieldInt(buf, f));
    else if (f.wire === Wire.Len) {
      let pos = f.dataStart;
      while (pos < f.dataEnd) {
        const [v, next] = readVarint(buf, pos);
        out.push(Number(BigInt.asIntN(64, v)));
        pos = next;
      }
    }
  }
  return out;
}

/** Repeated float: packed or unpacked. */
export function repeatedFloats(buf: Uint8Array, fields: Field[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === Wire.I32) out.push(fieldFloat(buf, f));
    else if (f.wire === Wire.Len) {
      const view = new DataView(buf.buffer, buf.byteOffset + f.dataStart, f.dataEnd - f.dataStart);
      for (let o = 0; o + 4 <= view.byteLength; o += 4) out.push(view.getFloat32(o, true));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing: a message is a list of byte chunks plus its total size, so large slices of the source
// file (weights) are referenced, not copied, until the final concatenation.

export class Msg {
  readonly parts: Uint8Array[] = [];
  size = 0;

  raw(bytes: Uint8Array): this {
    if (bytes.length > 0) {
      this.parts.push(bytes);
      this.size += bytes.length;
    }
    return this;
  }

  private varint(v: number | bigint): this {
    let n = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (n >= 0x80n) {
      out.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    out.push(Number(n));
    return this.raw(Uint8Array.from(out));
  }

  private tag(no: number, wire: Wire): this {
    return this.varint(no * 8 + wire);
  }

  int(no: number, v: number | bigint): this {
    return this.tag(no, Wire.Varint).varint(v);
  }

  float(no: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.tag(no, Wire.I32).raw(b);
  }

  bytes(no: number, b: Uint8Array): this {
    this.tag(no, Wire.Len).varint(b.length);
    // Keep an empty payload explicit: the tag + zero length is already written.
    return this.raw(b);
  }

  string(no: number, s: string): this {
    return this.bytes(no, utf8Enc.encode(s));
  }

  message(no: number, m: Msg): this {
    this.tag(no, Wire.Len).varint(m.size);
    for (const p of m.parts) this.raw(p);
    return this;
  }

  /** Copy an existing field (tag + payload) unchanged. */
  field(buf: Uint8Array, f: Field): this {
    return this.raw(buf.subarray(f.start, f.end));
  }

  finish(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/**
 * Re-emit a message field by field: `edit` may return a replacement (a Msg with whole fields),
 * null to drop the field, or undefined to keep its original bytes. Field order is preserved.
 */
export function rewrite(
  buf: Uint8Array,
  fields: Field[],
  edit: (f: Field) => Msg | null | undefined,
): Msg {
  const out = new Msg();
  for (const f of fields) {
    const r = edit(f);
    if (r === undefined) out.field(buf, f);
    else if (r !== null) for (const p of r.parts) out.raw(p);
  }
  return out;
}
