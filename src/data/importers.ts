// Importers from the formats researchers already have into labelled conversations: TalkTuner's
// one-conversation-per-text-file datasets and a plain CSV. Every row passes validateLabelled, so
// an imported dataset obeys the same rules as a hand-written JSONL file.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { readCsv, requireColumn, CsvError } from '../io/csv.js';
import {
  LABEL_CUES, LabelledDataError, validateLabelled,
  type LabelCue, type LabelledConversation, type LabelledMessage, type Role,
} from './labelledConversations.js';

// ---------------------------------------------------------------------------------------------
// TalkTuner (Chen et al. 2024): files named conversation_{id}_{attribute}_{label}.txt, e.g.
// conversation_12_age_older adult.txt or conversation_7_education_someschool.txt. The label is
// everything between the attribute and ".txt" and may contain spaces. The text is turns whose
// first line starts with "HUMAN:" / "ASSISTANT:" (older files: "### Human:" or "### User:" and
// "### Assistant:"); a turn runs until the next prefix.

/** TalkTuner's attribute names to ours: its socio-economic files say "socioeco"; we call it "ses". */
const TALKTUNER_ATTRIBUTES: Readonly<Record<string, string>> = {
  age: 'age',
  gender: 'gender',
  education: 'education',
  socioeco: 'ses',
  socioeconomic: 'ses',
};

const FILE_NAME = /^conversation_(\d+)_(age|gender|education|socioeco|socioeconomic)_(.+)\.txt$/;
const BAD_NAME = 'file name does not follow conversation_{id}_{age|gender|education|socioeco}_{label}.txt';

const PREFIXES: readonly { prefix: string; role: Role }[] = [
  { prefix: 'HUMAN:', role: 'user' },
  { prefix: 'ASSISTANT:', role: 'assistant' },
  { prefix: '### Human:', role: 'user' },
  { prefix: '### User:', role: 'user' },
  { prefix: '### Assistant:', role: 'assistant' },
];

export interface TalkTunerOptions {
  /** How the labels were revealed; TalkTuner's generated conversations hint rather than state. */
  cue?: LabelCue;
  /** Per attribute (our name), file-name label -> class, e.g. {education: {someschool: 'some school'}}. */
  labelMap?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** A system message to put first (TalkTuner's files have none). */
  system?: string;
}

/** The user/assistant turns of one TalkTuner text; `file` names errors. */
export function parseTalkTunerText(text: string, file: string): LabelledMessage[] {
  const messages: LabelledMessage[] = [];
  let current: { role: Role; lines: string[] } | null = null;
  const flush = (): void => {
    const content = current?.lines.join('\n').trim();
    // Generated files often end on a bare "### Human:" (the generator's stop prefix): drop empty turns.
    if (!current || !content) return;
    const last = messages[messages.length - 1];
    // Two turns of the same role in a row are one message, so roles alternate as chat templates expect.
    if (last && last.role === current.role) last.content += `\n${content}`;
    else messages.push({ role: current.role, content });
  };
  text.replace(/\r\n?/g, '\n').split('\n').forEach((raw, i) => {
    const line = raw.replace(/^[ \t]+/, '');
    const hit = PREFIXES.find((p) => line.startsWith(p.prefix));
    if (hit) {
      flush();
      current = { role: hit.role, lines: [line.slice(hit.prefix.length)] };
    } else if (current) {
      current.lines.push(raw);
    } else if (line.trim()) {
      throw new LabelledDataError(`${file}:${i + 1}: text before the first turn prefix (HUMAN:, ASSISTANT:, ### Human:, ### User:, ### Assistant:)`);
    }
  });
  flush();
  if (messages.length === 0) throw new LabelledDataError(`${file}: no turns (expected lines starting with HUMAN: / ASSISTANT: or ### Human: / ### Assistant:)`);
  return messages;
}

function importTalkTunerFile(file: string, options: TalkTunerOptions): LabelledConversation {
  const match = FILE_NAME.exec(basename(file));
  if (!match) {
    throw new LabelledDataError(`${file}: ${BAD_NAME}`);
  }
  const [, id, theirAttribute, label] = match;
  const attribute = TALKTUNER_ATTRIBUTES[theirAttribute!]!;
  const cls = options.labelMap?.[attribute]?.[label!] ?? label!;
  const turns = parseTalkTunerText(readFileSync(file, 'utf8'), file);
  const messages = options.system ? [{ role: 'system' as const, content: options.system }, ...turns] : turns;
  return validateLabelled(
    { messages, labels: { [attribute]: cls }, cue: options.cue ?? 'implicit', meta: { source: 'talktuner', id: Number(id), file } },
    file,
  );
}

/**
 * A TalkTuner dataset: a directory (every .txt file in it, ordered by id, then attribute and
 * label) or one file. A .txt file whose name does not follow the pattern is an error rather
 * than skipped, so a typo in a label cannot silently shrink a class.
 */
export function importTalkTuner(pathOrDir: string, options: TalkTunerOptions = {}): LabelledConversation[] {
  if (!statSync(pathOrDir).isDirectory()) return [importTalkTunerFile(pathOrDir, options)];
  const names = readdirSync(pathOrDir).filter((n) => n.endsWith('.txt') && statSync(join(pathOrDir, n)).isFile());
  // Names are checked before any file is read, so a misnamed file is the first error reported.
  const ids = new Map<string, number>();
  for (const n of names) {
    const m = FILE_NAME.exec(n);
    if (!m) throw new LabelledDataError(`${join(pathOrDir, n)}: ${BAD_NAME}`);
    ids.set(n, Number(m[1]));
  }
  names.sort((a, b) => ids.get(a)! - ids.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => importTalkTunerFile(join(pathOrDir, n), options));
}

// ---------------------------------------------------------------------------------------------
// Plain CSV. Columns:
//   text      one user message                      } exactly one of these two
//   messages  a JSON array of {role, content}        }
//   system    optional system prompt put first
//   cue       optional, one of LABEL_CUES (else options.cue, else 'implicit')
//   id        optional, kept as meta.id
//   every other column is a label column (attribute = column name), unless options.labelColumns
//   names them. An empty label cell means "not labelled for this attribute" (the attribute is
//   left out of that row's labels), which is not the same as the class "neutral".

const RESERVED = ['text', 'messages', 'system', 'cue', 'id'];

export interface CsvImportOptions {
  labelColumns?: readonly string[];
  cue?: LabelCue;
}

export function importCsv(file: string, options: CsvImportOptions = {}): LabelledConversation[] {
  let table: ReturnType<typeof readCsv>;
  try {
    table = readCsv(file);
  } catch (e) {
    throw e instanceof CsvError ? new LabelledDataError(e.message) : e;
  }
  const { columns, rows } = table;
  const hasText = columns.includes('text');
  const hasMessages = columns.includes('messages');
  if (hasText === hasMessages) throw new LabelledDataError(`${file}:1: needs exactly one of the columns 'text' or 'messages'`);
  const labelColumns = options.labelColumns ?? columns.filter((c) => !RESERVED.includes(c));
  for (const c of labelColumns) if (!columns.includes(c)) throw new LabelledDataError(`${file}:1: no label column '${c}'`);
  if (labelColumns.length === 0) throw new LabelledDataError(`${file}:1: no label columns (every column besides ${RESERVED.join(', ')} is one)`);

  return rows.map((row) => {
    const where = `${file}:${row.line}`;
    let messages: unknown[];
    try {
      if (hasText) {
        messages = [{ role: 'user', content: requireColumn(file, row, 'text') }];
      } else {
        const raw = requireColumn(file, row, 'messages');
        try {
          const parsed: unknown = JSON.parse(raw);
          if (!Array.isArray(parsed)) throw new LabelledDataError(`${where}: column 'messages' must be a JSON array of {role, content}`);
          messages = parsed;
        } catch (e) {
          if (e instanceof LabelledDataError) throw e;
          throw new LabelledDataError(`${where}: column 'messages' is not valid JSON: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      throw e instanceof CsvError ? new LabelledDataError(e.message) : e;
    }
    const system = row.values['system']?.trim();
    if (system) {
      if ((messages[0] as { role?: unknown } | undefined)?.role === 'system') {
        throw new LabelledDataError(`${where}: column 'system' is set but column 'messages' already starts with a system message`);
      }
      messages = [{ role: 'system', content: system }, ...messages];
    }
    const cueCell = row.values['cue']?.trim();
    const cue = cueCell || options.cue || 'implicit';
    if (!LABEL_CUES.includes(cue as LabelCue)) {
      throw new LabelledDataError(`${where}: column 'cue' must be one of ${LABEL_CUES.join(', ')} (got ${JSON.stringify(cue)})`);
    }
    const labels: Record<string, string> = {};
    for (const c of labelColumns) {
      const v = row.values[c]?.trim();
      if (v) labels[c] = v;
    }
    if (Object.keys(labels).length === 0) throw new LabelledDataError(`${where}: every label column (${labelColumns.join(', ')}) is empty`);
    const meta: Record<string, unknown> = { source: 'csv', file, line: row.line };
    const id = row.values['id']?.trim();
    if (id) meta['id'] = id;
    return validateLabelled({ messages, labels, cue, meta }, where);
  });
}
