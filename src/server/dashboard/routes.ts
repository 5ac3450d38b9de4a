// The dashboard's HTTP side: the page, plotly (served from node_modules: no CDN, works offline),
// and a small JSON / server-sent-events API over dashboard sessions.
//
//   GET  /                              the page
//   GET  /api/info                      model, traits (name, layer), probes (attribute, classes, layer), defaults
//   POST /api/sessions                  {system?} -> {id, controls}
//   POST /api/sessions/ID/controls      {steer: {trait: coeff}, pins: {attribute: class|null}, pinStrength} -> {controls}
//   POST /api/sessions/ID/messages      {content, maxTokens?, temperature?, seed?} -> events: user, token, turn, error
//                                       (the turn says where controls moved mid-answer: controlChanges)
//   GET  /api/sessions/ID/export        the conversation with all readouts, JSONL

import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { readWithProbes } from '../../experiments/probes/probeReading.js';
import { generateAnswer } from '../answer.js';
import { object, optional, RequestError } from '../controls.js';
import type { RequestNote, ServerContext } from '../context.js';
import { openEventStream, readJson, sendJson } from '../http.js';
import { DashboardSession, type ControlChange, type ProbeReadout, type TurnRecord } from './session.js';

const MAX_SESSIONS = 64;
const DEFAULT_SYSTEM = 'You are a helpful assistant.';
let page: string | null = null;
let plotly: string | null = null;

/** The page beside this module, or, when run from a tsc build (dist/ has no .html), the source one. */
function pagePath(): string {
  const here = join(import.meta.dirname, 'page.html');
  return existsSync(here) ? here : join(import.meta.dirname, '../../../../src/server/dashboard/page.html');
}

export class Dashboard {
  private readonly sessions = new Map<string, DashboardSession>();
  constructor(private readonly ctx: ServerContext) {}

  /** Handle a dashboard route; false when the path is not one of them. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, note: RequestNote): Promise<boolean> {
    const m = req.method ?? 'GET';
    if (m === 'GET' && (path === '/' || path === '/dashboard')) {
      page ??= readFileSync(pagePath(), 'utf8');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      return true;
    }
    if (m === 'GET' && path === '/assets/plotly.min.js') {
      plotly ??= readFileSync(createRequire(import.meta.url).resolve('plotly.js-dist-min'), 'utf8');
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=86400' }).end(plotly);
      return true;
    }
    if (m === 'GET' && path === '/api/info') {
      sendJson(res, 200, this.info());
      return true;
    }
    if (m === 'POST' && path === '/api/sessions') {
      const body = object(await readJson(req, this.ctx.limits.maxBody), 'request body');
      const s = this.open(optional(body, 'system', 'request', 'string') ?? DEFAULT_SYSTEM);
      sendJson(res, 200, { id: s.id, controls: s.controls });
      return true;
    }
    const route = /^\/api\/sessions\/([\w-]+)\/(controls|messages|export)$/.exec(path);
    if (!route) return false;
    const session = this.sessions.get(route[1]!);
    if (!session) throw new RequestError(`session ${route[1]}: not found (sessions are kept in memory; open a new one)`, 404);
    session.lastUsed = Date.now();
    note['session'] = session.id;
    if (m === 'POST' && route[2] === 'controls') {
      const controls = session.setControls(await readJson(req, this.ctx.limits.maxBody));
      this.ctx.log('dashboard', { session: session.id, event: 'controls', controls, at: new Date().toISOString() });
      sendJson(res, 200, { controls });
      return true;
    }
    if (m === 'POST' && route[2] === 'messages') {
      await this.message(session, await readJson(req, this.ctx.limits.maxBody), res, note);
      return true;
    }
    if (m === 'GET' && route[2] === 'export') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-disposition': `attachment; filename="conversation-${session.id}.jsonl"` });
      res.end(session.exportJsonl(this.ctx.modelId));
      return true;
    }
    return false;
  }

  info() {
    const d = this.ctx.directions;
    return {
      model: this.ctx.modelId,
      traits: d.traits.map((t) => ({ name: t.name, layer: t.layer })),
      probes: d.probes.map((p) => ({ attribute: p.attribute, classes: p.probe.meta.classes, layer: p.readLayer, accuracy: p.probe.meta.cv.mean[p.readLayer] })),
      pin: d.pinDefaults,
      maxTokens: this.ctx.limits.maxTokens,
    };
  }

  private open(system: string): DashboardSession {
    if (this.sessions.size >= MAX_SESSIONS) {
      // Forget the least recently used idle conversation.
      const idle = [...this.sessions.values()].filter((s) => !s.busy).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) throw new RequestError(`${MAX_SESSIONS} dashboard sessions are busy`, 503);
      this.sessions.delete(idle.id);
    }
    const s = new DashboardSession(this.ctx.directions, this.ctx.startup, system);
    this.sessions.set(s.id, s);
    return s;
  }

  private async message(session: DashboardSession, body: unknown, res: ServerResponse, note: RequestNote): Promise<void> {
    const o = object(body, 'request body');
    const content = optional(o, 'content', 'request', 'string');
    if (!content?.trim()) throw new RequestError('content: a non-empty message is required');
    const maxTokens = optional(o, 'maxTokens', 'request', 'number') ?? Math.min(64, this.ctx.limits.maxTokens);
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > this.ctx.limits.maxTokens) throw new RequestError(`maxTokens: an integer in 1..${this.ctx.limits.maxTokens}`);
    const temperature = optional(o, 'temperature', 'request', 'number') ?? 0;
    if (temperature < 0 || temperature > 2) throw new RequestError('temperature: outside 0..2');
    const seed = optional(o, 'seed', 'request', 'number') ?? 0;
    if (session.busy) throw new RequestError('this session is already answering', 409);
    session.busy = true;
    const events = openEventStream(res);
    let gone = false;
    res.on('close', () => (gone = !res.writableFinished));
    try {
      const messages = [...session.messages, { role: 'user', content }];
      const prompt = this.ctx.model.tokenizer.encodeChat(messages, { addGenerationPrompt: true });
      if (prompt.length > this.ctx.limits.maxPromptTokens) throw new RequestError(`the conversation is ${prompt.length} tokens, at most ${this.ctx.limits.maxPromptTokens}`);
      const controls = session.controls;
      const { ablation } = session.plan();
      // Where a control moved mid-answer: the call that produces token n is asked with n.
      const controlChanges: ControlChange[] = [];
      let inForce = session.steering();
      const steering = (tokensSoFar: number) => {
        const now = session.steering();
        if (now !== inForce) controlChanges.push({ fromToken: tokensSoFar, controls: session.controls });
        inForce = now;
        return now;
      };
      // The model's picture of the user after this message, read under the pins in force.
      const userModel: Record<string, ProbeReadout> = {};
      if (this.ctx.directions.probes.length) {
        const plan = session.pinPlan();
        const [read] = await this.ctx.batcher.withModel(() =>
          readWithProbes(this.ctx.model, this.ctx.directions.probes.map((p) => p.probe), [messages], { steering: plan.steering, ablation: plan.ablation }),
        );
        for (const r of read!) userModel[r.attribute] = { layer: r.layer, probabilities: r.probabilities, predicted: r.predicted };
      }
      events.send({ turn: session.turns.length, userModel }, 'user');
      const answer = await generateAnswer(this.ctx.batcher, this.ctx.model.tokenizer, {
        prompt,
        maxTokens,
        temperature,
        topP: 1,
        seed,
        steering,
        ablation,
        logprobs: null,
        stop: [],
        traits: this.ctx.directions.traits,
        cancelled: () => gone || this.ctx.stopping,
        onDelta: (d) => events.send({ index: d.index, text: d.text, token: d.token, proj: d.proj ?? null }, 'token'),
      });
      const turn: TurnRecord = {
        turn: session.turns.length,
        user: content,
        assistant: answer.text,
        controls,
        controlChanges,
        userModel,
        lastPrompt: answer.lastPrompt,
        responseMean: answer.responseMean,
        tokens: answer.tokenTexts,
        perToken: answer.perToken,
        finishReason: answer.finishReason === 'cancelled' ? (gone ? 'client_closed' : 'shutdown') : answer.finishReason,
      };
      session.messages.push({ role: 'user', content }, { role: 'assistant', content: answer.text });
      session.turns.push(turn);
      this.ctx.log('dashboard', { session: session.id, event: 'turn', at: new Date().toISOString(), ...turn });
      events.send(turn, 'turn');
    } catch (e) {
      note['error'] = e instanceof Error ? e.message : String(e);
      events.send({ message: note['error'] }, 'error');
    } finally {
      session.busy = false;
      events.end();
    }
  }
}
