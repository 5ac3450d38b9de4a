// `persona project`: every row of a prompt/answer dataset projected on persona vectors, streamed in
// chunks through a run directory (records appended per row, resumable), then written back as the
// input with one new column per projection (`proj.<name>`) and its cosine (`cos.<name>`).

import type { SteerableModel } from '../model/steerableModel.js';
import { processDataset, scanDataset, templatePrefix, tokenizeRow, writeDatasetOutput, type RecordStore } from './dataset.js';
import { projectExamples, validateSpecs, type ProjectionSpec } from './projections.js';

export interface ProjectDatasetOptions {
  /** Output file (same format as the input). */
  out: string;
  /** Sequences per forward pass; default 8. */
  batchSize?: number;
  /** Rows read, processed and recorded together; bounds memory. Default 64. */
  chunkRows?: number;
  onProgress?: (done: number, total: number) => void;
}

export const projectionColumns = (specs: ProjectionSpec[]): string[] => specs.flatMap((s) => [`proj.${s.name}`, `cos.${s.name}`]);

export async function projectDataset(model: SteerableModel, file: string, specs: ProjectionSpec[], store: RecordStore, opts: ProjectDatasetOptions) {
  validateSpecs(model, specs);
  const prefix = templatePrefix(model.tokenizer);
  const scan = await scanDataset(file, prefix);
  const hasNull = (v: Record<string, unknown>) => Object.values(v).some((x) => x === null);
  const r = await processDataset(
    file,
    prefix,
    store,
    'projections',
    async (rows) => {
      const values = await projectExamples(model, rows.map((row) => tokenizeRow(model.tokenizer, row)), specs, { batchSize: opts.batchSize });
      return values.map((v) => Object.fromEntries(specs.flatMap((s) => [[`proj.${s.name}`, v[s.name]!.proj], [`cos.${s.name}`, v[s.name]!.cos]])));
    },
    { chunkRows: opts.chunkRows, total: scan.rows, onProgress: opts.onProgress },
  );
  await writeDatasetOutput(file, prefix, store, 'projections', opts.out, projectionColumns(specs));
  // Rows whose answer is empty: their response-mean values are null (recorded, written as empty cells).
  let emptyAnswers = 0;
  for await (const rec of store.iterate<{ values: Record<string, unknown> }>('projections')) if (hasNull(rec.values)) emptyAnswers++;
  return { ...r, emptyAnswers, columns: projectionColumns(specs) };
}
