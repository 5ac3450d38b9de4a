// Hand-built graphs for the instrumentation tests: a tiny residual decoder (sequential or parallel
// blocks, or none), and byte-level rewrites of existing models (rename / strip node names, add
// unknown fields) that go through the same wire codec as the instrumenter.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { floatTensor, graph, model, node, valueInfo } from '../../src/onnx/build.js';
import { AttrF, DType, GraphF, ModelF, NodeF } from '../../src/onnx/schema.js';
import { fieldString, Msg, readFields, rewrite, type Field } from '../../src/onnx/wire.js';
import { randomVector, scratchDir } from './helpers.js';

export interface TinyOptions {
  layers: number;
  hidden?: number;
  vocab?: number;
  /** GPT-J / Phi style: x + attn(n(x)) + mlp(n(x)) with one add per block. */
  parallel?: boolean;
  /** Blocks without residual adds (x = f(x)): not a residual network. */
  noResidual?: boolean;
  logitsName?: string;
  /** Declare an extra (unused) int64 graph input of this name. */
  extraInput?: string;
}

/** Weights are small random matrices; the point is the topology, not the numbers. */
export function tinyDecoder(o: TinyOptions): Uint8Array {
  const H = o.hidden ?? 8;
  const V = o.vocab ?? 16;
  const F = 2 * H;
  const inits: Msg[] = [];
  let seed = 1;
  const w = (name: string, dims: number[]) => {
    inits.push(floatTensor(name, dims, randomVector(dims.reduce((a, b) => a * b, 1), seed++, 0.5)));
    return name;
  };
  const nodes: Msg[] = [];
  const op = (name: string, type: string, inputs: string[], attrs?: Record<string, number>) => {
    nodes.push(node({ op: type, inputs, outputs: [`${name}_output_0`], name, attrs }));
    return `${name}_output_0`;
  };
  let x = op('/model/embed_tokens/Gather', 'Gather', [w('embed', [V, H]), 'input_ids'], { axis: 0 });
  for (let l = 0; l < o.layers; l++) {
    const p = `/model/layers.${l}`;
    const attn = (h: string) => {
      const scores = op(`${p}/attn/Softmax`, 'Softmax', [op(`${p}/attn/MatMul`, 'MatMul', [h, w(`${p}.wa`, [H, H])])], { axis: -1 });
      return op(`${p}/attn/o_proj`, 'MatMul', [scores, w(`${p}.wo`, [H, H])]);
    };
    const mlp = (h: string) =>
      op(`${p}/mlp/down`, 'MatMul', [op(`${p}/mlp/Relu`, 'Relu', [op(`${p}/mlp/up`, 'MatMul', [h, w(`${p}.w1`, [H, F])])]), w(`${p}.w2`, [F, H])]);
    const norm = (name: string, h: string) => op(`${p}/${name}/Mul`, 'Mul', [h, w(`${p}.${name}`, [H])]);
    if (o.noResidual) x = mlp(norm('ln', attn(norm('ln0', x))));
    else if (o.parallel) {
      const h = norm('ln', x);
      x = op(`${p}/Add_1`, 'Add', [op(`${p}/Add`, 'Add', [attn(h), mlp(h)]), x]);
    } else {
      x = op(`${p}/Add`, 'Add', [x, attn(norm('ln1', x))]);
      x = op(`${p}/Add_1`, 'Add', [x, mlp(norm('ln2', x))]);
    }
  }
  const hf = op('/model/norm/Mul', 'Mul', [x, w('norm', [H])]);
  const logits = o.logitsName ?? 'logits';
  nodes.push(node({ op: 'MatMul', inputs: [hf, w('lm_head', [H, V])], outputs: [logits], name: '/lm_head/MatMul' }));
  const g = graph({
    name: 'tiny',
    nodes,
    initializers: inits,
    inputs: [
      valueInfo('input_ids', DType.INT64, ['batch_size', 'sequence_length']),
      ...(o.extraInput ? [valueInfo(o.extraInput, DType.INT64, ['batch_size', 'sequence_length'])] : []),
    ],
    outputs: [valueInfo(logits, DType.FLOAT, ['batch_size', 'sequence_length', V])],
  });
  return model(g, [{ domain: '', version: 17 }]).finish();
}

/** A model folder: config.json + onnx/model.onnx. */
export function modelDir(bytes: Uint8Array, config: Record<string, unknown>): string {
  const dir = scratchDir('tiny');
  mkdirSync(join(dir, 'onnx'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'onnx', 'model.onnx'), bytes);
  return dir;
}

/**
 * Rewrite every node (subgraphs included): `fn` gets the node's name and returns a new name, null
 * to drop it, or undefined to keep it; `extra` appends raw fields to chosen nodes.
 */
export function mapNodes(
  bytes: Uint8Array,
  fn: (name: string) => string | null | undefined,
  extra?: (name: string) => Msg | undefined,
): Uint8Array {
  const mapGraph = (start: number, end: number): Msg =>
    rewrite(bytes, readFields(bytes, start, end), (f) => {
      if (f.no !== GraphF.node) return undefined;
      const nfs = readFields(bytes, f.dataStart, f.dataEnd);
      const nameF = nfs.find((x) => x.no === NodeF.name);
      const name = nameF ? fieldString(bytes, nameF) : '';
      const m = rewrite(bytes, nfs, (nf: Field) => {
        if (nf.no === NodeF.name) {
          const r = fn(name);
          return r === undefined ? undefined : r === null ? null : new Msg().string(NodeF.name, r);
        }
        if (nf.no !== NodeF.attribute) return undefined;
        const afs = readFields(bytes, nf.dataStart, nf.dataEnd);
        if (!afs.some((a) => a.no === AttrF.g)) return undefined;
        return new Msg().message(
          NodeF.attribute,
          rewrite(bytes, afs, (a) => (a.no === AttrF.g ? new Msg().message(AttrF.g, mapGraph(a.dataStart, a.dataEnd)) : undefined)),
        );
      });
      const e = extra?.(name);
      if (e) m.raw(e.finish());
      return new Msg().message(GraphF.node, m);
    });
  return rewrite(bytes, readFields(bytes), (f) =>
    f.no === ModelF.graph ? new Msg().message(ModelF.graph, mapGraph(f.dataStart, f.dataEnd)) : undefined,
  ).finish();
}

/**
 * BERT/GPT-2-style ORT fusion by hand: EmbedLayerNormalization (embedding_sum = output 2) and
 * SkipLayerNormalization per residual add; the final norm's sum output is left out, as ORT does.
 */
export function tinyFusedEmbedDecoder(layers: number, finalSum: 'omitted' | 'empty' = 'omitted', H = 8, V = 16, segments = false): Uint8Array {
  const inits: Msg[] = [];
  let seed = 7;
  const w = (name: string, dims: number[], scale = 0.5) => {
    inits.push(floatTensor(name, dims, randomVector(dims.reduce((a, b) => a * b, 1), seed++, scale)));
    return name;
  };
  const ms = 'com.microsoft';
  const nodes: Msg[] = [node({ op: 'Cast', inputs: ['input_ids'], outputs: ['ids32'], name: 'cast_ids', attrs: { to: DType.INT32 } })];
  // segments: BERT-style segment ids (all 0) and a segment table, so those inputs are taken.
  if (segments) nodes.push(node({ op: 'Sub', inputs: ['ids32', 'ids32'], outputs: ['seg_ids'], name: 'seg_ids' }));
  nodes.push(
    node({
      op: 'EmbedLayerNormalization',
      domain: ms,
      name: 'embed_ln',
      inputs: ['ids32', segments ? 'seg_ids' : '', w('wte', [V, H]), w('wpe', [32, H]), segments ? w('wse', [2, H]) : '', w('ln0.g', [H]), w('ln0.b', [H])],
      outputs: ['ln_0', '', 'embed_sum'],
      attrs: { epsilon: 1e-5 },
    }),
  );
  let ln = 'ln_0';
  let res = 'embed_sum';
  let n = 0;
  const skip = (branch: string, last: boolean) => {
    const i = n++;
    const outs = !last ? [`sln_${i}`, '', '', `sum_${i}`] : finalSum === 'empty' ? [`sln_${i}`, '', '', ''] : [`sln_${i}`];
    nodes.push(
      node({
        op: 'SkipLayerNormalization',
        domain: ms,
        name: `skip_${i}`,
        inputs: [branch, res, w(`g${i}`, [H]), w(`b${i}`, [H]), w(`bias${i}`, [H], 0.1)],
        outputs: outs,
        attrs: { epsilon: 1e-5 },
      }),
    );
    ln = `sln_${i}`;
    if (!last) res = `sum_${i}`;
  };
  const mm = (name: string, x: string, dims: number[]) => {
    nodes.push(node({ op: 'MatMul', inputs: [x, w(`${name}.w`, dims)], outputs: [name], name }));
    return name;
  };
  for (let l = 0; l < layers; l++) {
    nodes.push(node({ op: 'Softmax', inputs: [mm(`a${l}`, ln, [H, H])], outputs: [`p${l}`], name: `softmax${l}`, attrs: { axis: -1 } }));
    skip(mm(`o${l}`, `p${l}`, [H, H]), false);
    nodes.push(node({ op: 'Relu', inputs: [mm(`up${l}`, ln, [H, 2 * H])], outputs: [`r${l}`], name: `relu${l}` }));
    skip(mm(`down${l}`, `r${l}`, [2 * H, H]), l === layers - 1);
  }
  nodes.push(node({ op: 'MatMul', inputs: [ln, w('lm_head', [H, V])], outputs: ['logits'], name: 'lm_head' }));
  const g = graph({
    name: 'tiny_fused',
    nodes,
    initializers: inits,
    inputs: [valueInfo('input_ids', DType.INT64, ['batch_size', 'sequence_length'])],
    outputs: [valueInfo('logits', DType.FLOAT, ['batch_size', 'sequence_length', V])],
  });
  return model(g, [{ domain: '', version: 17 }, { domain: ms, version: 1 }]).finish();
}
