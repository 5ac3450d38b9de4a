// One answer of either OpenAI endpoint: generated through the batcher, sent whole (JSON) or as
// server-sent chunks ending in `data: [DONE]`, and described in its requests.jsonl line. The two
// endpoints differ only in the shape of their choices (`Shape`).

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { generateAnswer, type Answer, type Delta } from './answer.js';
import { RequestError } from './controls.js';
import type { RequestNote, ServerContext } from './context.js';
import { openEventStream, sendJson } from './http.js';
import { settingsRecord, type SamplingFields } from './openaiRequest.js';

export interface Shape {
  idPrefix: string;
  /** `object` of the whole reply and of a streamed chunk. */
  object: string;
  chunkObject: string;
  /** The choice of the first streamed chunk, if the endpoint sends one before any token. */
  opening?: Record<string, unknown>;
  tokenChoice: (d: Delta) => Record<string, unknown>;
  /** The streamed chunk that carries the finish reason. */
  closingChoice: (finishReason: string) => Record<string, unknown>;
  /** The choice of a non-streamed reply. */
  wholeChoice: (a: Answer, withLogprobs: boolean) => Record<string, unknown>;
}

export interface AnswerJob {
  prompt: number[];
  fields: SamplingFields;
  /** Top logprobs per token; null = none. */
  logprobs: number | null;
  /** The request as its log line keeps it (besides the shared fields). */
  logged: Record<string, unknown>;
}

export async function serveAnswer(ctx: ServerContext, res: ServerResponse, note: RequestNote, job: AnswerJob, shape: Shape): Promise<void> {
  const r = job.fields;
  const { steering, ablation } = ctx.directions.plan(r.settings);
  const id = `${shape.idPrefix}-${randomUUID()}`;
  const base = { id, created: Math.floor(Date.now() / 1000), model: ctx.modelId };
  let gone = false;
  res.on('close', () => (gone = !res.writableFinished));
  note['id'] = id;
  note['request'] = {
    ...job.logged, stream: r.stream, max_tokens: r.maxTokens, temperature: r.temperature, top_p: r.topP, seed: r.seed, logprobs: job.logprobs, stop: r.stop, persona: settingsRecord(r.settings),
  };
  const common = {
    prompt: job.prompt,
    maxTokens: r.maxTokens,
    temperature: r.temperature,
    topP: r.topP,
    seed: r.seed,
    steering: () => steering,
    ablation,
    logprobs: job.logprobs,
    stop: r.stop,
    traits: r.readouts ? ctx.directions.traits : [],
    cancelled: () => gone || ctx.stopping,
  };
  const events = r.stream ? openEventStream(res) : null;
  const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) => events!.send({ ...base, object: shape.chunkObject, choices: [choice], ...extra });
  if (events && shape.opening) chunk(shape.opening);
  const answer = await generateAnswer(ctx.batcher, ctx.model.tokenizer, {
    ...common,
    ...(events ? { onDelta: (d: Delta) => chunk({ ...shape.tokenChoice(d), ...(d.proj ? { persona: { token: d.token, proj: d.proj } } : {}) }) } : {}),
  });
  const cut = answer.finishReason === 'cancelled';
  const use = usage(job.prompt.length, answer);
  note['response'] = {
    text: answer.text,
    finish_reason: cut ? (gone ? 'client_closed' : 'shutdown') : answer.finishReason,
    usage: use,
    ...(r.readouts ? readoutsOf(answer) : {}),
  };
  if (cut && !gone) {
    // The shutdown grace ran out: say so rather than pass a cut answer off as finished.
    const message = `the server stopped before this answer finished (${answer.tokens.length} tokens sent; shutdown grace over)`;
    if (!events) throw new RequestError(message, 503);
    events.send({ error: { message, type: 'server_error', code: 503 } });
    return events.end();
  }
  if (events) {
    chunk(shape.closingChoice(answer.finishReason), r.readouts ? { persona: readoutsOf(answer) } : {});
    if (r.includeUsage) events.send({ ...base, object: shape.chunkObject, choices: [], usage: use });
    events.send('[DONE]');
    events.end();
  } else if (!gone) {
    sendJson(res, 200, { ...base, object: shape.object, choices: [shape.wholeChoice(answer, job.logprobs !== null)], usage: use, ...(r.readouts ? { persona: readoutsOf(answer) } : {}) });
  }
}

function usage(promptTokens: number, a: Answer) {
  return { prompt_tokens: promptTokens, completion_tokens: a.tokens.length, total_tokens: promptTokens + a.tokens.length };
}

function readoutsOf(a: Answer) {
  return { lastPrompt: a.lastPrompt, responseMean: a.responseMean, perToken: a.perToken, tokens: a.tokenTexts };
}
