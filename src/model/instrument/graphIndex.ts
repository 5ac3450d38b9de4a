// Who produces and who consumes each tensor of one ONNX graph, which tensors are constants, and
// "does tensor b depend on node p" ancestry queries. The residual-stream finder is built from these
// structural questions only, so it works on graphs whose node names were stripped.

import type { GraphView, NodeView, TensorView } from '../../onnx/read.js';

export interface Producer {
  node: NodeView;
  /** Output index of the tensor on its node. */
  index: number;
}

export interface Consumer {
  node: NodeView;
  /** Input index at which the node reads the tensor. */
  index: number;
}

/** What a subgraph (If branch) can see of its enclosing graph. */
export interface OuterScope {
  /** Outer names that are constants (initializers, Constant outputs). Others are dynamic. */
  constants: Set<string>;
}

/** Ops whose outputs depend on subgraph bodies: never folded into "constant". */
const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan']);
/** An ancestry search that visits more nodes than this is a bug or an absurd graph: fail loudly. */
const SEARCH_LIMIT = 2_000_000;

export class GraphIndex {
  readonly producer = new Map<string, Producer>();
  readonly consumers = new Map<string, Consumer[]>();
  readonly initializers = new Map<string, TensorView>();
  readonly inputNames: Set<string>;
  /** Topological rank per node index; ancestors always rank lower, which bounds searches. */
  readonly rank: Int32Array;
  private readonly constant = new Set<string>();
  private readonly memo = new Map<string, boolean>();

  constructor(
    readonly graph: GraphView,
    readonly outer?: OuterScope,
  ) {
    for (const t of graph.initializers) this.initializers.set(t.name, t);
    this.inputNames = new Set(graph.inputs.map((i) => i.name).filter((n) => !this.initializers.has(n)));
    for (const n of graph.nodes) {
      n.outputs.forEach((o, index) => {
        if (o) this.producer.set(o, { node: n, index });
      });
      n.inputs.forEach((i, index) => {
        if (!i) return;
        let list = this.consumers.get(i);
        if (!list) this.consumers.set(i, (list = []));
        list.push({ node: n, index });
      });
    }
    this.rank = this.topoRanks();
    this.markConstants();
  }

  /** Kahn's algorithm: ONNX requires sorted nodes, but we do not rely on the file's order. */
  private topoRanks(): Int32Array {
    const nodes = this.graph.nodes;
    const pending = new Int32Array(nodes.length);
    const users: number[][] = nodes.map(() => []);
    nodes.forEach((n, i) => {
      const seen = new Set<number>();
      for (const x of n.inputs) {
        const p = x ? this.producer.get(x) : undefined;
        if (p && p.node.index !== i && !seen.has(p.node.index)) {
          seen.add(p.node.index);
          pending[i]!++;
          users[p.node.index]!.push(i);
        }
      }
    });
    const rank = new Int32Array(nodes.length).fill(-1);
    const queue: number[] = [];
    pending.forEach((c, i) => c === 0 && queue.push(i));
    let r = 0;
    for (let q = 0; q < queue.length; q++) {
      const i = queue[q]!;
      rank[i] = r++;
      for (const u of users[i]!) if (--pending[u]! === 0) queue.push(u);
    }
    if (r !== nodes.length) throw new Error(`graph '${this.graph.name}' has a cycle`);
    return rank;
  }

  private markConstants(): void {
    const isConst = (x: string) =>
      !x || this.constant.has(x) || this.initializers.has(x) || (!this.producer.has(x) && !!this.outer?.constants.has(x));
    const order = [...this.graph.nodes].sort((a, b) => this.rank[a.index]! - this.rank[b.index]!);
    for (const n of order) {
      if (CONTROL_FLOW.has(n.opType)) continue;
      if (n.inputs.every(isConst)) for (const o of n.outputs) if (o) this.constant.add(o);
    }
  }

  /** Initializers, Constant nodes and everything computed from them alone. */
  isConstant(name: string): boolean {
    if (this.constant.has(name) || this.initializers.has(name)) return true;
    return !this.producer.has(name) && !this.inputNames.has(name) && !!this.outer?.constants.has(name);
  }

  /** Every constant name of this graph (what a subgraph sees as outer-scope constants). */
  constantNames(): Set<string> {
    const s = new Set<string>([...this.constant, ...this.initializers.keys()]);
    for (const c of this.outer?.constants ?? []) s.add(c);
    return s;
  }

  /** Depends on a graph input (or a dynamic outer-scope value). */
  isDynamic(name: string): boolean {
    return !!name && !this.isConstant(name);
  }

  /** The names every node and graph port uses, for picking fresh names. */
  allNames(): Set<string> {
    const s = new Set<string>([...this.inputNames, ...this.initializers.keys(), ...this.producer.keys()]);
    for (const n of this.graph.nodes) for (const i of n.inputs) if (i) s.add(i);
    for (const o of this.graph.outputs) s.add(o.name);
    return s;
  }

  /**
   * Does `tensor` depend on `ancestor`? For a produced tensor this is asked at node level: true when
   * the ancestor's producer node is the tensor's producer or one of its ancestors. (A fused node's
   * sum output counts as an ancestor of whatever reads its normalised output: same node.)
   */
  dependsOn(tensor: string, ancestor: string): boolean {
    const key = `${ancestor}\u0000${tensor}`;
    const hit = this.memo.get(key);
    if (hit !== undefined) return hit;
    const target = this.producer.get(ancestor)?.node;
    const result = target ? this.reaches(tensor, (n) => n === target, this.rank[target.index]!) : this.readsName(tensor, ancestor);
    this.memo.set(key, result);
    return result;
  }

  /** Backward search from `tensor`'s producer; prunes nodes ranked below `floor`. */
  private reaches(tensor: string, hit: (n: NodeView) => boolean, floor: number): boolean {
    const start = this.producer.get(tensor)?.node;
    if (!start) return false;
    const seen = new Set<number>([start.index]);
    const stack = [start];
    while (stack.length) {
      const n = stack.pop()!;
      if (hit(n)) return true;
      if (seen.size > SEARCH_LIMIT) throw new Error(`ancestry search from '${tensor}' exceeded ${SEARCH_LIMIT} nodes`);
      for (const x of n.inputs) {
        const p = x ? this.producer.get(x)?.node : undefined;
        if (!p || seen.has(p.index) || this.rank[p.index]! < floor) continue;
        seen.add(p.index);
        stack.push(p);
      }
    }
    return false;
  }

  /**
   * Is there a node matching `pred` between `tensor` and `floor` (exclusive): upstream of tensor
   * but ranked after floor's producer? Used to ask "does this residual branch contain attention".
   */
  branchHas(tensor: string, floor: string, pred: (n: NodeView) => boolean): boolean {
    const f = this.producer.get(floor)?.node;
    const r = f ? this.rank[f.index]! + 1 : 0;
    const start = this.producer.get(tensor)?.node;
    if (!start || (f && this.rank[start.index]! < r)) return false;
    return this.reaches(tensor, pred, r);
  }

  /** Ancestor is a graph input / outer name: does any node upstream of `tensor` read it? */
  private readsName(tensor: string, name: string): boolean {
    if (tensor === name) return true;
    return this.reaches(tensor, (n) => n.inputs.includes(name), -1);
  }

  /** Nodes upstream of `tensor` (its producer first), breadth-first, at most `limit`; null if more. */
  upstream(tensor: string, limit: number): NodeView[] | null {
    const start = this.producer.get(tensor)?.node;
    if (!start) return [];
    const seen = new Set<number>([start.index]);
    const out = [start];
    for (let q = 0; q < out.length; q++) {
      for (const x of out[q]!.inputs) {
        const p = x ? this.producer.get(x)?.node : undefined;
        if (!p || seen.has(p.index)) continue;
        if (out.length >= limit) return null;
        seen.add(p.index);
        out.push(p);
      }
    }
    return out;
  }
}
