// Prompt/answer datasets as the persona_vectors projection step reads them, streamed row by row:
//   CSV   columns `prompt` and `answer`. A prompt that starts like the model's chat template output
//         is taken as already templated (persona_vectors writes its CSVs so); any other prompt is
//         the user message, with the `system` column (when there is one) as the system prompt.
//   JSONL one object per line with `messages`: messages[:-1] are templated with the generation
//         prompt, the last message's content is the answer.
// Every other column / field is carried through untouched, so outputs can keep it.

import { parseJsonLine } from '../io/json.js';
import { AtomicWriter } from '../io/atomic.js';
import { iterateLines } from '../io/lines.js';
import { csvLine, CsvError, iterateCsv, requireColumn } from '../io/csv.js';
import type { ChatMessage, Tokenizer } from '../model/tokenizer.js';
import { tokenizeText, type TokenizedExample } from '../activations/positions.js';

export { templatePrefix } from '../activations/positions.js';

export type DatasetFormat = 'csv' | 'jsonl';

export class DatasetError extends Error {}

export interface DatasetRow {
  /** 0-based position among the data rows. */
  index: number;
  /** 1-based line of the file where the row starts. */
  line: number;
  /** The row as read: CSV cells, or the JSON object. */
  fields: Record<string, unknown>;
  prompt: { messages: ChatMessage[] } | { text: string };
  answer: string;
}

export function datasetFormat(file: string): DatasetFormat {
  if (/\.csv$/i.test(file)) return 'csv';
  if (/\.jsonl$/i.test(file)) return 'jsonl';
  throw new DatasetError(`${file}: unknown dataset format (expected .csv with prompt/answer columns or .jsonl with messages)`);
}

function jsonRow(file: string, line: number, text: string, index: number): DatasetRow {
  const at = `${file}:${line}`;
  let obj: unknown;
  try {
    obj = parseJsonLine(text, file, line);
  } catch (e) {
    throw new DatasetError((e as Error).message);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new DatasetError(`${at}: expected a JSON object with 'messages'`);
  const messages = (obj as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) throw new DatasetError(`${at}: field 'messages' is missing or not an array`);
  if (messages.length < 2) throw new DatasetError(`${at}: field 'messages' needs at least a prompt message and the answer (has ${messages.length})`);
  messages.forEach((m: unknown, i) => {
    const msg = m as Partial<ChatMessage> | null;
    if (!msg || typeof msg.role !== 'string' || typeof msg.content !== 'string') {
      throw new DatasetError(`${at}: field 'messages[${i}]' must be {"role": string, "content": string}`);
    }
  });
  // An empty answer (the last message) is a valid row: its response mean is null.
  const last = messages.at(-1) as ChatMessage;
  return { index, line, fields: obj as Record<string, unknown>, prompt: { messages: messages.slice(0, -1) as ChatMessage[] }, answer: last.content };
}

/**
 * Rows of a dataset, streamed (memory does not depend on the file's size). `templatePrefix` is
 * how the model's chat template output begins (see templatePrefix); CSV prompts starting with it
 * are used as they are.
 */
export async function* iterateDataset(file: string, templatePrefix = ''): AsyncGenerator<DatasetRow> {
  let index = 0;
  if (datasetFormat(file) === 'jsonl') {
    for await (const { line, text } of iterateLines(file)) {
      if (!text.trim()) continue;
      yield jsonRow(file, line, text, index++);
    }
    return;
  }
  let hasSystem = false;
  for await (const row of iterateCsv(file, (cols) => (hasSystem = cols.includes('system')))) {
    let prompt: string;
    let answer: string;
    try {
      prompt = requireColumn(file, row, 'prompt');
      // An empty answer is a valid row (a model that ended its turn at once): its response mean is null.
      answer = row.values['answer'] ?? requireColumn(file, row, 'answer');
    } catch (e) {
      throw new DatasetError((e as CsvError).message);
    }
    const templated = templatePrefix.length > 0 && prompt.startsWith(templatePrefix);
    const system = hasSystem ? row.values.system?.trim() : '';
    const messages: ChatMessage[] = [...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: prompt }];
    yield { index: index++, line: row.line, fields: row.values, prompt: templated ? { text: prompt } : { messages }, answer };
  }
}

/** The templated prompt text of a row (generation prompt included). */
export function promptText(tokenizer: Tokenizer, row: DatasetRow): string {
  return 'text' in row.prompt ? row.prompt.text : tokenizer.applyChatTemplate(row.prompt.messages, { addGenerationPrompt: true });
}

/** Prompt + answer ids of a row; `answer` replaces the row's own (screening's base answers). */
export function tokenizeRow(tokenizer: Tokenizer, row: DatasetRow, answer = row.answer): TokenizedExample {
  return tokenizeText(tokenizer, promptText(tokenizer, row), answer);
}

/**
 * Reads the whole dataset once without the model, so a malformed row fails before any work
 * starts; returns the row count and the CSV header (JSONL: null).
 */
export async function scanDataset(file: string, prefix = ''): Promise<{ format: DatasetFormat; rows: number; columns: string[] | null }> {
  const format = datasetFormat(file);
  let columns: string[] | null = null;
  let rows = 0;
  if (format === 'csv') {
    // The header alone (iterateCsv hands it over before the first row).
    for await (const _ of iterateCsv(file, (c) => (columns = c))) break;
    const missing = ['prompt', 'answer'].filter((c) => !columns!.includes(c));
    if (missing.length) throw new DatasetError(`${file}:1: no column ${missing.map((c) => `'${c}'`).join(' or ')} (columns: ${columns!.join(', ')})`);
  }
  for await (const _ of iterateDataset(file, prefix)) rows++;
  if (!rows) throw new DatasetError(`${file}: no data rows`);
  return { format, rows, columns };
}

/** One processed row in a run's records: its place in the dataset and the new values. */
export interface RowRecord {
  index: number;
  line: number;
  values: Record<string, number | number[] | string | null>;
}

/** The parts of a run directory that dataset processing uses (logs/runDir.ts RunDir). */
export interface RecordStore {
  append(stream: string, record: Record<string, unknown>): void;
  count(stream: string): Promise<number>;
  iterate<T>(stream: string): AsyncGenerator<T>;
  path(rel: string): string;
}

/**
 * Streams a dataset through `work` in chunks of `chunkRows`, appending one record per row to
 * `stream`. Rows already recorded (an interrupted run) are skipped, so a rerun resumes.
 */
export async function processDataset(
  file: string,
  prefix: string,
  store: RecordStore,
  stream: string,
  work: (rows: DatasetRow[]) => Promise<RowRecord['values'][]>,
  opts: { chunkRows?: number; total?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ rows: number; resumed: number }> {
  const chunkRows = opts.chunkRows ?? 64;
  const resumed = await store.count(stream);
  const total = opts.total ?? 0;
  let chunk: DatasetRow[] = [];
  let done = resumed;
  const flush = async () => {
    const values = await work(chunk);
    chunk.forEach((r, i) => store.append(stream, { index: r.index, line: r.line, values: values[i]! }));
    done += chunk.length;
    chunk = [];
    opts.onProgress?.(done, Math.max(total, done));
  };
  for await (const row of iterateDataset(file, prefix)) {
    if (row.index < resumed) continue;
    chunk.push(row);
    if (chunk.length >= chunkRows) await flush();
  }
  if (chunk.length) await flush();
  return { rows: done, resumed };
}

/**
 * The dataset again, in its own format, with every input column / field and the recorded values
 * as new ones (CSV: arrays as JSON text). Streamed, and written atomically.
 */
export async function writeDatasetOutput(file: string, prefix: string, store: RecordStore, stream: string, out: string, newColumns: string[]): Promise<void> {
  const format = datasetFormat(file);
  const w = new AtomicWriter(out);
  try {
    const records = store.iterate<RowRecord>(stream);
    let header = false;
    for await (const row of iterateDataset(file, prefix)) {
      const rec = (await records.next()).value as RowRecord | undefined;
      if (!rec || rec.index !== row.index) throw new DatasetError(`${store.path(`${stream}.jsonl`)}: no record for row ${row.index} (${file}:${row.line}); rerun to finish the run`);
      if (format === 'jsonl') {
        w.write(JSON.stringify({ ...row.fields, ...rec.values }) + '\n');
        continue;
      }
      const cols = Object.keys(row.fields);
      if (!header) w.write(csvLine([...cols, ...newColumns]));
      header = true;
      const cell = (v: unknown) => (Array.isArray(v) ? JSON.stringify(v) : (v as string | number | null));
      w.write(csvLine([...cols.map((c) => row.fields[c] as string), ...newColumns.map((c) => cell(rec.values[c]))]));
    }
    w.commit();
  } catch (e) {
    w.abort();
    throw e;
  }
}

/** Conversations to monitor: a .jsonl file of {"messages": [...]} lines (checked like datasets). */
export async function readConversations(file: string): Promise<{ line: number; messages: ChatMessage[] }[]> {
  if (!/\.jsonl$/i.test(file)) throw new DatasetError(`${file}: conversations are read from .jsonl (one {"messages": [...]} per line)`);
  const out: { line: number; messages: ChatMessage[] }[] = [];
  for await (const row of iterateDataset(file)) out.push({ line: row.line, messages: row.fields.messages as ChatMessage[] });
  if (!out.length) throw new DatasetError(`${file}: no conversations`);
  return out;
}
