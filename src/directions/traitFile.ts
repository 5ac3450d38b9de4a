// Loads and validates a persona-vectors trait file:
//   {"instruction":[{"pos","neg"} x5], "questions":[...], "eval_prompt":"...{question}...{answer}...",
//    "eval_questions"?: [...], "antonym"?: "..."}
// Errors name the file and the field at fault, because a malformed trait file otherwise surfaces
// much later as an odd prompt or an empty extraction set.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseJson } from '../io/json.js';

export interface TraitInstruction {
  pos: string;
  neg: string;
}

export interface TraitFile {
  /** Trait name: the file name without .json. */
  trait: string;
  instruction: TraitInstruction[];
  /** Extraction questions. */
  questions: string[];
  /** Held-out evaluation questions (empty when the file has none). */
  evalQuestions: string[];
  evalPrompt: string;
  /** Opposite adjective for the negative system prompt; "helpful" when the file has none. */
  antonym: string;
  /** Adjective for the positive system prompt (our extension, for traits named by a noun such as
   * "openness"); the trait name when the file has none, as in the paper's files. */
  adjective: string;
}

export class TraitFileError extends Error {
  override name = 'TraitFileError';
}

function stringArray(value: unknown, where: string, field: string, minLength: number): string[] {
  if (!Array.isArray(value)) throw new TraitFileError(`${where}: ${field} must be an array of strings`);
  value.forEach((item, i) => {
    if (typeof item !== 'string' || item.trim() === '') throw new TraitFileError(`${where}: ${field}[${i}] must be a non-empty string`);
  });
  if (value.length < minLength) throw new TraitFileError(`${where}: ${field} must have at least ${minLength} entries (has ${value.length})`);
  return value as string[];
}

/** Validates parsed JSON; `where` (a path) prefixes every error message. */
export function parseTraitFile(json: unknown, where: string, trait = basename(where).replace(/\.json$/, '')): TraitFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TraitFileError(`${where}: top level must be a JSON object`);
  const o = json as Record<string, unknown>;
  if (!Array.isArray(o.instruction)) throw new TraitFileError(`${where}: instruction must be an array of {pos, neg}`);
  if (o.instruction.length === 0) throw new TraitFileError(`${where}: instruction must not be empty`);
  const instruction = o.instruction.map((item: unknown, i: number): TraitInstruction => {
    if (typeof item !== 'object' || item === null) throw new TraitFileError(`${where}: instruction[${i}] must be an object with pos and neg`);
    const { pos, neg } = item as Record<string, unknown>;
    if (typeof pos !== 'string' || pos.trim() === '') throw new TraitFileError(`${where}: instruction[${i}].pos must be a string`);
    if (typeof neg !== 'string' || neg.trim() === '') throw new TraitFileError(`${where}: instruction[${i}].neg must be a string`);
    return { pos, neg };
  });
  const questions = stringArray(o.questions, where, 'questions', 1);
  const evalQuestions = o.eval_questions === undefined ? [] : stringArray(o.eval_questions, where, 'eval_questions', 1);
  const overlap = evalQuestions.filter((q) => questions.includes(q));
  if (overlap.length > 0) throw new TraitFileError(`${where}: eval_questions must not repeat questions (e.g. "${overlap[0]}")`);
  if (typeof o.eval_prompt !== 'string') throw new TraitFileError(`${where}: eval_prompt must be a string`);
  for (const slot of ['{question}', '{answer}']) {
    if (!o.eval_prompt.includes(slot)) throw new TraitFileError(`${where}: eval_prompt must contain ${slot}`);
  }
  for (const field of ['antonym', 'adjective']) {
    if (o[field] !== undefined && (typeof o[field] !== 'string' || (o[field] as string).trim() === '')) {
      throw new TraitFileError(`${where}: ${field} must be a non-empty string`);
    }
  }
  return {
    trait, instruction, questions, evalQuestions, evalPrompt: o.eval_prompt,
    antonym: (o.antonym as string | undefined) ?? 'helpful',
    adjective: (o.adjective as string | undefined) ?? trait,
  };
}

/** Reads and validates data/traits/<trait>.json (or any path). */
export function loadTraitFile(path: string): TraitFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TraitFileError(`${path}: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = parseJson(text, path);
  } catch (e) {
    throw new TraitFileError((e as Error).message);
  }
  return parseTraitFile(json, path);
}

/** "You are a/an {adjective} assistant. {instruction}" for a trait file's instruction pair. */
export function traitSystemPrompt(file: TraitFile, polarity: 'pos' | 'neg', index: number): string {
  const pair = file.instruction[index];
  if (!pair) throw new TraitFileError(`${file.trait}: no instruction[${index}] (has ${file.instruction.length})`);
  const adjective = polarity === 'pos' ? file.adjective : file.antonym;
  return `You are ${/^[aeiou]/i.test(adjective) ? 'an' : 'a'} ${adjective} assistant. ${pair[polarity]}`;
}

/**
 * persona_vectors' own rule (eval_persona.py): "You are {a|an} {name} assistant. {instruction}" with
 * name = the trait for pos and "helpful" for neg unless --assistant_name says otherwise; our
 * `adjective` / `antonym` extensions are not theirs, so they are ignored here.
 */
export function personaVectorsSystemPrompt(file: TraitFile, polarity: 'pos' | 'neg', index: number, assistantName?: string): string {
  return traitSystemPrompt({ ...file, adjective: assistantName ?? file.trait, antonym: assistantName ?? 'helpful' }, polarity, index);
}
