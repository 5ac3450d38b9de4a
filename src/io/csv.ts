// CSV in and out, for datasets researchers already have (persona_vectors' prompt/answer files,
// probe labels). Parsing is csv-parse's (quotes, embedded newlines, BOM); what we add is rows that
// remember their line number, so a bad value is reported as FILE:LINE, column NAME.

import { createReadStream, readFileSync } from 'node:fs';
import { parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';

export interface CsvRow {
  /** 1-based line in the file where the record starts. */
  line: number;
  values: Record<string, string>;
}

export class CsvError extends Error {}

const OPTIONS = { bom: true, columns: false, relax_column_count: false, skip_empty_lines: true, info: true } as const;

function header(file: string, cells: string[]): string[] {
  const columns = cells.map((c) => c.trim());
  const seen = new Set<string>();
  columns.forEach((c, i) => {
    if (!c) throw new CsvError(`${file}:1: column ${i + 1} has an empty name`);
    if (seen.has(c)) throw new CsvError(`${file}:1: column '${c}' appears twice`);
    seen.add(c);
  });
  return columns;
}

function wrap(file: string, e: unknown): CsvError {
  const err = e as { message?: string; lines?: number };
  return new CsvError(`${file}${err.lines ? `:${err.lines}` : ''}: ${err.message ?? String(e)}`);
}

type Record_ = { record: string[]; info: { lines: number } };

/** The whole file at once (small files: probe label tables). */
export function readCsv(file: string): { columns: string[]; rows: CsvRow[] } {
  let records: Record_[];
  try {
    records = parseSync(readFileSync(file), OPTIONS) as unknown as Record_[];
  } catch (e) {
    throw wrap(file, e);
  }
  if (!records.length) throw new CsvError(`${file}: empty CSV (no header line)`);
  const columns = header(file, records[0]!.record);
  // info.lines is the line a record ends on; it starts one after the previous record's end.
  const rows = records.slice(1).map((r, i) => ({ line: records[i]!.info.lines + 1, values: Object.fromEntries(columns.map((c, j) => [c, r.record[j]!])) }));
  return { columns, rows };
}

/** Streamed rows, for datasets larger than memory; the header comes first via `onColumns`. */
export async function* iterateCsv(file: string, onColumns?: (columns: string[]) => void): AsyncGenerator<CsvRow> {
  const parser = createReadStream(file).pipe(parse(OPTIONS));
  let columns: string[] | undefined;
  let ended = 0;
  try {
    for await (const r of parser as AsyncIterable<Record_>) {
      const line = ended + 1;
      ended = r.info.lines;
      if (!columns) {
        columns = header(file, r.record);
        onColumns?.(columns);
        continue;
      }
      yield { line, values: Object.fromEntries(columns!.map((c, i) => [c, r.record[i]!])) };
    }
  } catch (e) {
    throw e instanceof CsvError ? e : wrap(file, e);
  }
  if (!columns) throw new CsvError(`${file}: empty CSV (no header line)`);
}

/** One CSV line (with its newline) for these cells, quoted where needed. */
export function csvLine(cells: (string | number | null | undefined)[]): string {
  return stringify([cells.map((c) => (c === null || c === undefined ? '' : String(c)))]);
}

/** The value of a required column, or an error naming file, line and column. */
export function requireColumn(file: string, row: CsvRow, column: string): string {
  const v = row.values[column];
  if (v === undefined) throw new CsvError(`${file}:${row.line}: no column '${column}'`);
  if (!v.trim()) throw new CsvError(`${file}:${row.line}: column '${column}' is empty`);
  return v;
}
