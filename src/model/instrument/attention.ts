// What a graph's attention kernels expect of the rows fed to them. Plain graphs (and fused ones
// that mask with an additive bias) take left-padded rows: the mask hides the pads. ONNX Runtime's
// GroupQueryAttention CPU kernel masks by length only: it takes row b's keys as columns
// [0, seqlens_k[b]] and writes its new keys at column seqlens_k[b] + 1 - seq. onnxruntime-genai's
// builder feeds it seqlens_k = ReduceSum(attention_mask) - 1, which is right only when each row's
// tokens start at column 0, so such graphs take right-padded rows (we measured left padding off by
// a relative 1.3 on the shorter row's logits). The same kernel also runs with past and present in
// one fixed-size buffer (it writes in place), which genai asks for with past_present_share_buffer.
// The older `Attention` op's shared-buffer form (past_present_share_buffer = 1 with a
// past_sequence_length input) does not run on ORT's CPU kernel, so it is refused here by name.

import type { GraphView, ModelView, NodeView } from '../../onnx/read.js';
import { InstrumentError } from './errors.js';
import { GraphIndex } from './graphIndex.js';

export type Padding = 'left' | 'right' | 'none';

export interface AttentionContract {
  /**
   * left: pads before each row's tokens, masked by the graph; right: each row's tokens from
   * column 0 (pads after), lengths from the mask's row sums; none: the graph cannot mask padding
   * at all, so rows of a batch must have equal lengths.
   */
  padding: Padding;
  /** Whether past and present may be one fixed-capacity buffer that the kernel writes in place. */
  sharedBuffer: boolean;
  /** Attention ops of the graph (fused com.microsoft ones), for `persona inspect`. */
  ops: string[];
  /** Why padding is what it is, in words. */
  reason: string;
}

const FUSED = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'Attention']);
/** GroupQueryAttention inputs: 5 seqlens_k, 10 attention_bias. */
const SEQLENS_K = 5;
const ATTENTION_BIAS = 10;

interface Found {
  node: NodeView;
  /** Index chain from this graph outwards (If bodies see their enclosing graph's names). */
  scopes: GraphIndex[];
}

function collect(g: GraphView, outer: GraphIndex[], out: Found[]): void {
  const gi = new GraphIndex(g, outer.length ? { constants: outer[0]!.constantNames() } : undefined);
  const scopes = [gi, ...outer];
  for (const n of g.nodes) {
    if (n.domain === 'com.microsoft' && FUSED.has(n.opType)) out.push({ node: n, scopes });
    for (const a of n.attrs.values()) if (a.g) collect(a.g, scopes, out);
  }
}

/** Does the value `name` come (through any scope) from a ReduceSum, i.e. from the mask's row sums? */
function fromRowSums(name: string, scopes: GraphIndex[]): boolean {
  for (const gi of scopes) {
    if (!gi.producer.has(name)) continue;
    const up = gi.upstream(name, 256);
    return (up ?? []).some((n) => n.opType === 'ReduceSum');
  }
  return false;
}

export function attentionContract(model: ModelView, source = model.graph.name): AttentionContract {
  const found: Found[] = [];
  collect(model.graph, [], found);
  const ops = [...new Set(found.map((f) => f.node.opType))].sort();
  for (const { node } of found)
    if (node.opType === 'Attention' && node.attrs.get('past_present_share_buffer')?.i === 1)
      throw new InstrumentError(
        `${source}: node '${node.name}' is a com.microsoft Attention with past_present_share_buffer=1` +
          `${node.inputs[6] ? ` (past_sequence_length input '${node.inputs[6]}')` : ''}, which ONNX Runtime's CPU kernel does not run; ` +
          'export the model with a growing past (past_present_share_buffer=0, no past_sequence_length input)',
      );
  const gqa = found.filter((f) => f.node.opType === 'GroupQueryAttention');
  const byLength = gqa.filter((f) => fromRowSums(f.node.inputs[SEQLENS_K] ?? '', f.scopes));
  const unmasked = gqa.filter((f) => !f.node.inputs[ATTENTION_BIAS]);
  let padding: Padding = 'left';
  let reason = 'the attention mask hides the pads';
  if (byLength.length) {
    padding = 'right';
    reason = `GroupQueryAttention '${byLength[0]!.node.name}' takes each row's length from the mask's row sums (seqlens_k)`;
  } else if (unmasked.length) {
    padding = 'none';
    reason = `GroupQueryAttention '${unmasked[0]!.node.name}' has no attention_bias and its seqlens_k does not follow the mask`;
  }
  const sharedBuffer = padding === 'right' && found.length > 0 && found.every((f) => f.node.opType === 'GroupQueryAttention');
  return { padding, sharedBuffer, ops, reason };
}
