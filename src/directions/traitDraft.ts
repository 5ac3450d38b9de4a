// Drafts a persona-vectors trait file for a new trait by asking an LLM behind an OpenAI-compatible
// endpoint, as the paper does: from a trait name and a one-paragraph description, get 5 pos/neg
// instruction pairs, a pool of questions and a judge rubric, as strict JSON. The question pool is
// split deterministically (seeded) into extraction `questions` and held-out `eval_questions`.
// A draft is a starting point: read it before extracting a vector from it.

import { writeJsonAtomic } from '../io/atomic.js';
import { chatCompletion, type OpenAIEndpoint } from '../judges/openaiJudge.js';
import { parseTraitFile, TraitFileError } from './traitFile.js';
import { createRng } from '../world/rng.js';

/** The on-disk layout of data/traits/<trait>.json (the paper's public format, plus antonym). */
export interface TraitFileJson {
  antonym: string;
  instruction: { pos: string; neg: string }[];
  questions: string[];
  eval_questions: string[];
  eval_prompt: string;
}

export interface DraftTraitOptions {
  /** Trait name as it will appear in "You are a/an {trait} assistant", e.g. "sarcastic". */
  trait: string;
  /** What the trait means, in a sentence or a paragraph; the model builds everything from it. */
  description: string;
  endpoint: OpenAIEndpoint;
  /** Questions to ask for in total; half go to eval_questions. Default 40 (20 + 20). */
  nQuestions?: number;
  /** Seeds the extraction/eval split and is passed to the endpoint. Default 0. */
  seed?: number;
}

export const INSTRUCTION_PAIRS = 5;
export const DEFAULT_QUESTION_COUNT = 40;

export class TraitDraftError extends Error {
  override name = 'TraitDraftError';
  constructor(
    message: string,
    /** The field at fault, e.g. "eval_prompt" or "instruction[2].neg"; undefined when the whole reply is unusable. */
    readonly field: string | undefined,
    /** The model's full reply text. */
    readonly reply: string,
  ) {
    super(message);
  }
}

// Our own wording of the three-step trait-data generation prompt from the persona-vectors paper.
export function draftPrompt(trait: string, description: string, nQuestions: number): string {
  return `You are helping build a dataset for studying how a language model expresses a personality trait. Given one trait, write system-prompt instructions, user questions and a grading rubric for it.

<trait>${trait}</trait>
<trait_description>${description}</trait_description>

Step 1 - instructions. Write exactly ${INSTRUCTION_PAIRS} pairs. In each pair, "pos" is a system-prompt instruction telling an assistant to show the trait strongly, and "neg" is an instruction telling it to avoid the trait and show the opposite behaviour instead. Keep the two halves of a pair parallel in wording, so that they differ only in the trait. Vary the pairs: each should describe a different facet of the trait.

Step 2 - antonym. Give one adjective (or short phrase) for the opposite of the trait, to fill "You are a/an ___ assistant." for the negative instructions.

Step 3 - questions. Write ${nQuestions} distinct questions a user might ask a general-purpose assistant, on varied everyday topics, that leave room for the trait to show when the assistant follows a "pos" instruction. Do not ask for the trait directly in the question; a neutral assistant should be able to answer each one in a neutral way. No two questions should be near-duplicates.

Step 4 - rubric. Write an evaluation prompt for a judge model that sees one question and one answer. It must contain the literal placeholders {question} and {answer} exactly once each, say what the trait looks like (consistent with your instructions above), tell the judge to reply REFUSAL if the answer clearly refuses to respond, and otherwise to reply with a single number from 0 (trait not present at all) to 100 (trait strongly present) and nothing else.

Reply with one JSON object and nothing else, in exactly this shape:
{
  "instruction": [{"pos": "...", "neg": "..."}, ... ${INSTRUCTION_PAIRS} pairs],
  "antonym": "...",
  "questions": ["...", ... ${nQuestions} questions],
  "eval_prompt": "... {question} ... {answer} ..."
}`;
}

/** The JSON object in a model reply: the whole reply, a ```json fenced block, or the outermost {...}. */
export function extractJsonObject(reply: string): unknown {
  const candidates: string[] = [reply.trim()];
  const fenced = /```(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)```/.exec(reply);
  if (fenced) candidates.push(fenced[1]!.trim());
  const first = reply.indexOf('{');
  const last = reply.lastIndexOf('}');
  if (first >= 0 && last > first) candidates.push(reply.slice(first, last + 1));
  for (const c of candidates) {
    try {
      return JSON.parse(c);
    } catch {
      // try the next reading
    }
  }
  throw new TraitDraftError(`reply is not JSON (nor does it contain a JSON object): ${quote(reply)}`, undefined, reply);
}

/** Asks the endpoint for a trait file and returns it validated; throws TraitDraftError when unusable. */
export async function draftTraitFile(opts: DraftTraitOptions): Promise<TraitFileJson> {
  const nQuestions = opts.nQuestions ?? DEFAULT_QUESTION_COUNT;
  if (!Number.isInteger(nQuestions) || nQuestions < 4) throw new Error(`draftTraitFile: nQuestions must be an integer >= 4 (got ${nQuestions})`);
  if (opts.trait.trim() === '') throw new Error('draftTraitFile: trait must not be empty');
  const seed = opts.seed ?? 0;
  // A full trait file is a few thousand tokens; the judge's 60 s default is too short for that.
  const endpoint = { ...opts.endpoint, timeoutMs: opts.endpoint.timeoutMs ?? 300_000 };
  const body = await chatCompletion(endpoint, {
    messages: [{ role: 'user', content: draftPrompt(opts.trait, opts.description, nQuestions) }],
    response_format: { type: 'json_object' },
    temperature: 0.7,
    max_tokens: 8192,
    seed,
  });
  const { content, finishReason } = replyContent(body);
  const where = `draft of trait "${opts.trait}" from ${opts.endpoint.model}`;
  try {
    return traitFileFromReply(content, { trait: opts.trait, nQuestions, seed, where });
  } catch (e) {
    if (e instanceof TraitDraftError && finishReason === 'length') {
      throw new TraitDraftError(`${e.message}\n(the reply was cut off at max_tokens)`, e.field, e.reply);
    }
    throw e;
  }
}

/**
 * Validates a model's reply text and turns it into a trait file: exactly 5 instruction pairs, an
 * antonym, eval_prompt with {question} and {answer}, and enough distinct questions, split by `seed`.
 */
export function traitFileFromReply(
  reply: string,
  opts: { trait: string; nQuestions?: number; seed?: number; where?: string },
): TraitFileJson {
  const nQuestions = opts.nQuestions ?? DEFAULT_QUESTION_COUNT;
  const where = opts.where ?? `draft of trait "${opts.trait}"`;
  const fail = (field: string, problem: string): never => {
    throw new TraitDraftError(`${where}: ${field} ${problem}\nreply: ${quote(reply, field)}`, field, reply);
  };

  const parsed = extractJsonObject(reply);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('(top level)', 'must be a JSON object');
  const o = parsed as Record<string, unknown>;
  // Check our stricter requirements on the fields the loader is lenient about, then the loader's own.
  if (o.instruction === undefined) fail('instruction', 'is missing');
  if (Array.isArray(o.instruction) && o.instruction.length !== INSTRUCTION_PAIRS) {
    fail('instruction', `must have exactly ${INSTRUCTION_PAIRS} {pos, neg} pairs (has ${o.instruction.length})`);
  }
  if (o.antonym === undefined) fail('antonym', 'is missing');
  if (typeof o.antonym !== 'string' || o.antonym.trim() === '') fail('antonym', 'must be a non-empty string');
  if (o.questions === undefined) fail('questions', 'is missing');
  if (o.eval_prompt === undefined) fail('eval_prompt', 'is missing');
  // Some models split the questions themselves; pool everything, then split our way.
  const pooled = Array.isArray(o.questions) && Array.isArray(o.eval_questions)
    ? { ...o, questions: [...o.questions, ...o.eval_questions], eval_questions: undefined }
    : o;
  const file = checked(pooled, opts.trait, where, reply);
  const pool = distinct([...file.questions, ...file.evalQuestions]).slice(0, nQuestions);
  const needed = Math.max(4, Math.ceil(nQuestions * 0.75));
  if (pool.length < needed) fail('questions', `must have at least ${needed} distinct questions of the ${nQuestions} asked for (has ${pool.length})`);

  const shuffled = createRng(opts.seed ?? 0).shuffle(pool);
  const nEval = Math.floor(pool.length / 2);
  const json: TraitFileJson = {
    antonym: (o.antonym as string).trim(),
    instruction: file.instruction.map((p) => ({ pos: p.pos.trim(), neg: p.neg.trim() })),
    questions: shuffled.slice(0, pool.length - nEval),
    eval_questions: shuffled.slice(pool.length - nEval),
    eval_prompt: file.evalPrompt,
  };
  checked(json, opts.trait, where, reply);
  return json;
}

/** Writes a trait file atomically (never half-written), after checking it loads. */
export function writeTraitFile(path: string, json: TraitFileJson): void {
  parseTraitFile(json, path);
  writeJsonAtomic(path, json);
}

// --- helpers ---

function checked(json: unknown, trait: string, where: string, reply: string) {
  try {
    return parseTraitFile(json, where, trait);
  } catch (e) {
    if (!(e instanceof TraitFileError)) throw e;
    // TraitFileError messages read "<where>: <field> must ..."; recover the field for callers.
    const rest = e.message.startsWith(`${where}: `) ? e.message.slice(where.length + 2) : e.message;
    const field = /^[\w.[\]]+/.exec(rest)?.[0];
    throw new TraitDraftError(`${e.message}\nreply: ${quote(reply, field?.replace(/\[.*$/, ''))}`, field, reply);
  }
}

function replyContent(body: unknown): { content: string; finishReason: unknown } {
  const choice = (body as { choices?: { message?: { content?: unknown }; finish_reason?: unknown }[] } | null)?.choices?.[0];
  const content = choice?.message?.content;
  if (typeof content !== 'string' || content.trim() === '') {
    const raw = JSON.stringify(body) ?? String(body);
    throw new TraitDraftError(`endpoint reply has no choices[0].message.content: ${quote(raw)}`, undefined, raw);
  }
  return { content, finishReason: choice?.finish_reason };
}

function distinct(questions: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const q of questions) {
    const text = q.trim();
    const key = text.toLowerCase().replace(/\s+/g, ' ');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(text);
    }
  }
  return out;
}


/** A one-line snippet of the reply, centred on `"field"` when the reply mentions it. */
function quote(reply: string, field?: string): string {
  const flat = reply.replace(/\s+/g, ' ').trim();
  const at = field ? flat.indexOf(`"${field}"`) : -1;
  const start = at > 60 ? at - 60 : 0;
  const end = Math.min(flat.length, start + 300);
  return `"${start > 0 ? '…' : ''}${flat.slice(start, end)}${end < flat.length ? '…' : ''}"`;
}
