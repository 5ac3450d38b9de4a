// Reading variants run each attention block as ONNX Runtime's CPU kernel for the ONNX `Attention`
// op (opset 23). An Optimum / torch export spells attention out as ~30 nodes per layer (heads split
// and transposed, rotate_half RoPE, repeat_kv by Unsqueeze+Expand+Reshape, scores, mask, softmax,
// heads merged); ORT's CPU optimizer fuses none of it, and on a SmolLM2-shaped model those
// element-wise passes were 12% of an extraction batch. The kernel takes the projections as they come
// out of their MatMuls ([batch, seq, heads * head_dim]) with grouped kv heads and writes the merged
// context, so everything between the q/k/v projections and o_proj goes:
//   RoPE            q and k rotated first by com.microsoft RotaryEmbedding, fed the graph's own
//                   tables, one cache row per (batch row, position), so per-row position ids are
//                   honoured as they are
//   attn_mask       the graph's mask as is (additive float, or boolean: true attends); causal and
//                   padding both live in it
//   causal chunks   the queries in CHUNKS slices, each against the keys up to its end only: the
//                   kernel computes every score of its square, and beyond a slice's end a causal
//                   mask has nothing to let through (SmolLM2-shaped 1x256: 1.2 ms a layer in 4
//                   chunks, 1.9 ms in one; persona-tiny 4x64: 0.31 / 0.43 ms). Sequences shorter
//                   than CHUNKS repeat row 0 in the chunks before it (the kernel refuses an empty
//                   query) and those copies are cut off after the Concat.
// Chosen over com.microsoft GroupQueryAttention (which served here before): paired in one process,
// the whole SmolLM2-shaped 1x256 reading spent 58.6 ms a run in Attention + RotaryEmbedding against
// 66.8 ms in GroupQueryAttention with rotary inside, before chunking. The op needs opset 23, so the
// variant's default-domain import is raised to 23 and the ops whose form changed since the graph's
// opset are rewritten to the new one (opsetUpgrade.ts); graphs below opset 13 are not fused.
// Where a block cannot be fused at all (soft-capped scores, other score paths) but its RoPE
// matches, each rotation becomes one RotaryEmbedding node on the projection, before its heads are
// split out (the default-domain opset stays as it was).
// The kernels round differently (fused multiply-adds), so hidden states match the unfused graph
// to ~1e-6 relative, not bit for bit; rows fully masked (pad queries) differ, as nothing reads
// them. Only blocks matching the pattern exactly are fused; the reader also checks a fused variant
// numerically against the whole graph before using it (model/reader.ts): a graph whose mask is not
// causal fails that check, as chunking drops keys after each chunk.

import { int64Tensor, node } from '../../onnx/build.js';
import type { GraphView, NodeView } from '../../onnx/read.js';
import { DType } from '../../onnx/schema.js';
import type { Msg } from '../../onnx/wire.js';
import { halfBitsToFloat } from '../../io/fp16.js';
import { GraphIndex } from './graphIndex.js';
import { opsetUpgrades } from './opsetUpgrade.js';

export interface AttentionHeads {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

export interface AttentionFusion {
  /** The default-domain opset the variant imports (raised to 23 where blocks are fused), when changed. */
  opset?: number;
  /** Node index -> the nodes emitted in its place (the node itself is dropped). */
  replace: Map<number, Msg[]>;
  /** Node index -> the tensors its replacement reads from the rest of the graph. */
  reads: Map<number, string[]>;
  /** Node index -> the tensors its replacement writes. */
  writes: Map<number, string[]>;
  /** Attention blocks run as ONNX Attention. */
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
  /** The graph's mask: boolean (true attends) or additive, as ONNX Attention takes either. */
  mask: string;
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
      mask = w.inputs[0]!;
    } else if (a)
      for (const i of [0, 1]) {
        s = this.scaled(a.inputs[i]!);
        if (s) {
          mask = a.inputs[1 - i]!;
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
  constructor(private readonly made: Map<string, string>) {}

  read(x: string): void {
    if (x && !this.writes.has(x)) this.reads.add(x);
  }

  emit(op: string, inputs: string[], name: string, attrs?: Parameters<typeof node>[0]['attrs'], domain?: string, extra: string[] = []): string {
    for (const x of inputs) this.read(x);
    for (const o of [name, ...extra]) this.writes.add(o);
    this.out.push(node({ op, inputs, outputs: [name, ...extra], name, attrs, domain }));
    return name;
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

/** Queries per block in this many slices, each attending to the keys up to its end (file comment). */
export const CHUNKS = 4;
/** The opset the ONNX Attention op needs, and the oldest a graph may have to be raised to it. */
const ATTENTION_OPSET = 23;
const OLDEST_RAISED = 13;

/**
 * The attention blocks of `g` (default-domain opset `opset`) that can run as ONNX Attention, and
 * where that is not possible (other score paths, graphs below opset 13), the RoPE rotations as
 * RotaryEmbedding nodes, as node replacements for truncate.ts's pruning (which then drops the
 * unfused nodes nothing reads any more). Null when nothing matches. Float32 graphs only: float16
 * exports cast around the softmax, which is not matched.
 */
export function fuseAttention(g: GraphView, heads: AttentionHeads, opset: number): AttentionFusion | null {
  const { numHeads, numKvHeads, headDim } = heads;
  if (headDim % 2 !== 0 || numHeads % numKvHeads !== 0) return null;
  const gi = new GraphIndex(g);
  const m = new Matcher(gi);
  const blocks = opset >= OLDEST_RAISED ? g.nodes.filter((n) => n.opType === 'Softmax' && n.domain === '').map((n) => m.block(n)).filter((b): b is Block => !!b) : [];
  const inBlocks = new Set(blocks.flatMap((b) => [b.qAdd, b.kAdd]));
  const ropes = g.nodes
    .filter((n) => n.opType === 'Add' && n.domain === '' && !inBlocks.has(n.index))
    .map((n) => ({ node: n, rope: m.rope(n.outputs[0]!) }))
    .filter((r): r is { node: NodeView; rope: NonNullable<ReturnType<Matcher['rope']>> } => !!r.rope);
  if (!blocks.length && !ropes.length) return null;
  const made = new Map<string, string>();
  const fusion: AttentionFusion = { replace: new Map(), reads: new Map(), writes: new Map(), blocks: blocks.length, ropes: ropes.length };
  const units: { index: number; build: (u: Unit) => void }[] = [];

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

  // Chunk c's queries [start_c, end_c) of seq T (1-element int64 vectors, shared by every block).
  // Over T' = max(T, CHUNKS) virtual positions, where the first T' - T repeat row 0, chunk c is
  // virtual [c T' / CHUNKS, (c + 1) T' / CHUNKS), never empty; mapped back to rows, it is
  // [max(0, v_c - pad), max(0, v_(c+1) - 1 - pad) + 1). The chunks' rows then run 0 (repeated, where
  // T < CHUNKS), 0, 1, ..., T - 1: the last T of the Concat are the block's output.
  const qSeq = (u: Unit, q: string) => u.dim(u.shared('qShape', () => u.emit('Shape', [q], `${P}/q.shape`)), 1);
  const virtual = (u: Unit, q: string) => u.shared('chunks/virtual', () => u.emit('Max', [qSeq(u, q), u.const(`k${CHUNKS}`, int64s([CHUNKS], true))], `${P}/chunks/virtual`));
  const pad = (u: Unit, q: string) => u.shared('chunks/pad', () => u.emit('Sub', [virtual(u, q), qSeq(u, q)], `${P}/chunks/pad`));
  const v = (u: Unit, q: string, c: number) =>
    c === 0 ? u.const('k0', int64s([0], true)) : c === CHUNKS ? virtual(u, q) : u.shared(`chunks/v${c}`, () => u.emit('Div', [u.emit('Mul', [virtual(u, q), u.const(`k${c}`, int64s([c], true))], `${P}/chunks/${c}*virtual`), u.const(`k${CHUNKS}`, int64s([CHUNKS], true))], `${P}/chunks/v${c}`));
  const positive = (u: Unit, x: string, name: string) => u.emit('Max', [x, u.const('k0', int64s([0], true))], name);
  const start = (u: Unit, q: string, c: number) =>
    u.shared(`chunks/start${c}`, () => u.vector(positive(u, u.emit('Sub', [v(u, q, c), pad(u, q)], `${P}/chunks/${c}/v-pad`), `${P}/chunks/${c}/start`)));
  const end = (u: Unit, q: string, c: number) =>
    u.shared(`chunks/end${c}`, () => {
      const last = positive(u, u.emit('Sub', [u.emit('Sub', [v(u, q, c + 1), u.const('k1', int64s([1], true))], `${P}/chunks/${c}/v-1`), pad(u, q)], `${P}/chunks/${c}/v-1-pad`), `${P}/chunks/${c}/last`);
      return u.vector(u.emit('Add', [last, u.const('k1', int64s([1], true))], `${P}/chunks/${c}/end`));
    });
  blocks.forEach((b, i) =>
    units.push({
      index: b.outNode.index,
      build: (u) => {
        const q = rotate(u, b.q, 1, b.cos, b.sin, `${P}/${i}/q.rotated`);
        const k = rotate(u, b.k, 1, b.cos, b.sin, `${P}/${i}/k.rotated`);
        const axis1 = u.const('axis1', int64s([1]));
        const outs: string[] = [];
        for (let c = 0; c < CHUNKS; c++) {
          const [from, to] = [start(u, b.q, c), end(u, b.q, c)];
          const last = c === CHUNKS - 1; // its keys are all of them
          const upto = (t: string, name: string) => (last ? t : u.emit('Slice', [t, u.const('i0', int64s([0])), to, axis1], `${P}/${i}/${name}.${c}`));
          // v reshaped to [batch, rows, width] after its Slice: ONNX's shape inference takes the
          // slice's width as unknown, the Attention output's (heads x v's head size) then as 0,
          // and the Concat refuses the model. q and k need no such help.
          const vc = last ? b.v : u.emit('Reshape', [upto(b.v, 'v'), u.const(`width${numKvHeads * headDim}`, int64s([0, -1, numKvHeads * headDim]))], `${P}/${i}/v.${c}/rows`);
          const mask = u.shared(`mask:${b.mask}:${c}`, () => {
            const starts = u.shared(`maskStart:${c}`, () => u.emit('Concat', [from, u.const('i0', int64s([0]))], `${P}/chunks/${c}/mask.start`, { axis: 0 }));
            const ends = u.shared(`maskEnd:${c}`, () => u.emit('Concat', [to, to], `${P}/chunks/${c}/mask.end`, { axis: 0 }));
            return u.emit('Slice', [b.mask, starts, ends, u.const('axes-2-1', int64s([-2, -1]))], `${P}/${b.mask}/chunk.${c}`);
          });
          const qc = u.emit('Slice', [q, from, to, axis1], `${P}/${i}/q.${c}`);
          outs.push(u.emit('Attention', [qc, upto(k, 'k'), vc, mask], `${P}/${i}/out.${c}`, { q_num_heads: numHeads, kv_num_heads: numKvHeads, scale: { float: b.scale } }));
        }
        const all = u.emit('Concat', outs, `${P}/${i}/out`, { axis: 1 });
        const seq = u.shared('-seq', () => u.emit('Neg', [u.vector(qSeq(u, b.q))], `${P}/-seq`));
        u.emit('Slice', [all, seq, u.const('imax', int64s([Number.MAX_SAFE_INTEGER])), axis1], b.out);
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
  // The Attention op is opset 23's: the other nodes whose form changed since the graph's opset are
  // rewritten to 23's.
  if (blocks.length && opset < ATTENTION_OPSET) {
    fusion.opset = ATTENTION_OPSET;
    for (const up of opsetUpgrades(g, opset, ATTENTION_OPSET))
      units.push({
        index: up.index,
        build: (u) => {
          for (const x of up.reads) u.read(x);
          for (const x of up.writes) u.writes.add(x);
          u.out.push(...up.nodes);
        },
      });
  }
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
