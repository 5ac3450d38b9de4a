// Labelled conversations: the one JSONL format every probe experiment reads. One object a line:
//   {"messages":[{"role":"system|user|assistant","content":"..."}, ...],
//    "labels":{"age":"child","gender":"neutral", ...},
//    "cue":"explicit|implicit|stereotype|contradicting|none",
//    "meta":{...}}
// labels maps any attribute name to a class; "neutral" means the conversation gives no cue for it.
// cue says how the labels were revealed. meta is free; for contradicting rows the convention is
// meta.attribute / meta.stated / meta.stereotype (the class stated explicitly and the class whose
// stereotype was added), which the Reading-Between-the-Prompts study needs.

import { readFileSync } from 'node:fs';
import { iterateLines } from '../io/lines.js';
import { parseJsonLine } from '../io/json.js';

export const ROLES = ['system', 'user', 'assistant'] as const;
export type Role = (typeof ROLES)[number];
export interface LabelledMessage {
  role: Role;
  content: string;
}

export const LABEL_CUES = ['explicit', 'implicit', 'stereotype', 'contradicting', 'none'] as const;
export type LabelCue = (typeof LABEL_CUES)[number];

/** The class of an attribute when the conversation gives no cue for it. */
export const NEUTRAL_LABEL = 'neutral';

export interface LabelledConversation {
  messages: LabelledMessage[];
  labels: Record<string, string>;
  cue: LabelCue;
  meta?: Record<string, unknown>;
}

export class LabelledDataError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks one parsed row and returns it typed; `where` prefixes every error ("data.jsonl:12").
 * Unknown top-level fields are rejected so a misspelt "label" does not silently drop the labels.
 */
export function validateLabelled(row: unknown, where: string): LabelledConversation {
  const fail = (field: string, problem: string): never => {
    throw new LabelledDataError(`${where}: field '${field}' ${problem}`);
  };
  if (!isObject(row)) throw new LabelledDataError(`${where}: a line must be a JSON object`);
  for (const key of Object.keys(row)) {
    if (!['messages', 'labels', 'cue', 'meta'].includes(key)) fail(key, 'is not part of the format (messages, labels, cue, meta)');
  }
  const { messages, labels, cue, meta } = row;
  if (!Array.isArray(messages)) fail('messages', 'must be an array of {role, content}');
  const msgs = messages as unknown[];
  if (msgs.length === 0) fail('messages', 'must not be empty');
  msgs.forEach((m, i) => {
    if (!isObject(m)) fail(`messages[${i}]`, 'must be an object {role, content}');
    const { role, content } = m as Record<string, unknown>;
    if (!ROLES.includes(role as Role)) fail(`messages[${i}].role`, `must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`);
    if (typeof content !== 'string') fail(`messages[${i}].content`, 'must be a string');
  });
  if (!msgs.some((m) => (m as LabelledMessage).role === 'user')) fail('messages', 'must contain at least one user message');

  if (!isObject(labels)) fail('labels', 'must be an object mapping attribute to class');
  const labelMap = labels as Record<string, unknown>;
  if (Object.keys(labelMap).length === 0) fail('labels', 'must name at least one attribute');
  for (const [attribute, cls] of Object.entries(labelMap)) {
    if (typeof cls !== 'string') fail(`labels.${attribute}`, 'must be a string');
    if (!(cls as string).trim()) fail(`labels.${attribute}`, 'must not be empty');
  }

  if (cue === undefined) fail('cue', `is required (one of ${LABEL_CUES.join(', ')})`);
  if (!LABEL_CUES.includes(cue as LabelCue)) fail('cue', `must be one of ${LABEL_CUES.join(', ')} (got ${JSON.stringify(cue)})`);
  if (meta !== undefined && !isObject(meta)) fail('meta', 'must be an object');

  const out: LabelledConversation = {
    messages: msgs.map((m) => ({ role: (m as LabelledMessage).role, content: (m as LabelledMessage).content })),
    labels: labelMap as Record<string, string>,
    cue: cue as LabelCue,
  };
  if (meta !== undefined) out.meta = meta as Record<string, unknown>;
  return out;
}

/** One JSONL line (1-based `line`) of `file`; blank lines are the caller's to skip. */
export function parseLabelledLine(text: string, file: string, line: number): LabelledConversation {
  let row: unknown;
  try {
    row = parseJsonLine(text, file, line);
  } catch (e) {
    throw new LabelledDataError((e as Error).message);
  }
  return validateLabelled(row, `${file}:${line}`);
}

/** The whole file (small and medium datasets). Blank lines are skipped. */
export function readLabelledJsonl(file: string): LabelledConversation[] {
  const rows: LabelledConversation[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
    if (text.trim()) rows.push(parseLabelledLine(text, file, i + 1));
  });
  return rows;
}

/** Rows one at a time with their 1-based line, so memory stays flat in the dataset size. */
export async function* iterateLabelledJsonl(file: string): AsyncGenerator<{ line: number; row: LabelledConversation }> {
  for await (const { line, text } of iterateLines(file)) if (text.trim()) yield { line, row: parseLabelledLine(text, file, line) };
}

/** One JSONL line (with its newline), in the field order of the format. */
export function labelledLine(row: LabelledConversation): string {
  const { messages, labels, cue, meta } = row;
  return `${JSON.stringify(meta === undefined ? { messages, labels, cue } : { messages, labels, cue, meta })}\n`;
}

export interface ClassCount {
  cls: string;
  count: number;
}

/**
 * Distinct classes of one attribute with their counts, sorted by class name. Rows without the
 * attribute are not counted; "neutral" only with includeNeutral.
 */
export function classesOf(rows: readonly LabelledConversation[], attribute: string, options: { includeNeutral?: boolean } = {}): ClassCount[] {
  const counts = new Map<string, number>();
  for (const row of rows) {
    const cls = row.labels[attribute];
    if (cls === undefined || (cls === NEUTRAL_LABEL && !options.includeNeutral)) continue;
    counts.set(cls, (counts.get(cls) ?? 0) + 1);
  }
  return [...counts.keys()].sort().map((cls) => ({ cls, count: counts.get(cls)! }));
}

/**
 * The conversation as the model reads it for a probe: everything up to and including the last
 * user message, i.e. without the trailing assistant reply(ies). Probes read the model's picture of
 * the user before it answers, and the reply would otherwise leak the label (a tailored answer).
 */
export function conversationForReading<M extends { role: string }>(messages: readonly M[]): M[] {
  let end = messages.length;
  while (end > 0 && messages[end - 1]!.role === 'assistant') end--;
  return messages.slice(0, end);
}
