// Lines of a text file with their 1-based numbers, streamed (memory flat in the file's size), so
// JSONL readers can name the line at fault.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export async function* iterateLines(file: string): AsyncGenerator<{ line: number; text: string }> {
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) yield { line: ++line, text };
}
