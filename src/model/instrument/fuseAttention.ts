// Reading variants run each attention block as one ONNX Runtime GroupQueryAttention node. An
// Optimum / torch export spells attention out as ~30 nodes per layer (heads split and transposed,
// rotate_half RoPE, repeat_kv by Unsqueeze+Expand+Reshape, scores, mask, softmax, heads merged);
// ORT's CPU optimizer fuses none of it, and on a SmolLM2-shaped model those element-wise passes
// were 12% of an extraction batch. The fused kernel takes the projections as they come out of
// their MatMuls ([batch, seq, heads * head_dim]), applies RoPE and grouped heads itself, and
// writes the merged context, so everything between the q/k/v projections and o_proj goes.
//
// What the kernel is given, so that it computes what the graph did:
//   cos/sin caches   the graph's own table nodes, cloned to run on positions 0..seq-1 (its
//                    position-id input replaced), first half of the last axis: the kernel's
//                    prompt path rotates token t by cache row t, whatever position_ids says (we
//                    measured it taking batch row 0's positions for every row). Rotary attention
//                    depends on position differences only, and pads are masked, so a left-padded
//                    row's tokens, all shifted by its pad count, attend as with the graph's ids
//   attention_bias   the graph's mask: its additive mask as is, or Where(mask, 0, min) for a
//                    boolean one; causal and padding both live in it
//   seqlens_k        seq - 1 for every row, total_sequence_length seq (no past: reading only)
// Head sizes not a multiple of 16 (persona-tiny's 40) the kernel refuses to rotate itself: there
// q and k are rotated by RotaryEmbedding nodes on the projections and GroupQueryAttention runs
// without rotary (8x64 persona-tiny reading, paired: 0.98 of the time with attention spelt out). Where a
// block cannot be fused at all (soft-capped scores, other score paths) but its RoPE matches, each
// rotation becomes one RotaryEmbedding node on the projection, before its heads are split out.
// That kernel honours per-row positions, so it is fed the graph's tables as they are, one cache
// row per (batch row, position).
// The kernels round differently (fused multiply-adds), so hidden states match the unfused graph
// to ~1e-6 relative, not bit for bit; rows fully masked (pad queries) differ, as nothing reads
// them. Only blocks matching the pattern exactly are fused; the reader also checks a fused variant
// numerically against the whole graph before using it (model/reader.ts).

import { floatTensor, int64Tensor, node } from '../../onnx/build.js';
import type { GraphView, NodeView } from '../../onnx/read.js';
import { DType } from '../../onnx/schema.js';
import type { Msg } from '../../onnx/wire.js';
import { halfBitsToFloat } from '../../io/fp16.js';
import { renamedNode } from './edit.js';
import { GraphIndex } from './graphIndex.js';

export interface AttentionHeads {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

export interface AttentionFusion {
  /** Node index -> the nodes emitted in its place (the node itself is dropped). */
  replace: Map<number, Msg[]>;
  /** Node index -> the tensors its replacement reads from the rest of the graph. */
  reads: Map<number, string[]>;
  /** Node index -> the tensors its replacement writes. */
  writes: Map<number, string[]>;
  /** Attention blocks run as GroupQueryAttention. */
  blocks: number;
  /** RoPE rotations run as RotaryEmbedding (where the block around them is not fused). */
  ropes: number;
}

/** One attention block as the fused node needs it. */
interface Block {
  q: string;
  k: string;
  v: string;
  cos: string;
  sin: string;
  mask: { bool: boolean; name: string };
  scale: number;
  /** The merged-heads output ([batch, seq, heads * head_dim]) and the Reshape writing it. */
  out: string;
  outNode: NodeView;
  /** The RoPE Add nodes of q and k (left to the block, not fused on their own). */
  qAdd: number;
  kAdd: number;
}

const sameInts = (a: number[] | undefined, b: number[]) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);

/** The value of a one-element constant (initializer or Constant node), else undefined. */
function constScalar(gi: GraphIndex, name: string): number | undefined {
  const p = gi.producer.get(name)?.node;
  const t = gi.initializers.get(name) ?? (p?.opType === 'Constant' ? p.attrs.get('value')?.t : undefined);
  if (!t) return p?.opType === 'Constant' ? p.attrs.get('value_float')?.f : undefined;
  if (t.dims.reduce((a, b) => a * b, 1) !== 1) return undefined;
  if (t.values?.length === 1) return t.values[0];
  const r = t.raw;
  if (!r) return undefined;
  const dv = new DataView(r.buffer, r.byteOffset, r.byteLength);
  switch (t.dataType) {
    case DType.FLOAT:
      return dv.getFloat32(0, true);
    case DType.FLOAT16:
      return halfBitsToFloat(dv.getUint16(0, true));
    case DType.DOUBLE:
      return dv.getFloat64(0, true);
    case DType.INT64:
      return Number(dv.getBigInt64(0, true));
    case DType.INT32:
      return dv.getInt32(0, true);
    default:
      return undefined;
  }
}

class Matcher {
  constructor(readonly gi: GraphIndex) {}

  prod(name: string | undefined, op: string): NodeView | undefined {
    const n = name ? this.gi.producer.get(name)?.node : undefined;
    return n && n.opType === op && n.domain === '' ? n : undefined;
  }

  only(name: string, op: string): NodeView | undefined {
    const c = this.gi.consumers.get(name) ?? [];
    return c.length === 1 && c[0]!.node.opType === op ? c[0]!.node : undefined;
  }

  /** Transpose(Reshape(proj)) to [batch, heads, seq, dim]: the projection. */
  heads(t: string): string | undefined {
    return this.splitHeads(t)?.proj;
  }

  /** The projection and the Reshape target splitting its heads out, when `t` = Transpose(Reshape(proj)). */
  splitHeads(t: string): { proj: string; shape: string } | undefined {
    const tr = this.prod(t, 'Transpose');
    if (!tr || !sameInts(tr.attrs.get('perm')?.ints, [0, 2, 1, 3])) return undefined;
    const r = this.prod(tr.inputs[0], 'Reshape');
    return r && { proj: r.inputs[0]!, shape: r.inputs[1]! };
  }

  /** repeat_kv (Unsqueeze, Expand, Reshape) undone, when present. */
  unrepeat(t: string): string {
    const u = this.prod(this.prod(this.prod(t, 'Reshape')?.inputs[0], 'Expand')?.inputs[0], 'Unsqueeze');
    return u ? u.inputs[0]! : t;
  }

  /** Concat(past, new) on the sequence axis undone: a reading variant's past is always empty. */
  unpast(t: string): string {
    const c = this.prod(t, 'Concat');
    const axis = c?.attrs.get('axis')?.i;
    if (!c || c.inputs.length !== 2 || (axis !== 2 && axis !== -2) || !this.gi.inputNames.has(c.inputs[0]!)) return t;
    return c.inputs[1]!;
  }

  /** HF rotate_half RoPE, x * cos + cat(-x2, x1) * sin: its input and tables. */
  rope(t: string): { x: string; cos: string; sin: string; add: number } | undefined {
    const add = this.prod(t, 'Add');
    if (!add) return undefined;
    for (const [i, j] of [[0, 1], [1, 0]] as const) {
      const rotMul = this.prod(add.inputs[i], 'Mul');
      const xMul = this.prod(add.inputs[j], 'Mul');
      if (!rotMul || !xMul) continue;
      for (const r of [0, 1]) {
        const cat = this.prod(rotMul.inputs[r], 'Concat');
        const axis = cat?.attrs.get('axis')?.i;
        if (!cat || cat.inputs.length !== 2 || (axis !== -1 && axis !== 3)) continue;
        const neg = this.prod(cat.inputs[0], 'Neg');
        const half2 = neg && this.half(neg.inputs[0]!);
        const half1 = this.half(cat.inputs[1]!);
        if (!half1 || !half2 || half1.x !== half2.x || half1.first !== true || half2.first !== false) continue;
        const x = half1.x;
        const c = xMul.inputs[0] === x ? xMul.inputs[1] : xMul.inputs[1] === x ? xMul.inputs[0] : undefined;
        if (c) return { x, cos: c, sin: rotMul.inputs[1 - r]!, add: add.index };
      }
    }
    return undefined;
  }

  /** A half of x's last axis taken by Split (output 0 / 1) or Slice (starts 0 / not 0). */
  half(t: string): { x: string; first: boolean } | undefined {
    const p = this.gi.producer.get(t);
    if (!p || p.node.domain !== '') return undefined;
    const n = p.node;
    const axis = n.attrs.get('axis')?.i;
    if (n.opType === 'Split' && n.outputs.length === 2 && (axis === -1 || axis === 3)) return { x: n.inputs[0]!, first: p.index === 0 };
    if (n.opType !== 'Slice') return undefined;
    // Slice(x, starts, ends, axes): axes must say the last one; starts may be computed (d / 2).
    const ax = n.inputs[3] ? constScalar(this.gi, n.inputs[3]) : undefined;
    if (ax !== -1 && ax !== 3) return undefined;
    return { x: n.inputs[0]!, first: constScalar(this.gi, n.inputs[1]!) === 0 };
  }

  /** scores * c, scores / c or bare scores: the QK MatMul and the scale. */
  scaled(t: string): { mm: NodeView; scale: number } | undefined {
    const mm = this.prod(t, 'MatMul');
    if (mm) return { mm, scale: 1 };
    const mul = this.prod(t, 'Mul');
    if (mul)
      for (const i of [0, 1]) {
        const c = constScalar(this.gi, mul.inputs[1 - i]!);
        const m = this.prod(mul.inputs[i], 'MatMul');
        if (c !== undefined && m) return { mm: m, scale: c };
      }
    const div = this.prod(t, 'Div');
    const c = div && constScalar(this.gi, div.inputs[1]!);
    const m = div && this.prod(div.inputs[0], 'MatMul');
    return c && m ? { mm: m, scale: 1 / c } : undefined;
  }

  block(sm: NodeView): Block | undefined {
    const axis = sm.attrs.get('axis')?.i;
    if (axis !== -1 && axis !== 3) return undefined;
    const w = this.prod(sm.inputs[0], 'Where');
    const a = this.prod(sm.inputs[0], 'Add');
    let s: { mm: NodeView; scale: number } | undefined;
    let mask: Block['mask'] | undefined;
    if (w) {
      const fill = constScalar(this.gi, w.inputs[2]!);
      if (fill === undefined || fill > -1e30) return undefined;
      s = this.scaled(w.inputs[1]!);
      mask = { bool: true, name: w.inputs[0]! };
    } else if (a)
      for (const i of [0, 1]) {
        s = this.scaled(a.inputs[i]!);
        if (s) {
          mask = { bool: false, name: a.inputs[1 - i]! };
          break;
        }
      }
    if (!s || !mask) return undefined;
    const kT = this.prod(s.mm.inputs[1], 'Transpose');
    if (!kT || !sameInts(kT.attrs.get('perm')?.ints, [0, 1, 3, 2])) return undefined;
    const qr = this.rope(s.mm.inputs[0]!);
    const kr = this.rope(this.unpast(this.unrepeat(kT.inputs[0]!)));
    if (!qr || !kr || qr.cos !== kr.cos || qr.sin !== kr.sin) return undefined;
    const q = this.heads(qr.x);
    const k = this.heads(kr.x);
    const av = this.only(sm.outputs[0]!, 'MatMul');
    if (!q || !k || !av || av.inputs[0] !== sm.outputs[0]) return undefined;
    const v = this.heads(this.unpast(this.unrepeat(av.inputs[1]!)));
    const back = this.only(av.outputs[0]!, 'Transpose');
    if (!v || !back || !sameInts(back.attrs.get('perm')?.ints, [0, 2, 1, 3])) return undefined;
    const merged = this.only(back.outputs[0]!, 'Reshape');
    if (!merged) return undefined;
    return { q, k, v, cos: qr.cos, sin: qr.sin, mask, scale: s.scale, out: merged.outputs[0]!, outNode: merged, qAdd: qr.add, kAdd: kr.add };
  }
}

const int64s = (vals: number[], scalar = false) => int64Tensor('', scalar ? [] : [vals.length], vals);
const float32 = (v: number) => floatTensor('', [], Float32Array.of(v));
const P = 'persona/fused';

/**
 * The nodes replacing one node of the graph, and what they read from and write to the rest.
 * Tensors several replacements need (shapes, caches, biases) are made once, by the first
 * replacement in graph order, and read by the later ones.
 */
class Unit {
  readonly out: Msg[] = [];
  readonly reads = new Set<string>();
  readonly writes = new Set<string>();
  constructor(readonly made: Map<string, string>) {}

  read(x: string): void {
    if (x && !this.writes.has(x)) this.reads.add(x);
  }

  emit(op: string, inputs: string[], name: string, attrs?: Parameters<typeof node>[0]['attrs'], domain?: string, extra: string[] = []): string {
    for (const x of inputs) this.read(x);
    for (const o of [name, ...extra]) this.writes.add(o);
    this.out.push(node({ op, inputs, outputs: [name, ...extra], name, attrs, domain }));
    return name;
  }

  /** A copy of node `n` on other inputs, outputs prefixed. */
  clone(buf: Uint8Array, n: NodeView, inputs: string[], prefix: string): void {
    for (const x of inputs) this.read(x);
    const outs = n.outputs.map((o) => (o ? `${prefix}/${o}` : o));
    for (const o of outs) if (o) this.writes.add(o);
    this.out.push(renamedNode(buf, n, inputs, outs, `${prefix}/${n.name}`));
  }

  shared(key: string, make: () => string): string {
    const have = this.made.get(key);
    if (have !== undefined) {
      this.read(have);
      return have;
    }
    const name = make();
    this.made.set(key, name);
    return name;
  }

  /** A constant by name: one name, one value (i<n>: [n], k<n>: scalar n, ...). */
  const(name: string, t: Msg): string {
    return this.shared(`const:${name}`, () => this.emit('Constant', [], `${P}/${name}`, { value: { tensor: t } }));
  }

  /** dims[from:to] of `shape` (a Shape output), as a 1-D int64 tensor. */
  dims(shape: string, from: number, to: number): string {
    return this.shared(`${shape}[${from}:${to}]`, () => this.emit('Slice', [shape, this.const(`i${from}`, int64s([from])), this.const(`i${to}`, int64s([to]))], `${shape}[${from}:${to}]`));
  }

  /** Element `i` of `shape`, a scalar. */
  dim(shape: string, i: number): string {
    return this.shared(`${shape}[${i}]`, () => this.emit('Gather', [shape, this.const(`k${i}`, int64s([i], true))], `${shape}[${i}]`, { axis: 0 }));
  }

  /** Scalar `x` as a 1-element vector. */
  vector(x: string): string {
    return this.shared(`1d:${x}`, () => this.emit('Unsqueeze', [x, this.const('axis0', int64s([0]))], `${x}/1d`));
  }

  /** `table` ([..., seq, head_dim], broadcastable to [batch, 1, seq, head_dim]) as [batch, 1, seq, head_dim], half its last axis, rows (batch, position). */
  cacheRows(table: string, batch: string, seq: string, headDim: number): string {
    return this.shared(`rows:${table}`, () => {
      const shape = this.shared(`tableShape:${batch}:${seq}`, () =>
        this.emit('Concat', [this.vector(batch), this.const('one1d', int64s([1])), this.vector(seq), this.const(`d${headDim}`, int64s([headDim]))], `${P}/table_shape/${batch}/${seq}`, { axis: 0 }),
      );
      const full = this.emit('Expand', [table, shape], `${P}/${table}/expanded`);
      const half = this.emit('Slice', [full, this.const('i0', int64s([0])), this.const(`h${headDim / 2}`, int64s([headDim / 2])), this.const('last', int64s([-1]))], `${P}/${table}/half`);
      return this.emit('Reshape', [half, this.const(`rows${headDim / 2}`, int64s([-1, headDim / 2]))], `${P}/${table}/rows`);
    });
  }
}

/** The RoPE tables' nodes: computed from one integer graph input alone (the position ids). */
interface Tables {
  positions: { name: string; type: number };
  /** Table tensors that depend on the positions (the rest, e.g. inv_freq, are shared as they are). */
  dependent: Set<string>;
}

function ropeTables(g: GraphView, gi: GraphIndex, tensors: string[]): Tables | null {
  const ups = [...new Set(tensors)].map((t) => gi.upstream(t, 10_000));
  if (ups.some((u) => u === null)) return null;
  const nodes = new Set(ups.flat() as NodeView[]);
  const inputs = new Set([...nodes].flatMap((n) => n.inputs.filter((x) => gi.inputNames.has(x))));
  const positions = g.inputs.find((i) => inputs.has(i.name));
  if (inputs.size !== 1 || !positions || (positions.elemType !== DType.INT64 && positions.elemType !== DType.INT32)) return null;
  const dependent = new Set([...nodes].filter((n) => n.outputs.some((o) => o && gi.dependsOn(o, positions.name))).flatMap((n) => n.outputs));
  return { positions: { name: positions.name, type: positions.elemType }, dependent };
}

/**
 * The attention blocks of `g` that can run as GroupQueryAttention, and where that is not possible
 * (head sizes the kernel refuses, other score paths), the RoPE rotations as RotaryEmbedding nodes,
 * as node replacements for truncate.ts's pruning (which then drops the unfused nodes nothing reads
 * any more). Null when nothing matches. Float32 graphs only: float16 exports cast around the
 * softmax, which is not matched.
 */
export function fuseAttention(g: GraphView, heads: AttentionHeads): AttentionFusion | null {
  const { numHeads, numKvHeads, headDim } = heads;
  if (headDim % 2 !== 0 || numHeads % numKvHeads !== 0) return null;
  const gi = new GraphIndex(g);
  const m = new Matcher(gi);
  // ORT's CPU GroupQueryAttention rotates only head sizes that are a multiple of 16 ("head_size shall
  // be a multiple of 16"); others are rotated before it (see the file comment).
  const kernelRotates = headDim % 16 === 0;
  const blocks = g.nodes.filter((n) => n.opType === 'Softmax' && n.domain === '').map((n) => m.block(n)).filter((b): b is Block => !!b);
  const inBlocks = new Set(blocks.flatMap((b) => [b.qAdd, b.kAdd]));
  const ropes = g.nodes
    .filter((n) => n.opType === 'Add' && n.domain === '' && !inBlocks.has(n.index))
    .map((n) => ({ node: n, rope: m.rope(n.outputs[0]!) }))
    .filter((r): r is { node: NodeView; rope: NonNullable<ReturnType<Matcher['rope']>> } => !!r.rope);
  if (!blocks.length && !ropes.length) return null;
  const tables = ropeTables(g, gi, [...blocks.flatMap((b) => [b.cos, b.sin]), ...ropes.flatMap((r) => [r.rope.cos, r.rope.sin])]);
  if (!tables) return null;
  const made = new Map<string, string>();
  const fusion: AttentionFusion = { replace: new Map(), reads: new Map(), writes: new Map(), blocks: blocks.length, ropes: ropes.length };
  const units: { index: number; build: (u: Unit) => void }[] = [];

  // Positions 0..seq-1 in every row, in the position input's type, and the table nodes again on
  // them (each cloned once, shared by cos and sin): GroupQueryAttention's prompt path rotates
  // token t by cache row t (see the file comment).
  const linear = (u: Unit, shape: string): string =>
    u.shared('linear', () => {
      const r = u.emit('Range', [u.const('zero', int64s([0], true)), u.dim(shape, 1), u.const('step', int64s([1], true))], `${P}/range`);
      const rows = u.emit('Expand', [u.emit('Unsqueeze', [r, u.const('axis0', int64s([0]))], `${P}/range.row`), u.dims(shape, 0, 2)], `${P}/positions`);
      return tables.positions.type === DType.INT64 ? rows : u.emit('Cast', [rows], `${P}/positions.cast`, { to: tables.positions.type });
    });
  const onLinear = (u: Unit, shape: string, t: string): string => {
    if (t === tables.positions.name) return linear(u, shape);
    if (!tables.dependent.has(t)) return t;
    const n = gi.producer.get(t)!.node;
    const again = `${P}/lin/${t}`;
    if (u.made.has(`lin:${n.index}`)) u.read(again);
    else {
      u.clone(g.buf, n, n.inputs.map((x) => (x ? onLinear(u, shape, x) : x)), `${P}/lin`);
      u.made.set(`lin:${n.index}`, again);
    }
    return again;
  };

  // RotaryEmbedding takes per-row positions: the graph's tables, one cache row per (batch row,
  // position), indexed by position ids 0..batch*seq-1. `input` is [batch, seq, heads * dim]
  // (seqAxis 1) or [batch, heads, seq, dim] (2); every rotation has the same batch and seq, so the
  // first one's serve all.
  const rotate = (u: Unit, input: string, seqAxis: 1 | 2, cos: string, sin: string, out: string): string => {
    const shape = () => u.shared(`shape:${input}`, () => u.emit('Shape', [input], `${P}/${input}/shape`));
    const batch = u.shared('ropeBatch', () => u.dim(shape(), 0));
    const seq = u.shared('ropeSeq', () => u.dim(shape(), seqAxis));
    const ids = u.shared('rowIds', () => {
      const bs = u.emit('Concat', [u.vector(batch), u.vector(seq)], `${P}/batch,seq`, { axis: 0 });
      const n = u.emit('Mul', [batch, seq], `${P}/batch*seq`);
      return u.emit('Reshape', [u.emit('Range', [u.const('zero', int64s([0], true)), n, u.const('step', int64s([1], true))], `${P}/range.rows`), bs], `${P}/row_ids`);
    });
    return u.emit('RotaryEmbedding', [input, ids, u.cacheRows(cos, batch, seq, headDim), u.cacheRows(sin, batch, seq, headDim)], out, { interleaved: 0 }, 'com.microsoft');
  };
  blocks.forEach((b, i) =>
    units.push({
      index: b.outNode.index,
      build: (u) => {
        const shape = u.shared('qShape', () => u.emit('Shape', [b.q], `${P}/q.shape`)); // [batch, seq, heads * dim]
        const seq = u.dim(shape, 1);
        const total = u.shared('total', () => u.emit('Cast', [seq], `${P}/total`, { to: DType.INT32 }));
        const seqlens = u.shared('seqlens', () => u.emit('Expand', [u.emit('Cast', [u.emit('Sub', [seq, u.const('one', int64s([1], true))], `${P}/seq-1`)], `${P}/seq-1.i32`, { to: DType.INT32 }), u.dims(shape, 0, 1)], `${P}/seqlens_k`));
        const row0 = (t: string) =>
          u.shared(`cache:${t}`, () => {
            const rows = u.cacheRows(onLinear(u, shape, t), u.dim(shape, 0), seq, headDim);
            return u.emit('Slice', [rows, u.const('i0', int64s([0])), u.dims(shape, 1, 2)], `${P}/${t}/cache`); // batch row 0: positions 0..seq-1
          });
        const bias = b.mask.bool
          ? u.shared(`bias:${b.mask.name}`, () => u.emit('Where', [b.mask.name, u.const('f0', float32(0)), u.const('fmin', float32(-3.4028234663852886e38))], `${P}/${b.mask.name}/bias`))
          : b.mask.name;
        const [q, k, cos, sin] = kernelRotates
          ? [b.q, b.k, row0(b.cos), row0(b.sin)]
          : [rotate(u, b.q, 1, b.cos, b.sin, `${P}/${i}/q.rotated`), rotate(u, b.k, 1, b.cos, b.sin, `${P}/${i}/k.rotated`), '', ''];
        u.emit('GroupQueryAttention', [q, k, b.v, '', '', seqlens, total, cos, sin, '', bias], b.out, {
          num_heads: numHeads,
          kv_num_heads: numKvHeads,
          scale: { float: b.scale },
          do_rotary: kernelRotates ? 1 : 0,
          rotary_interleaved: 0,
        }, 'com.microsoft', [`${P}/${i}/present_key`, `${P}/${i}/present_value`]);
      },
    }),
  );
  ropes.forEach(({ node: add, rope }) =>
    units.push({
      index: add.index,
      build: (u) => {
        // Rotate [batch, seq, heads * dim] before its heads are split out where the graph splits them
        // right before (then the Transpose feeds the attention MatMul and ORT folds it in); else the
        // [batch, heads, seq, dim] tensor the graph rotates.
        const split = m.splitHeads(rope.x);
        const out = add.outputs[0]!;
        const rotated = rotate(u, split?.proj ?? rope.x, split ? 1 : 2, rope.cos, rope.sin, split ? `${P}/${out}/rotated` : out);
        if (split) u.emit('Transpose', [u.emit('Reshape', [rotated, split.shape], `${P}/${out}/heads`)], out, { perm: [0, 2, 1, 3] });
      },
    }),
  );
  // Graph order, so that shared tensors are made by the first replacement to need them.
  for (const { index, build } of units.sort((a, b) => a.index - b.index)) {
    const u = new Unit(made);
    build(u);
    fusion.replace.set(index, u.out);
    fusion.reads.set(index, [...u.reads]);
    fusion.writes.set(index, [...u.writes]);
  }
  return fusion;
}
