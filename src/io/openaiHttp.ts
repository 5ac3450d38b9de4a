// Requests to an OpenAI-compatible HTTP API (OpenAI, vLLM, llama.cpp server, Ollama's /v1,
// LM Studio): JSON in and out, a timeout per request, retries only where waiting can help.
// Shared by the LLM judges and the remote generator.

export interface OpenAIEndpoint {
  baseUrl: string;
  apiKey?: string;
  model: string;
  /** Per-request timeout in ms (default HTTP_DEFAULTS.timeoutMs). */
  timeoutMs?: number;
  /** Extra attempts after a timeout, HTTP 429 or 5xx (default HTTP_DEFAULTS.retries). */
  retries?: number;
}

/** 30 s is long for a short reply; two more attempts ride out a busy server without a hung one costing minutes. */
export const HTTP_DEFAULTS = { timeoutMs: 30_000, retries: 2 } as const;

/** A request failed; `retry` says whether another attempt could help. */
export class OpenAIRequestError extends Error {
  constructor(message: string, readonly retry: boolean) {
    super(message);
  }
}

// Connection refused, unknown host: the endpoint is not there, waiting will not bring it.
const FATAL_NETWORK = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'ERR_INVALID_URL', 'EHOSTUNREACH', 'ENETUNREACH']);

/** fetch's "fetch failed" hides the reason in `cause`: bring it out, with the URL. */
function networkError(url: string, e: unknown, timedOut: boolean, timeoutMs: number, timeoutHint: string): OpenAIRequestError {
  if (timedOut) return new OpenAIRequestError(`${url}: no reply within ${timeoutMs} ms${timeoutHint ? ` (${timeoutHint})` : ''}`, true);
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (e as { code?: string }).code;
  const why = cause?.message ?? (e as Error).message;
  return new OpenAIRequestError(`${url}: request failed: ${code ? `${code} ` : ''}${why}`, !(code && FATAL_NETWORK.has(code)));
}

async function attempt(url: string, apiKey: string | undefined, body: Record<string, unknown> | null, timeoutMs: number, timeoutHint: string): Promise<unknown> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, {
      method: body ? 'POST' : 'GET',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: ctrl.signal,
    });
    status = res.status;
    text = await res.text();
  } catch (e) {
    throw networkError(url, e, ctrl.signal.aborted, timeoutMs, timeoutHint);
  } finally {
    clearTimeout(timer);
  }
  // Rate limits and server errors may pass; other client errors will not improve on retry.
  if (status < 200 || status >= 300) throw new OpenAIRequestError(`${url}: HTTP ${status} ${text.slice(0, 300)}`, status === 429 || status >= 500);
  try {
    return JSON.parse(text);
  } catch {
    // A 200 that is not JSON is a wrong endpoint (an HTML page, a proxy), not a passing hiccup.
    throw new OpenAIRequestError(`${url}: reply is not JSON (HTTP ${status}): ${text.slice(0, 200)}`, false);
  }
}

/**
 * POST `body` (GET when null) to baseUrl + path; the parsed JSON reply. `timeoutHint` is added to a
 * timeout's message (which setting waits longer).
 */
export async function postOpenAI(
  ep: Pick<OpenAIEndpoint, 'baseUrl' | 'apiKey' | 'timeoutMs' | 'retries'>,
  path: string,
  body: Record<string, unknown> | null,
  timeoutHint = '',
): Promise<unknown> {
  const url = ep.baseUrl.replace(/\/+$/, '') + path;
  const retries = ep.retries ?? HTTP_DEFAULTS.retries;
  const timeoutMs = ep.timeoutMs ?? HTTP_DEFAULTS.timeoutMs;
  for (let k = 0; ; k++) {
    try {
      return await attempt(url, ep.apiKey, body, timeoutMs, timeoutHint);
    } catch (e) {
      const err = e as OpenAIRequestError;
      if (!err.retry || k >= retries) throw new OpenAIRequestError(k ? `${err.message} (after ${k + 1} attempts)` : err.message, false);
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** k));
  }
}
