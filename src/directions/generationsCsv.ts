// Bring your own generations: persona vectors from the pos/neg CSV files persona_vectors' eval step
// writes (`question, prompt, answer, question_id, <trait>, coherence`; row i of the pos file pairs
// with row i of the neg file), without generating or judging again.
//
// Their filter (generate_vec.py): keep row i when pos[trait] >= t, neg[trait] < 100 - t, and both
// coherence >= 50 (t = 50 by default; a missing score never passes). Their `prompt` is the
// chat-templated prompt text; the activations read prompt + answer, prompt tokens first.
// When a prompt is not in this model's chat template (the generations came from another model
// or server), the conversation is rebuilt the way their eval step built it: the system prompt
// "You are {a|an} {trait|helpful} assistant. {instruction[k].pos|neg}" from the trait file (their
// names: the trait and "helpful", not our adjective/antonym extensions), with k
// from question_id `{trait}_{question}_{pos|neg}_{k}`, and the `question` as the user turn.

import { templatePrefix, tokenizeText } from '../activations/positions.js';
import { writeFileAtomic } from '../io/atomic.js';
import { csvLine, readCsv, requireColumn, type CsvRow } from '../io/csv.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ExtractExample } from '../activations/extract.js';
import type { GenerationRecord, PairedExample } from './personaExtract.js';
import { personaVectorsSystemPrompt, type TraitFile } from './traitFile.js';

export class GenerationsCsvError extends Error {}

export interface CsvPairFilter {
  /** t: pos >= t, neg < 100 - t (persona_vectors' --threshold). */
  threshold: number;
  coherence: number;
}

export const DEFAULT_CSV_FILTER: CsvPairFilter = { threshold: 50, coherence: 50 };

export interface CsvGenerations {
  pairs: PairedExample[];
  total: number;
  kept: number;
  /** Rows whose prompt was rebuilt from the trait file (not in this model's template). */
  rebuilt: number;
}

function score(file: string, row: CsvRow, column: string): number | null {
  const raw = (row.values[column] ?? '').trim();
  if (raw === '' || /^nan$/i.test(raw)) return null;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new GenerationsCsvError(`${file}:${row.line}: column '${column}' is '${raw}', not a number`);
  return v;
}

/** Reads and pairs the two files, applies their filter, and turns kept rows into examples. */
export function readGenerationsCsv(
  model: SteerableModel,
  posFile: string,
  negFile: string,
  traitColumn: string,
  trait: TraitFile | null,
  filter: CsvPairFilter = DEFAULT_CSV_FILTER,
): CsvGenerations {
  const pos = readCsv(posFile);
  const neg = readCsv(negFile);
  for (const [file, t] of [[posFile, pos], [negFile, neg]] as const) {
    const missing = ['question', 'prompt', 'answer', traitColumn, 'coherence'].filter((c) => !t.columns.includes(c));
    if (missing.length) throw new GenerationsCsvError(`${file}:1: no column ${missing.map((c) => `'${c}'`).join(', ')} (columns: ${t.columns.join(', ')})`);
  }
  if (pos.rows.length !== neg.rows.length) {
    throw new GenerationsCsvError(`${posFile} has ${pos.rows.length} rows but ${negFile} has ${neg.rows.length}: the files pair by row and must be the same length`);
  }
  const prefix = templatePrefix(model.tokenizer);
  let rebuilt = 0;
  const example = (file: string, row: CsvRow, polarity: 'pos' | 'neg'): ExtractExample => {
    const prompt = requireColumn(file, row, 'prompt');
    const answer = requireColumn(file, row, 'answer');
    if (prefix && prompt.startsWith(prefix)) {
      const t = tokenizeText(model.tokenizer, prompt, answer);
      return { promptIds: t.ids.slice(0, t.promptLength), responseIds: t.ids.slice(t.promptLength) };
    }
    const qid = row.values.question_id ?? '';
    const m = /_(pos|neg)_(\d+)$/.exec(qid);
    if (!trait || !m) {
      throw new GenerationsCsvError(
        `${file}:${row.line}: column 'prompt' is not in this model's chat template, and the system prompt cannot be rebuilt ` +
          (trait ? `(question_id '${qid}' is not {trait}_{i}_{pos|neg}_{k})` : '(give the trait file with --trait-file)'),
      );
    }
    if (m[1] !== polarity) throw new GenerationsCsvError(`${file}:${row.line}: question_id '${qid}' is a ${m[1]} row in the ${polarity} file`);
    rebuilt++;
    return {
      messages: [
        { role: 'system', content: personaVectorsSystemPrompt(trait, polarity, Number(m[2])) },
        { role: 'user', content: requireColumn(file, row, 'question') },
      ],
      response: answer,
    };
  };
  const pairs: PairedExample[] = [];
  pos.rows.forEach((p, i) => {
    const n = neg.rows[i]!;
    const [pt, nt, pc, nc] = [score(posFile, p, traitColumn), score(negFile, n, traitColumn), score(posFile, p, 'coherence'), score(negFile, n, 'coherence')];
    const keep = pt !== null && nt !== null && pc !== null && nc !== null && pt >= filter.threshold && nt < 100 - filter.threshold && pc >= filter.coherence && nc >= filter.coherence;
    if (keep) pairs.push({ pos: example(posFile, p, 'pos'), neg: example(negFile, n, 'neg') });
  });
  if (!pairs.length) throw new GenerationsCsvError(`${posFile} / ${negFile}: no row pair passed the filter (pos ${traitColumn} >= ${filter.threshold}, neg < ${100 - filter.threshold}, coherence >= ${filter.coherence})`);
  return { pairs, total: pos.rows.length, kept: pairs.length, rebuilt };
}

/**
 * Writes an extraction run's answers as persona_vectors' pos/neg CSV pair (row i of one pairs with
 * row i of the other; prompt = the chat-templated prompt, as their eval step writes it), so the same
 * generations can be read by their generate_vec.py or by `persona extract --from-csv`.
 */
export function writeGenerationsCsv(
  model: SteerableModel,
  trait: string,
  records: GenerationRecord[],
  posFile: string,
  negFile: string,
): number {
  const byKey = new Map(records.map((r) => [r.key, r]));
  const header = ['question', 'prompt', 'answer', 'question_id', trait, 'coherence'];
  const lines = { pos: [csvLine(header)], neg: [csvLine(header)] };
  for (const p of records) {
    if (p.polarity !== 'pos') continue;
    const n = byKey.get(`neg:${p.instruction}:${p.question}:${p.sample}`);
    if (!n) continue;
    for (const r of [p, n]) {
      const prompt = model.tokenizer.applyChatTemplate([{ role: 'system', content: r.system }, { role: 'user', content: r.user }], { addGenerationPrompt: true });
      lines[r.polarity].push(csvLine([r.user, prompt, r.answer, `${trait}_${r.question}_${r.polarity}_${r.instruction}`, r.trait, r.coherence]));
    }
  }
  writeFileAtomic(posFile, lines.pos.join(''));
  writeFileAtomic(negFile, lines.neg.join(''));
  return lines.pos.length - 1;
}
