// `persona serve`: one process, one model, two faces — the OpenAI-compatible API under /v1 and the
// dashboard at /. Requests share the model through the batcher; every request is a line of
// requests.jsonl; on loopback only loopback Host names are answered; SIGINT / SIGTERM stop taking
// requests, let running answers finish (up to a grace period, then cut them), close the run and
// release the model.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stopOnSignals, type RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { RequestError, type Directions, type Settings } from './controls.js';
import { completions } from './completions.js';
import type { RequestNote, ServerContext, ServerLimits } from './context.js';
import { Dashboard } from './dashboard/routes.js';
import { sendError, sendJson } from './http.js';
import { checkHost, isLoopback } from './hostCheck.js';
import { chatCompletions, listModels } from './openai.js';
import { settingsRecord } from './openaiRequest.js';

export interface ServeOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  modelId: string;
  limits: ServerLimits;
  batch: BatcherOptions;
  startup: Settings;
  /** Milliseconds running answers get to finish at shutdown; after that they are cut (and logged as such). */
  graceMs?: number;
}

export interface RunningServer {
  url: string;
  ctx: ServerContext;
  server: Server;
  /** Stop: refuse new requests, finish running ones, close the run (the model stays loaded). */
  close: () => Promise<void>;
}

export const DEFAULT_LIMITS: ServerLimits = { maxBody: 1 << 20, maxTokens: 512, maxMessages: 256, maxPromptTokens: 4096 };
export const DEFAULT_GRACE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export async function startServer(model: SteerableModel, directions: Directions, run: RunDir, opts: ServeOptions): Promise<RunningServer> {
  const batcher = new Batcher(model, opts.batch);
  const counts: Record<string, number> = {};
  const ctx: ServerContext = {
    model,
    modelId: opts.modelId,
    startedAt: Math.floor(Date.now() / 1000),
    batcher,
    directions,
    startup: opts.startup,
    limits: opts.limits,
    log: (stream, record) => {
      counts[stream] = (counts[stream] ?? 0) + 1;
      run.append(stream, record);
    },
    stopping: false,
  };
  directions.plan(opts.startup, 'start-up settings');
  const dashboard = new Dashboard(ctx);
  const hostCheck = isLoopback(opts.host);

  const route = async (req: IncomingMessage, res: ServerResponse, method: string, path: string, note: RequestNote): Promise<void> => {
    if (hostCheck) checkHost(req.headers.host);
    if (method === 'GET' && path === '/v1/models') return listModels(ctx, res);
    if (path === '/v1/chat/completions' || path === '/v1/completions') {
      if (method !== 'POST') throw new RequestError('POST only', 405);
      return path === '/v1/completions' ? completions(ctx, req, res, note) : chatCompletions(ctx, req, res, note);
    }
    if (method === 'GET' && path === '/health') return sendJson(res, 200, { ok: true, batcher: batcher.stats });
    if (await dashboard.handle(req, res, path, note)) return;
    throw new RequestError(`${method} ${path}: not found`, 404);
  };

  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const t0 = performance.now();
    const at = new Date().toISOString();
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const note: RequestNote = {};
    const handled = (async () => {
      try {
        await route(req, res, method, path, note);
      } catch (e) {
        if (!(e instanceof RequestError)) ctx.log('errors', { method, path, error: e instanceof Error ? e.stack ?? e.message : String(e), at });
        note['error'] = e instanceof Error ? e.message : String(e);
        sendError(res, e);
      }
      // One line per request, whatever it was and however it ended (refusals and 500s included).
      ctx.log('requests', { method, path, status: res.statusCode, ms: Math.round(performance.now() - t0), at, ...note });
    })();
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  });
  server.requestTimeout = 0; // long streamed answers
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  run.manifest.config['url'] = url;
  run.manifest.config['startup'] = settingsRecord(opts.startup);
  run.save();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      server.close();
      const idle = batcher.close();
      const graceOver = await Promise.race([idle.then(() => false), sleep(opts.graceMs ?? DEFAULT_GRACE_MS).then(() => true)]);
      if (graceOver) ctx.stopping = true; // running answers end at their next token
      await idle;
      // Handlers write their log lines once their answers end; a request still sending its body
      // is cut off by closing the connections.
      await Promise.race([Promise.all(inFlight), sleep(1000)]);
      server.closeAllConnections();
      await Promise.race([Promise.all(inFlight), sleep(1000)]);
      run.finish({ requests: counts, batcher: { ...batcher.stats }, cutAtShutdown: graceOver });
    })());
  return { url, ctx, server, close };
}

/** Close on SIGINT / SIGTERM, then run `after` (release the model) and exit. */
export function closeOnSignals(running: RunningServer, after: () => Promise<void>): void {
  const stop = (signal: string) => {
    process.stderr.write(`\n${signal}: finishing running answers, then stopping\n`);
    void running
      .close()
      .then(after)
      .then(
        () => process.exit(0),
        (e) => {
          process.stderr.write(`persona serve: ${e instanceof Error ? e.message : String(e)}\n`);
          process.exit(1);
        },
      );
  };
  stopOnSignals(stop);
}
