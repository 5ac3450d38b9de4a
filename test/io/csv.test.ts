import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvLine, iterateCsv, readCsv, requireColumn } from '../../src/io/csv.js';

const dir = mkdtempSync(join(tmpdir(), 'csv-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('csv', () => {
  it('reads quoted cells and embedded newlines, with the line each record starts on', async () => {
    const p = file('a.csv', '\ufeffprompt,answer\n"a, b","multi\nline"\nx,y\n');
    const { columns, rows } = readCsv(p);
    expect(columns).toEqual(['prompt', 'answer']);
    expect(rows).toEqual([
      { line: 2, values: { prompt: 'a, b', answer: 'multi\nline' } },
      { line: 4, values: { prompt: 'x', answer: 'y' } },
    ]);
    const streamed = [];
    for await (const r of iterateCsv(p)) streamed.push(r);
    expect(streamed).toEqual(rows);
  });

  it('names file and line of a malformed record, a duplicate column, an empty cell', async () => {
    const p = file('b.csv', 'prompt,answer\nx,y\nbad\n');
    expect(() => readCsv(p)).toThrow(`${p}:3`);
    await expect(async () => {
      for await (const _ of iterateCsv(p));
    }).rejects.toThrow(`${p}:3`);
    expect(() => readCsv(file('c.csv', 'a,a\n1,2\n'))).toThrow("column 'a' appears twice");
    const q = file('d.csv', 'prompt,answer\n ,y\n');
    expect(() => requireColumn(q, readCsv(q).rows[0]!, 'prompt')).toThrow(`${q}:2: column 'prompt' is empty`);
    expect(() => requireColumn(q, readCsv(q).rows[0]!, 'question')).toThrow("no column 'question'");
  });

  it('writes cells that read back unchanged', () => {
    const cells = ['a,b', 'say "hi"', 'two\nlines', '3'];
    const p = file('e.csv', csvLine(['w', 'x', 'y', 'z']) + csvLine(cells));
    expect(Object.values(readCsv(p).rows[0]!.values)).toEqual(cells);
  });
});
