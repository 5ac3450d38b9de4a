// progress() off a terminal (CI logs, `npm run bench > log`): one plain line per tenth of the work
// and one at the end, however the batch size steps through the percentages.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const util = fileURLToPath(new URL('../../src/cli/util.ts', import.meta.url));

/** The progress lines a child process prints to stderr (a pipe, so not a terminal). */
function progressLines(total: number, step: number, finals = 1): string[] {
  const code = `import { progress } from ${JSON.stringify(util)};
const bar = progress('rows');
for (let d = ${step}; d < ${total}; d += ${step}) bar(d, ${total});
for (let i = 0; i < ${finals}; i++) bar(${total}, ${total});`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr.split('\n').filter((l) => l.startsWith('rows '));
}

describe('progress off a terminal', () => {
  it('prints the first update of every tenth and the last, each on a line of its own', () => {
    // 16-row batches over 300 rows land on a round tenth only at 10% and 80%.
    const lines = progressLines(300, 16);
    const tenths = lines.map((l) => Math.floor(Number(/\((\d+)%\)/.exec(l)![1]) / 10));
    expect(tenths).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(lines[1]).toMatch(/^rows 32\/300 \(10%\) eta \d+s$/);
    expect(lines.at(-1)).toBe('rows 300/300 (100%)');
    expect(lines.some((l) => l.includes('\r'))).toBe(false);
    // Steps of one: still one line a tenth, not one per update.
    expect(progressLines(1000, 1)).toHaveLength(11);
    // The end reported twice (a stage's last batch, then its close) is printed once.
    expect(progressLines(300, 16, 2).filter((l) => l.startsWith('rows 300/300'))).toHaveLength(1);
  });
});
