// `persona serve`: one process, one model, two faces — the OpenAI-compatible API under /v1 and the
// dashboard at /. Requests share the model through the batcher; every request is logged to the
// run directory; SIGINT / SIGTERM stop taking requests, let running answers finish (up to a grace
// period), close the run and release the model.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { stopOnSignals, type RunDir } from '../logs/runDir.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import { RequestError, type Directions, type Settings } from './controls.js';
import type { ServerContext, ServerLimits } from './context.js';
import { Dashboard } from './dashboard/routes.js';
import { sendError, sendJson } from './http.js';
import { chatCompletions, listModels, settingsRecord } from './openai.js';

export interface ServeOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  modelId: string;
  limits: ServerLimits;
  batch: BatcherOptions;
  startup: Settings;
  /** Milliseconds running answers get to finish at shutdown. */
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
  };
  directions.plan(opts.startup, 'start-up settings');
  const dashboard = new Dashboard(ctx);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    void (async () => {
      try {
        if (method === 'GET' && path === '/v1/models') return listModels(ctx, res);
        if (path === '/v1/chat/completions') {
          if (method !== 'POST') throw new RequestError('POST only', 405);
          return await chatCompletions(ctx, req, res);
        }
        if (method === 'GET' && path === '/health') return sendJson(res, 200, { ok: true, batcher: batcher.stats });
        if (await dashboard.handle(req, res, path)) return;
        throw new RequestError(`${method} ${path}: not found`, 404);
      } catch (e) {
        const at = new Date().toISOString();
        if (!(e instanceof RequestError)) ctx.log('errors', { path, error: e instanceof Error ? e.stack ?? e.message : String(e), at });
        // Refused requests are logged too: the log holds every request the API received.
        else if (path.startsWith('/v1/')) ctx.log('requests', { endpoint: path, at, status: e.status, error: e.message });
        sendError(res, e);
      }
    })();
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
      const grace = new Promise<void>((r) => setTimeout(r, opts.graceMs ?? 10_000).unref());
      await Promise.race([batcher.close(), grace]);
      server.closeAllConnections();
      run.finish({ requests: counts, batcher: { ...batcher.stats } });
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
