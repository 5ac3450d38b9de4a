// PyTorch's torch.save format (since 1.6): a ZIP archive `<name>/data.pkl` (a pickle whose
// tensors refer to storages by persistent id), `<name>/data/<key>` (raw little-endian storage
// bytes), `<name>/version` and `<name>/byteorder`.
//
// Reading never executes the pickle: a small interpreter runs the opcodes that tensor files use
// and resolves only a fixed allowlist of globals (_rebuild_tensor_v2, _rebuild_parameter,
// OrderedDict, typed storages). Any other global (os.system, numpy, a custom class) is refused
// with an error naming it, so a hostile .pt file cannot run code here. Nor can it make us allocate
// what it does not hold: every tensor's size, stride and offset are checked against its storage, and
// the elements materialised from one file are capped, before any tensor memory is allocated (a
// 744-byte file can describe a 3e8-element view of one stored float: stride 0).

import { readFileSync } from 'node:fs';
import { halfBitsToFloat } from './fp16.js';
import { writeFileAtomic } from './atomic.js';
import { decodeZip, encodeZip } from './zip.js';

export class TorchFileError extends Error {}

/**
 * Elements one file may materialise, over all its tensors (2^27 = 512 MiB as float32): far above
 * any persona-vector file ([L+1, H] is 81 x 8192 = 663,552 for a 80-layer model), far below what
 * would exhaust memory.
 */
export const MAX_TORCH_ELEMENTS = 2 ** 27;

export interface TorchTensor {
  kind: 'tensor';
  shape: number[];
  /** Contiguous row-major values, converted to float32. */
  data: Float32Array;
  /** The storage dtype in the file ('float32', 'float16', 'bfloat16', 'float64'). */
  dtype: string;
}

export type TorchValue = TorchTensor | TorchValue[] | { [key: string]: TorchValue } | string | number | boolean | null;

const STORAGES: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
};

// ---------------------------------------------------------------- writing

/** torch.save(tensor) of one float32 tensor, loadable by torch.load (weights_only too). */
export function encodeTorchTensor(data: Float32Array, shape: number[], archive = 'archive'): Uint8Array[] {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new TorchFileError(`tensor shape [${shape}] has ${n} elements but data has ${data.length}`);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const pkl = new PickleWriter();
  pkl.proto(2);
  pkl.global('torch._utils', '_rebuild_tensor_v2');
  pkl.mark();
  pkl.mark();
  pkl.str('storage');
  pkl.global('torch', 'FloatStorage');
  pkl.str('0');
  pkl.str('cpu');
  pkl.int(n);
  pkl.op(0x74); // TUPLE
  pkl.op(0x51); // BINPERSID
  pkl.int(0); // storage offset
  pkl.tuple(shape);
  pkl.tuple(strides);
  pkl.op(0x89); // NEWFALSE: requires_grad
  pkl.global('collections', 'OrderedDict');
  pkl.op(0x29); // EMPTY_TUPLE
  pkl.op(0x52); // REDUCE -> OrderedDict()
  pkl.op(0x74); // TUPLE (closes the outer mark)
  pkl.op(0x52); // REDUCE -> _rebuild_tensor_v2(...)
  pkl.op(0x2e); // STOP
  const le = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return encodeZip([
    { name: `${archive}/data.pkl`, data: pkl.bytes() },
    { name: `${archive}/byteorder`, data: Buffer.from('little') },
    { name: `${archive}/data/0`, data: Uint8Array.from(le) },
    { name: `${archive}/version`, data: Buffer.from('3\n') },
  ]);
}

export function writeTorchTensor(path: string, data: Float32Array, shape: number[]): void {
  writeFileAtomic(path, encodeTorchTensor(data, shape));
}

class PickleWriter {
  private parts: number[] = [];
  op(b: number) {
    this.parts.push(b);
  }
  proto(v: number) {
    this.parts.push(0x80, v);
  }
  mark() {
    this.parts.push(0x28);
  }
  global(module: string, name: string) {
    this.parts.push(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(0x58, ...len, ...b);
  }
  int(v: number) {
    if (v >= 0 && v < 256) this.parts.push(0x4b, v);
    else if (v >= 0 && v < 65536) this.parts.push(0x4d, v & 0xff, v >> 8);
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      this.parts.push(0x4a, ...b);
    } else {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(v));
      this.parts.push(0x8a, 8, ...b); // LONG1
    }
  }
  tuple(xs: number[]) {
    this.mark();
    for (const x of xs) this.int(x);
    this.op(0x74);
  }
  bytes() {
    return Uint8Array.from(this.parts);
  }
}

// ---------------------------------------------------------------- reading

interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: string;
  bytes: number;
  /** Element count the persistent id declares. */
  numel: number;
}
/** _rebuild_tensor_v2's arguments, checked and materialised once the tensor's path is known. */
interface PendingTensor {
  kind: 'pending';
  storage: StorageRef;
  offset: number;
  shape: number[];
  strides: number[];
}
interface Global {
  kind: 'global';
  name: string;
}
const MARK = Symbol('mark');
type Item = TorchValue | StorageRef | PendingTensor | Global | typeof MARK | Item[] | { tuple: Item[] } | undefined;

export function decodeTorchFile(bytes: Uint8Array, source = '<torch file>', maxElements = MAX_TORCH_ELEMENTS): TorchValue {
  if (bytes.length >= 2 && bytes[0] === 0x80) {
    throw new TorchFileError(`${source}: a legacy (pre-1.6, non-zip) torch file; re-save it with a current torch.save`);
  }
  const entries = decodeZip(bytes, source);
  const pklName = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pklName) throw new TorchFileError(`${source}: no <archive>/data.pkl entry; not a torch.save file`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && Buffer.from(order).toString() !== 'little') throw new TorchFileError(`${source}: byteorder '${Buffer.from(order).toString()}' is not supported (little-endian only)`);
  const storageBytes = (ref: StorageRef) => {
    const b = entries.get(`${prefix}data/${ref.key}`);
    if (!b) throw new TorchFileError(`${source}: storage '${ref.key}' referenced by the pickle is missing (${prefix}data/${ref.key})`);
    return b;
  };
  return new Unpickler(entries.get(pklName)!, `${source}: ${pklName}`, storageBytes, maxElements).run();
}

export function readTorchFile(path: string): TorchValue {
  return decodeTorchFile(readFileSync(path), path);
}

const ALLOWED = new Set([
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'collections.OrderedDict',
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

class Unpickler {
  private pos = 0;
  private stack: Item[] = [];
  private memo = new Map<number, Item>();
  /** Elements materialised so far, against maxElements. */
  private elements = 0;
  constructor(
    private readonly b: Uint8Array,
    private readonly where: string,
    private readonly storageBytes: (ref: StorageRef) => Uint8Array,
    private readonly maxElements: number,
  ) {}

  private fail(msg: string): never {
    throw new TorchFileError(`${this.where}: ${msg}`);
  }
  private u8() {
    if (this.pos >= this.b.length) this.fail('pickle ends before STOP');
    return this.b[this.pos++]!;
  }
  private take(n: number) {
    if (this.pos + n > this.b.length) this.fail('pickle ends before STOP');
    const s = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  private view(n: number) {
    const s = this.take(n);
    return new DataView(s.buffer, s.byteOffset, s.byteLength);
  }
  private line() {
    const end = this.b.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('unterminated text line');
    const s = Buffer.from(this.b.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return s;
  }
  private popMark(): Item[] {
    const i = this.stack.lastIndexOf(MARK);
    if (i < 0) this.fail('MARK expected on the stack');
    const items = this.stack.slice(i + 1);
    this.stack.length = i;
    return items;
  }
  private pop(): Item {
    if (!this.stack.length) this.fail('stack underflow');
    return this.stack.pop();
  }
  private global(module: string, name: string): Global {
    const full = `${module}.${name}`;
    if (!ALLOWED.has(full)) {
      this.fail(`refusing to load global '${full}': only tensor files are read (allowed: ${[...ALLOWED].join(', ')}); the pickle is never executed`);
    }
    return { kind: 'global', name: full };
  }

  run(): TorchValue {
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: this.u8(); break; // PROTO
        case 0x95: this.take(8); break; // FRAME
        case 0x2e: { // STOP
          const v = this.pop();
          return this.plain(v, '');
        }
        case 0x28: this.stack.push(MARK); break;
        case 0x4e: this.stack.push(null); break;
        case 0x88: this.stack.push(true); break;
        case 0x89: this.stack.push(false); break;
        case 0x4b: this.stack.push(this.u8()); break; // BININT1
        case 0x4d: this.stack.push(this.view(2).getUint16(0, true)); break; // BININT2
        case 0x4a: this.stack.push(this.view(4).getInt32(0, true)); break; // BININT
        case 0x8a: { // LONG1
          const n = this.u8();
          const s = this.take(n);
          let v = 0n;
          for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(s[i]!);
          if (n && s[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
          this.stack.push(Number(v));
          break;
        }
        case 0x47: this.stack.push(this.view(8).getFloat64(0, false)); break; // BINFLOAT
        case 0x58: this.stack.push(Buffer.from(this.take(this.view(4).getUint32(0, true))).toString('utf8')); break; // BINUNICODE
        case 0x8c: this.stack.push(Buffer.from(this.take(this.u8())).toString('utf8')); break; // SHORT_BINUNICODE
        case 0x55: this.stack.push(Buffer.from(this.take(this.u8())).toString('latin1')); break; // SHORT_BINSTRING
        case 0x54: this.stack.push(Buffer.from(this.take(this.view(4).getUint32(0, true))).toString('latin1')); break; // BINSTRING
        case 0x29: this.stack.push({ tuple: [] }); break; // EMPTY_TUPLE
        case 0x74: this.stack.push({ tuple: this.popMark() }); break; // TUPLE
        case 0x85: this.stack.push({ tuple: [this.pop()] }); break;
        case 0x86: { const b = this.pop(); const a = this.pop(); this.stack.push({ tuple: [a, b] }); break; }
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.stack.push({ tuple: [a, b, c] }); break; }
        case 0x5d: this.stack.push([]); break; // EMPTY_LIST
        case 0x61: { const v = this.pop(); (this.top('APPEND') as Item[]).push(v); break; }
        case 0x65: { const vs = this.popMark(); (this.top('APPENDS') as Item[]).push(...vs); break; }
        case 0x7d: this.stack.push(new Map<Item, Item>() as unknown as Item); break; // EMPTY_DICT
        case 0x73: { const v = this.pop(); const k = this.pop(); this.dict('SETITEM').set(k, v); break; }
        case 0x75: {
          const kv = this.popMark();
          const d = this.dict('SETITEMS');
          for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
          break;
        }
        case 0x71: this.memo.set(this.u8(), this.stack.at(-1)); break; // BINPUT
        case 0x72: this.memo.set(this.view(4).getUint32(0, true), this.stack.at(-1)); break; // LONG_BINPUT
        case 0x94: this.memo.set(this.memo.size, this.stack.at(-1)); break; // MEMOIZE
        case 0x68: this.stack.push(this.memoGet(this.u8())); break; // BINGET
        case 0x6a: this.stack.push(this.memoGet(this.view(4).getUint32(0, true))); break; // LONG_BINGET
        case 0x63: { const m = this.line(); const n = this.line(); this.stack.push(this.global(m, n)); break; } // GLOBAL
        case 0x93: { const n = this.pop(); const m = this.pop(); this.stack.push(this.global(String(m), String(n))); break; } // STACK_GLOBAL
        case 0x51: this.stack.push(this.persistent(this.pop())); break; // BINPERSID
        case 0x52: { const args = this.pop(); const fn = this.pop(); this.stack.push(this.reduce(fn, args)); break; } // REDUCE
        default:
          this.fail(`pickle opcode 0x${op.toString(16)} at byte ${this.pos - 1} is not one tensor files use; refusing to go on`);
      }
    }
  }

  private top(what: string): Item {
    const t = this.stack.at(-1);
    if (t === undefined) this.fail(`${what} on an empty stack`);
    return t;
  }
  private dict(what: string): Map<Item, Item> {
    const d = this.top(what);
    if (!(d instanceof Map)) this.fail(`${what} on something that is not a dict`);
    return d as Map<Item, Item>;
  }
  private memoGet(i: number): Item {
    if (!this.memo.has(i)) this.fail(`memo ${i} read before it was written`);
    return this.memo.get(i);
  }

  private persistent(pid: Item): StorageRef {
    const t = (pid as { tuple?: Item[] })?.tuple;
    if (!t || t[0] !== 'storage' || t.length < 5) this.fail('persistent id is not a (storage, type, key, location, numel) tuple');
    const type = t[1] as Global;
    const s = STORAGES[type?.name?.replace(/^torch\./, '') ?? ''];
    if (!s) this.fail(`storage type ${type?.name ?? String(type)} is not a floating-point storage`);
    const numel = t[4];
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) this.fail(`storage '${String(t[2])}' declares ${String(numel)} elements`);
    return { kind: 'storage', key: String(t[2]), dtype: s.dtype, bytes: s.bytes, numel };
  }

  private reduce(fn: Item, args: Item): Item {
    const name = (fn as Global)?.kind === 'global' ? (fn as Global).name : null;
    const a = (args as { tuple?: Item[] })?.tuple;
    if (!name || !a) this.fail('REDUCE on something that is not an allowed global with a tuple of arguments');
    if (name === 'collections.OrderedDict') {
      if (a.length) this.fail('OrderedDict with arguments');
      return new Map() as unknown as Item;
    }
    if (name === 'torch._utils._rebuild_parameter') return a[0];
    if (name === 'torch._utils._rebuild_tensor_v2') return this.pending(a);
    this.fail(`global ${name} cannot be called`);
  }

  private pending(a: Item[]): PendingTensor {
    const [storage, offset, size, stride] = a as [StorageRef, number, { tuple: number[] }, { tuple: number[] }];
    if (storage?.kind !== 'storage') this.fail('_rebuild_tensor_v2 without a storage');
    const shape = size?.tuple;
    const strides = stride?.tuple;
    if (!Array.isArray(shape) || !Array.isArray(strides) || shape.length !== strides.length || typeof offset !== 'number') {
      this.fail('_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, ...)');
    }
    return { kind: 'pending', storage, offset, shape, strides };
  }

  /** Checks a tensor against its storage and the element cap, then copies it out (row-major). */
  private tensor(p: PendingTensor, path: string): TorchTensor {
    const { storage, offset, shape, strides } = p;
    const bad = (msg: string): never => this.fail(`tensor ${path ? `'${path}'` : '(top level)'} ${msg}`);
    const desc = `(shape [${shape.join(', ')}], strides [${strides.join(', ')}], offset ${offset})`;
    const whole = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (!shape.every(whole) || !strides.every(whole) || !whole(offset)) bad(`has a size, stride or offset that is not a non-negative integer ${desc}`);
    const raw = this.storageBytes(storage);
    if (raw.length !== storage.numel * storage.bytes) {
      bad(`uses storage '${storage.key}', which declares ${storage.numel} ${storage.dtype} elements (${storage.numel * storage.bytes} bytes) but holds ${raw.length} bytes`);
    }
    const n = shape.reduce((x, y) => x * y, 1);
    // The farthest element the view reaches (sizes and strides are non-negative).
    const last = n === 0 ? -1 : shape.reduce((s, d, i) => s + (d - 1) * strides[i]!, offset);
    if (last >= storage.numel) bad(`reaches element ${last} of storage '${storage.key}', which has ${storage.numel} ${desc}`);
    if (n > this.maxElements - this.elements) {
      bad(`has ${n} elements ${desc}, over the ${this.maxElements} this reader materialises per file${this.elements ? ` (${this.elements} already read)` : ''}; its storage holds ${storage.numel}`);
    }
    this.elements += n;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const at = (i: number): number => {
      switch (storage.dtype) {
        case 'float32': return dv.getFloat32(i * 4, true);
        case 'float64': return dv.getFloat64(i * 8, true);
        case 'float16': return halfBitsToFloat(dv.getUint16(i * 2, true));
        default: return new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!; // bfloat16
      }
    };
    const data = new Float32Array(n);
    // Walk the index space in row-major order, following the file's strides (views such as a
    // transpose are saved with their whole storage and non-contiguous strides).
    const idx = new Array<number>(shape.length).fill(0);
    for (let k = 0; k < n; k++) {
      let off = offset;
      for (let d = 0; d < shape.length; d++) off += idx[d]! * strides[d]!;
      data[k] = at(off);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) break;
        idx[d] = 0;
      }
    }
    return { kind: 'tensor', shape: [...shape], data, dtype: storage.dtype };
  }

  /** Converts interpreter items (tuples, Maps) into plain values. */
  private plain(v: Item, path: string): TorchValue {
    if (v === MARK || v === undefined) this.fail('malformed pickle result');
    const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
    if (v instanceof Map) {
      const o: Record<string, TorchValue> = {};
      for (const [k, x] of v) {
        const key = String(this.plain(k, path));
        o[key] = this.plain(x, at(key));
      }
      return o;
    }
    if (Array.isArray(v)) return v.map((x, i) => this.plain(x, at(i)));
    if (v && typeof v === 'object') {
      if ('tuple' in v) return (v.tuple as Item[]).map((x, i) => this.plain(x, at(i)));
      if ((v as PendingTensor).kind === 'pending') return this.tensor(v as PendingTensor, path);
      if ((v as StorageRef).kind === 'storage') this.fail('a bare storage (not wrapped in a tensor) is not supported');
      if ((v as Global).kind === 'global') this.fail(`a bare reference to ${(v as Global).name}`);
      return v as TorchValue;
    }
    return v as TorchValue;
  }
}

