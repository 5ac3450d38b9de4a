// The integer inputs of one forward call: token ids left-padded into a [batch, seq] block, the
// attention mask over past + new tokens, and position ids derived from that mask.

export interface BatchInputs {
  batch: number;
  /** New tokens in this call (columns of `ids`). */
  seq: number;
  /** [batch, seq], pads filled with the pad id. */
  ids: BigInt64Array;
  /** [batch, seq], 1 = real token, 0 = left pad. */
  mask: Uint8Array;
  /**
   * [batch, seq] position of each new token in its row's own sequence, HF convention:
   * cumsum(mask) - 1 over past + new tokens, clamped at 0 for leading pads.
   */
  positionIds: Int32Array;
}

/**
 * Left-pad ragged rows (so every row's last token sits in the last column, which is where the
 * next-token logits are read). An explicit mask overrides the derived one, e.g. for a
 * recomputation that re-feeds a padded prompt plus generated tokens.
 * `pastTokens[b]` = real tokens of row b already in the KV cache (0 at prefill).
 */
export function batchInputs(
  rows: number[][],
  padId: number,
  pastTokens?: ArrayLike<number>,
  mask?: number[][],
): BatchInputs {
  const batch = rows.length;
  if (batch === 0) throw new Error('forward: inputIds is empty (no rows)');
  if (pastTokens && pastTokens.length !== batch)
    throw new Error(`forward: ${batch} rows of inputIds but the cache holds ${pastTokens.length} rows`);
  const seq = Math.max(...rows.map((r) => r.length));
  if (seq === 0) throw new Error('forward: every row of inputIds is empty');
  const ids = new BigInt64Array(batch * seq);
  const m = new Uint8Array(batch * seq);
  const positionIds = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    const row = rows[b]!;
    const pad = seq - row.length;
    if (mask && (mask[b]?.length ?? -1) !== row.length)
      throw new Error(`forward: attentionMask row ${b} has ${mask[b]?.length ?? 0} entries, inputIds row has ${row.length}`);
    let count = pastTokens ? pastTokens[b]! : 0;
    for (let s = 0; s < seq; s++) {
      const i = b * seq + s;
      const real = s >= pad;
      const tok = real ? row[s - pad]! : padId;
      if (!Number.isInteger(tok) || tok < 0) throw new Error(`forward: invalid token id ${tok} at row ${b}, column ${s - pad}`);
      ids[i] = BigInt(tok);
      const on = real ? (mask ? mask[b]![s - pad]! : 1) : 0;
      m[i] = on ? 1 : 0;
      count += m[i]!;
      positionIds[i] = Math.max(count - 1, 0);
    }
  }
  return { batch, seq, ids, mask: m, positionIds };
}

/** Real tokens per row of a [batch, len] mask. */
export function tokensPerRow(mask: Uint8Array, batch: number): Int32Array {
  const len = mask.length / batch;
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let c = 0;
    for (let s = 0; s < len; s++) c += mask[b * len + s]!;
    out[b] = c;
  }
  return out;
}
