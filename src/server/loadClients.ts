// Concurrent streaming clients of /v1/chat/completions, each stream checked whole: a role chunk,
// one content chunk per token (usage.completion_tokens), a finish reason, `data: [DONE]`, and,
// where the caller knows it, exactly the text this request should get (so answers swapped between
// clients or cut short fail, not only lost chunks). Used by the load test and scripts/load-serve.ts.

export interface ClientResult {
  client: number;
  ok: boolean;
  error?: string;
  text: string;
  tokens: number;
  finishReason: string | null;
  /** Milliseconds from sending the request to the first token's chunk, and to the end of the stream. */
  firstMs: number;
  totalMs: number;
  /** This client's tokens over its whole-answer time. */
  tokensPerSecond: number;
}

export interface LoadResult {
  results: ClientResult[];
  wallMs: number;
  tokens: number;
  failed: number;
}

export async function streamClient(url: string, client: number, body: Record<string, unknown>, expected?: string): Promise<ClientResult> {
  const t0 = performance.now();
  let firstMs = NaN;
  const fail = (error: string, text = ''): ClientResult => ({ client, ok: false, error, text, tokens: 0, finishReason: null, firstMs, totalMs: performance.now() - t0, tokensPerSecond: 0 });
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    });
    if (!res.ok) return fail(`HTTP ${res.status} ${await res.text()}`);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let raw = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      raw += dec.decode(value, { stream: true });
      // The first token is in the second event (the first only opens the assistant message).
      if (Number.isNaN(firstMs) && raw.split('\n\n').length > 2) firstMs = performance.now() - t0;
    }
    const totalMs = performance.now() - t0;
    const payloads = raw.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
    if (payloads.at(-1) !== '[DONE]') return fail('no [DONE]');
    const events = payloads.slice(0, -1).map((p) => JSON.parse(p));
    if (events[0]?.choices?.[0]?.delta?.role !== 'assistant') return fail('no role chunk first');
    const content = events.slice(1).filter((e) => e.choices?.[0]?.delta && 'content' in e.choices[0].delta);
    const text = content.map((e) => e.choices[0].delta.content as string).join('');
    const usage = events.at(-1)?.usage;
    const finishReason = events.find((e) => e.choices?.[0]?.finish_reason)?.choices[0].finish_reason ?? null;
    if (!usage || !finishReason) return fail('missing usage or finish_reason', text);
    if (content.length !== usage.completion_tokens) return fail(`${content.length} token chunks for ${usage.completion_tokens} tokens (lost messages)`, text);
    if (expected !== undefined && text !== expected) return fail(`answer differs from the expected one: ${JSON.stringify(text)} vs ${JSON.stringify(expected)}`, text);
    return { client, ok: true, text, tokens: usage.completion_tokens, finishReason, firstMs, totalMs, tokensPerSecond: usage.completion_tokens / (totalMs / 1000) };
  } catch (e) {
    return fail((e as Error).message);
  }
}

/** All clients at once; `expected[i]` (optional) is the text client i must get. */
export async function runClients(url: string, bodies: Record<string, unknown>[], expected?: string[]): Promise<LoadResult> {
  const t0 = performance.now();
  const results = await Promise.all(bodies.map((b, i) => streamClient(url, i, b, expected?.[i])));
  const ok = results.filter((r) => r.ok);
  return { results, wallMs: performance.now() - t0, tokens: ok.reduce((a, r) => a + r.tokens, 0), failed: results.length - ok.length };
}
