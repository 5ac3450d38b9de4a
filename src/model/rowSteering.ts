// Steering that differs between the rows of one batch and may change between forward calls: what a
// server needs when simultaneous requests with their own interventions share a batch, and when a
// dashboard slider moves while an answer is being written (the new value applies from the next
// token on). Each row's steering is asked for at every call; a row's plan is rebuilt only when its
// Steering object changes (callers hand a new array when settings change, never mutate one).

import type { SteerTensors, TokenPositions } from './steerableModel.js';
import { steeringPlan, type Steering, type SteerTarget } from './steering.js';

export function rowwiseSteering(
  model: SteerTarget,
  current: (row: number) => Steering,
  promptLengths: number[],
): (at: TokenPositions) => SteerTensors {
  const H = model.hiddenSize;
  const plans = new Map<number, { steering: Steering; plan: ((at: TokenPositions) => SteerTensors) | null }>();
  return (at) => {
    const { batch, seq } = at;
    if (promptLengths.length !== batch) throw new Error(`steering: ${promptLengths.length} prompt lengths for ${batch} rows`);
    const perRow: SteerTensors[] = [];
    const layers = new Set<number>();
    for (let b = 0; b < batch; b++) {
      const steering = current(b);
      let entry = plans.get(b);
      if (!entry || entry.steering !== steering) {
        entry = { steering, plan: steering.length ? steeringPlan(model, steering, [promptLengths[b]!]) : null };
        plans.set(b, entry);
      }
      const row = entry.plan
        ? entry.plan({ batch: 1, seq, positionIds: at.positionIds.subarray(b * seq, (b + 1) * seq), mask: at.mask.subarray(b * seq, (b + 1) * seq) })
        : new Map();
      for (const l of row.keys()) layers.add(l);
      perRow.push(row);
    }
    // One [batch, seq, H] block per layer; a row's [1, 1|seq, H] tensor is broadcast over its columns.
    const out: SteerTensors = new Map();
    for (const layer of layers) {
      const data = new Float32Array(batch * seq * H);
      perRow.forEach((row, b) => {
        const t = row.get(layer);
        if (!t) return;
        for (let s = 0; s < seq; s++) data.set(t.data.subarray(t.dims[1] === 1 ? 0 : s * H, (t.dims[1] === 1 ? 0 : s * H) + H), (b * seq + s) * H);
      });
      out.set(layer, { data, dims: [batch, seq, H] });
    }
    return out;
  };
}
