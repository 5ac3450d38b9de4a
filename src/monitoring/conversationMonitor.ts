// Watching a conversation along persona vectors.
//
// Per assistant turn: the projection of the last prompt token before it (the paper's predictor of
// the coming answer: measured before a word is generated) and the mean projection over the turn's
// tokens (what the answer expressed), plus every token's projection.
// While generating: each token's projection streamed as it is produced, through a callback or an
// async iterator; step 0 reports the last prompt token, step t the token generated at step t-1
// (the state of a token exists once it has been fed). A token the loop never feeds (the last one
// when generation stops at the length limit) gets its value from the exact pass that follows.

import { tokenizeExample } from '../activations/positions.js';
import { projection } from '../directions/meanAccumulator.js';
import { generateChat, type GenerateOptions } from '../generation/generate.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage } from '../model/tokenizer.js';
import { projectExamples, validateSpecs, type ProjectionSpec } from './projections.js';

/** A vector at a layer; the position is implied by what is measured. */
export type MonitorSpec = Omit<ProjectionSpec, 'position'>;

export interface TurnProjection {
  /** Index of the assistant message in the conversation. */
  message: number;
  /** 0-based assistant turn. */
  turn: number;
  /** name -> projection of the last prompt token before this turn. */
  lastPrompt: Record<string, number>;
  /** name -> mean projection over this turn's tokens. */
  responseMean: Record<string, number>;
  /** The turn's tokens, decoded one by one. */
  tokens: string[];
  /** name -> one projection per token. */
  perToken: Record<string, number[]>;
}

const asSpecs = (specs: MonitorSpec[], position: ProjectionSpec['position'], tag: string): ProjectionSpec[] =>
  specs.map((s) => ({ ...s, name: `${tag}:${s.name}`, position }));

/** Every assistant turn of `messages` projected (the turns are batched in one pass). */
export async function monitorConversation(
  model: SteerableModel,
  messages: ChatMessage[],
  specs: MonitorSpec[],
  opts: { batchSize?: number; lastOnly?: boolean } = {},
): Promise<TurnProjection[]> {
  const assistant = messages.flatMap((m, i) => (m.role === 'assistant' && i > 0 && m.content.length ? [i] : []));
  const turns = opts.lastOnly ? assistant.slice(-1) : assistant;
  if (!turns.length) throw new Error('monitorConversation: no assistant turn with content after a prompt');
  const all = [...asSpecs(specs, 'last-prompt', 'lp'), ...asSpecs(specs, 'response-mean', 'rm'), ...asSpecs(specs, 'per-token', 'tok')];
  validateSpecs(model, all);
  const examples = turns.map((i) => tokenizeExample(model.tokenizer, messages.slice(0, i), messages[i]!.content));
  const values = await projectExamples(model, examples, all, opts);
  return turns.map((message, k) => {
    const v = values[k]!;
    const ex = examples[k]!;
    const turn = assistant.indexOf(message);
    const pick = <T>(tag: string) => Object.fromEntries(specs.map((s) => [s.name, v[`${tag}:${s.name}`]!.proj as T]));
    return {
      message,
      turn,
      lastPrompt: pick<number>('lp'),
      responseMean: pick<number>('rm'),
      perToken: pick<number[]>('tok'),
      tokens: ex.ids.slice(ex.promptLength).map((id) => model.tokenizer.decode([id])),
    };
  });
}

export type MonitorEvent =
  | { type: 'last-prompt'; proj: Record<string, number> }
  | { type: 'token'; index: number; id: number; text: string; proj: Record<string, number> }
  | { type: 'turn'; answer: string; turn: TurnProjection };

/**
 * Generates the next assistant turn of `messages`, reporting projections as tokens are produced
 * (onEvent), then the turn's exact per-turn projections (a 'turn' event, also returned).
 */
export async function generateMonitored(
  model: SteerableModel,
  messages: ChatMessage[],
  specs: MonitorSpec[],
  onEvent: (e: MonitorEvent) => void,
  gen: Omit<GenerateOptions, 'captureLayers' | 'onToken'> = {},
): Promise<{ answer: string; turn: TurnProjection }> {
  validateSpecs(model, asSpecs(specs, 'last-prompt', 'lp'));
  if (gen.maxNewTokens !== undefined && gen.maxNewTokens < 1) throw new Error(`generateMonitored: maxNewTokens must be at least 1, got ${gen.maxNewTokens}`);
  const layers = [...new Set(specs.map((s) => s.layer))];
  const H = model.hiddenSize;
  const stops = gen.stopIds ?? model.config.eosTokenIds;
  let firstProj: Record<string, number> = {};
  const produced: number[] = [];
  let reported = 0;
  const projAt = (hidden: Map<number, Float32Array>) =>
    Object.fromEntries(specs.map((s) => [s.name, projection(hidden.get(s.layer)!.subarray(0, H), s.vector)]));
  const r = await generateChat(model, [messages], {
    ...gen,
    captureLayers: layers,
    onToken: ({ step, tokens, hidden }) => {
      const proj = projAt(hidden);
      if (step === 0) {
        firstProj = proj;
        onEvent({ type: 'last-prompt', proj });
      } else {
        const id = produced[step - 1]!;
        onEvent({ type: 'token', index: step - 1, id, text: model.tokenizer.decode([id]), proj });
        reported = step;
      }
      if (tokens[0]! >= 0 && !stops.includes(tokens[0]!)) produced.push(tokens[0]!);
    },
  });
  const answer = r.text[0]!;
  if (!r.tokens[0]!.length) {
    // The model ended the turn at once: the predictor was read, there is no answer to average.
    const turn: TurnProjection = {
      message: messages.length,
      turn: messages.filter((m) => m.role === 'assistant').length,
      lastPrompt: firstProj,
      responseMean: Object.fromEntries(specs.map((s) => [s.name, NaN])),
      tokens: [],
      perToken: Object.fromEntries(specs.map((s) => [s.name, []])),
    };
    onEvent({ type: 'turn', answer, turn });
    return { answer, turn };
  }
  // The exact pass over prompt + answer (as a conversation file would be monitored).
  const [last] = (await monitorConversation(model, [...messages, { role: 'assistant', content: answer }], specs, { lastOnly: true })) as [TurnProjection];
  // Tokens the generation loop never fed: their values come from the exact pass.
  for (let i = reported; i < produced.length && i < last.tokens.length; i++) {
    onEvent({ type: 'token', index: i, id: produced[i]!, text: model.tokenizer.decode([produced[i]!]), proj: Object.fromEntries(specs.map((s) => [s.name, last.perToken[s.name]![i]!])) });
  }
  onEvent({ type: 'turn', answer, turn: last });
  return { answer, turn: last };
}

/** generateMonitored as an async iterator of its events. */
export async function* streamMonitored(
  model: SteerableModel,
  messages: ChatMessage[],
  specs: MonitorSpec[],
  gen: Omit<GenerateOptions, 'captureLayers' | 'onToken'> = {},
): AsyncGenerator<MonitorEvent> {
  const queue: MonitorEvent[] = [];
  let wake: (() => void) | null = null;
  let finished = false;
  let failure: unknown = null;
  const done = generateMonitored(model, messages, specs, (e) => {
    queue.push(e);
    wake?.();
  }, gen).then(
    () => void (finished = true),
    (e) => {
      failure = e;
      finished = true;
    },
  ).finally(() => wake?.());
  for (;;) {
    if (queue.length) {
      yield queue.shift()!;
      continue;
    }
    if (finished) break;
    await new Promise<void>((r) => (wake = r));
    wake = null;
  }
  await done;
  if (failure) throw failure;
}
