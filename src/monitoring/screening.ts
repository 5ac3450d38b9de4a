// Screening a finetuning dataset before training on it (persona vectors paper, section 5):
//   dP = proj(a(x, y)) - proj(a(x, y'))
// the response-mean projection of the dataset's answer y minus that of the base model's own answer
// y' to the same prompt x. A large positive dP flags a sample that would push the model along the
// trait. The base answers are generated once and cached in the run directory (stream
// 'base-answers'); rows are streamed in chunks, so memory does not grow with the dataset.

import { generate, type GenerateOptions } from '../generation/generate.js';
import type { SteerableModel } from '../model/steerableModel.js';
import { generateRemote, type RemoteGenerator } from '../generation/remote.js';
import { processDataset, scanDataset, templatePrefix, tokenizeRow, writeDatasetOutput, type RecordStore, type RowRecord } from './dataset.js';
import { projectExamples, validateSpecs, type ProjectionSpec } from './projections.js';

export interface ScreenOptions {
  /** Base answers from an OpenAI-compatible server instead of the local model. */
  generator?: RemoteGenerator | null;
  /** How the base model answers (default: greedy, 64 new tokens). */
  generation?: Omit<GenerateOptions, 'captureLayers' | 'onToken'>;
  /** Output dataset with the dP columns. */
  out: string;
  batchSize?: number;
  chunkRows?: number;
  topK?: number;
  bins?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ScreenSummary {
  rows: number;
  resumed: number;
  /** Per vector: mean dP and its parts over the rows measured (an empty dataset answer has no dP). */
  mean: Record<string, { dP: number; data: number; base: number }>;
  /** Rows whose dataset answer is empty: recorded with null dP, left out of means, top-k and histogram. */
  emptyAnswers: number;
  /** Per vector: the k rows with the largest dP. */
  top: Record<string, { index: number; line: number; dP: number }[]>;
  /** Per vector: dP histogram (bin edges has bins + 1 entries). */
  histogram: Record<string, { edges: number[]; counts: number[] }>;
}

/** Column names a vector spec adds. */
export const screenColumns = (name: string) => ({ dP: `dP.${name}`, data: `proj_data.${name}`, base: `proj_base.${name}` });

export async function screenDataset(model: SteerableModel, file: string, specs: Omit<ProjectionSpec, 'position'>[], store: RecordStore, opts: ScreenOptions): Promise<ScreenSummary> {
  const full: ProjectionSpec[] = specs.map((s) => ({ ...s, position: 'response-mean' }));
  validateSpecs(model, full);
  const prefix = templatePrefix(model.tokenizer);
  const scan = await scanDataset(file, prefix);
  const gen = { maxNewTokens: 64, ...opts.generation };

  // Base answers of an interrupted chunk (generated, not yet screened) are reused, not regenerated.
  const screened = await store.count('screening');
  const cached = new Map<number, string>();
  for await (const r of store.iterate<{ index: number; answer: string }>('base-answers')) if (r.index >= screened) cached.set(r.index, r.answer);

  const r = await processDataset(
    file,
    prefix,
    store,
    'screening',
    async (rows) => {
      const data = rows.map((row) => tokenizeRow(model.tokenizer, row));
      const todo = rows.map((row, i) => i).filter((i) => !cached.has(rows[i]!.index));
      if (todo.length) {
        const g = opts.generator
          ? await generateRemote(opts.generator, todo.map((i) => ({
              prompt: rows[i]!.prompt,
              maxNewTokens: gen.maxNewTokens,
              temperature: gen.sampling?.temperature ?? 0,
              topP: gen.sampling?.topP ?? 1,
              seed: gen.sampling?.seed ?? 0,
            })))
          : await generate(model, todo.map((i) => data[i]!.ids.slice(0, data[i]!.promptLength)), gen);
        todo.forEach((i, j) => {
          // An empty base answer has no response tokens to average; a space keeps the row measurable.
          const answer = g.text[j]!.length ? g.text[j]! : ' ';
          cached.set(rows[i]!.index, answer);
          store.append('base-answers', { index: rows[i]!.index, answer });
        });
      }
      const base = rows.map((row) => tokenizeRow(model.tokenizer, row, cached.get(row.index)!));
      const pd = await projectExamples(model, data, full, { batchSize: opts.batchSize });
      const pb = await projectExamples(model, base, full, { batchSize: opts.batchSize });
      return rows.map((row, i) => {
        const values: RowRecord['values'] = { base_answer: cached.get(row.index)! };
        for (const s of specs) {
          const c = screenColumns(s.name);
          const [d, b] = [pd[i]![s.name]!.proj as number | null, pb[i]![s.name]!.proj as number];
          Object.assign(values, { [c.dP]: d === null ? null : d - b, [c.data]: d, [c.base]: b });
        }
        cached.delete(row.index);
        return values;
      });
    },
    { chunkRows: opts.chunkRows, total: scan.rows, onProgress: opts.onProgress },
  );
  await writeDatasetOutput(file, prefix, store, 'screening', opts.out, ['base_answer', ...specs.flatMap((s) => Object.values(screenColumns(s.name)))]);
  return { ...(await summarize(store, specs.map((s) => s.name), opts.topK ?? 10, opts.bins ?? 20)), rows: r.rows, resumed: r.resumed };
}

/** Mean, top-k and histogram of dP from the records, in two streamed passes (no array of rows). */
export async function summarize(store: RecordStore, names: string[], k: number, bins: number): Promise<Omit<ScreenSummary, 'rows' | 'resumed'>> {
  const sum = Object.fromEntries(names.map((n) => [n, { dP: 0, data: 0, base: 0 }]));
  const top = Object.fromEntries(names.map((n) => [n, [] as { index: number; line: number; dP: number }[]]));
  const lo = Object.fromEntries(names.map((n) => [n, Infinity]));
  const hi = Object.fromEntries(names.map((n) => [n, -Infinity]));
  let count = 0;
  let empty = 0;
  for await (const rec of store.iterate<RowRecord>('screening')) {
    // Every vector reads the same answer, so an empty one is empty for all of them.
    if (rec.values[screenColumns(names[0]!).dP] === null) {
      empty++;
      continue;
    }
    count++;
    for (const n of names) {
      const c = screenColumns(n);
      const d = rec.values[c.dP] as number;
      sum[n]!.dP += d;
      sum[n]!.data += rec.values[c.data] as number;
      sum[n]!.base += rec.values[c.base] as number;
      lo[n] = Math.min(lo[n]!, d);
      hi[n] = Math.max(hi[n]!, d);
      const t = top[n]!;
      if (t.length < k || d > t.at(-1)!.dP) {
        t.push({ index: rec.index, line: rec.line, dP: d });
        t.sort((a, b) => b.dP - a.dP);
        if (t.length > k) t.pop();
      }
    }
  }
  const histogram = Object.fromEntries(
    names.map((n) => {
      const width = (hi[n]! - lo[n]!) / bins || 1;
      return [n, { edges: Array.from({ length: bins + 1 }, (_, i) => lo[n]! + i * width), counts: new Array<number>(bins).fill(0) }];
    }),
  );
  for await (const rec of store.iterate<RowRecord>('screening')) {
    if (rec.values[screenColumns(names[0]!).dP] === null) continue;
    for (const n of names) {
      const h = histogram[n]!;
      const width = h.edges[1]! - h.edges[0]!;
      h.counts[Math.min(bins - 1, Math.floor(((rec.values[screenColumns(n).dP] as number) - h.edges[0]!) / width))]!++;
    }
  }
  const mean = Object.fromEntries(names.map((n) => [n, { dP: sum[n]!.dP / count, data: sum[n]!.data / count, base: sum[n]!.base / count }]));
  return { mean, top, histogram, emptyAnswers: empty };
}
