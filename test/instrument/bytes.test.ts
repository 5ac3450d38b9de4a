// The edit works on protobuf bytes: every original node (except the one that makes each residual
// tensor), every initializer (external references included) and every unknown field survive byte
// for byte, in order.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModel, type GraphView, type ModelView } from '../../src/onnx/read.js';
import { NodeF } from '../../src/onnx/schema.js';
import { Msg, readFields, type Field } from '../../src/onnx/wire.js';
import { applyPlan } from '../../src/model/instrument/edit.js';
import { findResidualStream, type ResidualPlan } from '../../src/model/instrument/residual.js';
import { fixture, type AnyKind } from './helpers.js';
import { mapNodes } from './graphs.js';

const b64 = (buf: Uint8Array, f: { start: number; end: number }) => Buffer.from(buf.subarray(f.start, f.end)).toString('base64');

/** Main graph plus If branches, each with the node indices the plan edits there. */
function graphsOf(m: ModelView, plan: ResidualPlan): { g: GraphView; edited: Set<number>; label: string }[] {
  if (!plan.branches) return [{ g: m.graph, edited: new Set(plan.points.map((p) => p.producer.node)), label: 'main' }];
  const ifNode = m.graph.nodes[plan.branches[0]!.ifNode]!;
  return [
    { g: m.graph, edited: new Set([ifNode.index]), label: 'main' },
    ...plan.branches.map((b) => ({ g: ifNode.attrs.get(b.attr)!.g!, edited: new Set(b.points.map((p) => p.producer.node)), label: b.attr })),
  ];
}

function graphsByLabel(m: ModelView): Map<string, GraphView> {
  const out = new Map<string, GraphView>([['main', m.graph]]);
  for (const n of m.graph.nodes) for (const a of n.attrs.values()) if (a.g) out.set(a.name, a.g);
  return out;
}

const KINDS: AnyKind[] = ['llama', 'llama-merged', 'llama-external', 'llama-fp16', 'llama-fused', 'gpt2-fused', 'llama-int4'];
const UNKNOWN_NODE_FIELD = 99;
const UNKNOWN_MODEL_FIELD = 999;

describe.each(KINDS)('byte preservation (%s)', (kind) => {
  it('keeps unedited nodes, initializers and unknown fields byte for byte', async () => {
    const fx = await fixture(kind);
    // Tag every node with a field no ONNX version defines, and the model too.
    const tagged = mapNodes(readFileSync(join(fx.dir, 'onnx', 'model.onnx')), () => undefined, (name) =>
      new Msg().string(UNKNOWN_NODE_FIELD, `future:${name}`),
    );
    const src = new Msg().raw(tagged).string(UNKNOWN_MODEL_FIELD, 'from the future').finish();
    const before = readModel(src, 'src');
    const plan = findResidualStream(before, { numLayers: fx.config.numLayers, source: 'src' });
    const out = applyPlan(before, plan, { ablation: true }).msg.finish();
    const after = readModel(out, 'out');

    // Model-level fields other than the graph: identical sequence of bytes.
    const outer = (m: ModelView) => m.fields.filter((f) => f !== m.graphField).map((f) => b64(m.buf, f));
    expect(outer(after)).toEqual(outer(before));
    expect(after.fields.some((f) => f.no === UNKNOWN_MODEL_FIELD)).toBe(true);

    const afterGraphs = graphsByLabel(after);
    for (const { g, edited, label } of graphsOf(before, plan)) {
      const ng = afterGraphs.get(label)!;
      // Unedited nodes appear unchanged and in the same order.
      const newNodes = ng.nodes.map((n) => b64(out, n.field));
      let at = 0;
      for (const n of g.nodes) {
        if (edited.has(n.index)) continue;
        const want = b64(src, n.field);
        while (at < newNodes.length && newNodes[at] !== want) at++;
        expect(at, `${label}: node ${n.name} missing or out of order`).toBeLessThan(newNodes.length);
      }
      // Edited nodes keep op type, attributes (except rewritten subgraphs) and the unknown field.
      for (const i of edited) {
        const n = g.nodes[i]!;
        const m = ng.nodes.find((x) => x.name === n.name && x.opType === n.opType)!;
        expect(m, `${label}: edited node ${n.name}`).toBeDefined();
        const keep = (buf: Uint8Array, fs: Field[]) =>
          fs.filter((f) => ![NodeF.input, NodeF.output].includes(f.no as 1 | 2) && (n.opType !== 'If' || f.no !== NodeF.attribute)).map((f) => b64(buf, f));
        expect(keep(out, m.fields)).toEqual(keep(src, n.fields));
        expect(m.fields.some((f) => f.no === UNKNOWN_NODE_FIELD)).toBe(true);
      }
      // Initializers: same bytes (inline data or external reference), same order.
      expect(ng.initializers.map((t) => b64(out, t.field))).toEqual(g.initializers.map((t) => b64(src, t.field)));
    }
    if (kind === 'llama-external') {
      const ext = after.graph.initializers.filter((t) => t.external);
      expect(ext.length).toBe(before.graph.initializers.length);
      expect(ext.every((t) => t.external!.location === 'model.onnx_data')).toBe(true);
      // Weights were not copied into the graph.
      expect(out.length).toBeLessThan(src.length + 64 * 1024);
    }
    // The rewritten graph message parses as a whole and nothing else is lost.
    expect(() => readFields(out)).not.toThrow();
  });
});
