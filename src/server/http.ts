// Small HTTP pieces on node:http: bodies read with a size limit, JSON replies, server-sent events.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestError } from './controls.js';

/** The request body as JSON; more than `limit` bytes is refused with 413 before it is all read. */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  // JSON only: a cross-site page cannot send it without a CORS preflight, which this server never
  // grants, so a web page the user visits cannot make the local model generate.
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new RequestError(`content-type must be application/json (got ${req.headers['content-type'] ?? 'none'})`, 415);
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) throw new RequestError(`request body of ${declared} bytes is over the limit of ${limit} (--max-body)`, 413);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new RequestError(`request body is over the limit of ${limit} bytes (--max-body)`, 413);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RequestError(`request body is not JSON: ${(e as Error).message}`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** OpenAI's error shape. */
export function sendError(res: ServerResponse, e: unknown): void {
  const status = e instanceof RequestError ? e.status : 500;
  const message = e instanceof Error ? e.message : String(e);
  if (res.headersSent) {
    // Mid-stream: say so in the stream, then end it.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n`);
    return;
  }
  sendJson(res, status, { error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', code: status } });
}

/** Start a server-sent event stream. */
export function openEventStream(res: ServerResponse): { send: (data: unknown, event?: string) => void; end: () => void } {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.flushHeaders();
  return {
    send: (data, event) => {
      if (!res.writableEnded) res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    },
    end: () => {
      if (!res.writableEnded) res.end();
    },
  };
}
