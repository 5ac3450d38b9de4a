// vitest.config.ts runs the test files of a fork one after another in one process (isolate: false,
// minutes saved on 2 cores). That is only sound while no file leaves state behind for the next:
// module mocks, stubbed globals or environment, fake timers, a changed working directory. This
// keeps them out of the test files unless the same file undoes them (the global setup, which runs
// in vitest's own process, may set the environment the forks start with).

import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/runCli.js';
import { filesUnder } from '../helpers/files.js';

/** What leaks, what it is, and what in the same file undoes it (null: nothing does, in a shared module cache). */
const LEAKS: [RegExp, string, RegExp | null][] = [
  [/\bvi\.mock\(/, 'a module mock', null],
  [/\bvi\.doMock\(/, 'a module mock', /\bvi\.doUnmock\(/],
  [/\bvi\.stubGlobal\(/, 'a stubbed global', /\bvi\.unstubAllGlobals\(/],
  [/\bvi\.stubEnv\(/, 'a stubbed environment variable', /\bvi\.unstubAllEnvs\(/],
  [/\bvi\.useFakeTimers\(/, 'fake timers', /\bvi\.useRealTimers\(/],
  [/\bvi\.spyOn\(/, 'a spy', /\bvi\.restoreAllMocks\(|\.mockRestore\(/],
  [/\bprocess\.chdir\(/, 'a change of working directory', null],
  [/\bprocess\.env(\.\w+|\[[^\]]+\])\s*=[^=]/, 'a write to process.env', /\bObject\.assign\(process\.env,/],
  [/\bdelete\s+process\.env\b/, 'a deletion from process.env', /\bObject\.assign\(process\.env,/],
];

/** 'file:line: what' for each line of `text` that would leak state into the next test file. */
function leaks(file: string, text: string): string[] {
  const kept = LEAKS.filter(([, , undo]) => !undo?.test(text));
  return text.split('\n').flatMap((line, i) => kept.filter(([re]) => re.test(line)).map(([, what]) => `${file}:${i + 1}: ${what} that the file does not undo`));
}

describe('test files share a process (isolate: false)', () => {
  it('so none mocks modules, stubs globals, writes the environment or changes directory', () => {
    const test = join(ROOT, 'test');
    const found = filesUnder(test, /\.(ts|js)$/)
      .filter((p) => !p.startsWith(join(test, 'setup')) && p !== import.meta.filename)
      .flatMap((p) => leaks(relative(ROOT, p), readFileSync(p, 'utf8')));
    expect(found).toEqual([]);
  });

  it('the check sees each kind of leak', () => {
    const text = ["vi.mock('../x.js');", 'process.chdir(dir);', "process.env.TMPDIR = '/x';", "process.env['A'] = 'b';", 'delete process.env.CI;', 'if (process.env.CI === "1") {}', "vi.stubGlobal('fetch', f);"].join('\n');
    const not = ' that the file does not undo';
    expect(leaks('t.ts', text)).toEqual([
      `t.ts:1: a module mock${not}`, `t.ts:2: a change of working directory${not}`, `t.ts:3: a write to process.env${not}`, `t.ts:4: a write to process.env${not}`,
      `t.ts:5: a deletion from process.env${not}`, `t.ts:7: a stubbed global${not}`,
    ]);
    // Undone in the same file: a restore of the environment, an unstub of the globals.
    expect(leaks('t.ts', `${text}\nObject.assign(process.env, saved);\nafterEach(() => vi.unstubAllGlobals());`)).toEqual([`t.ts:1: a module mock${not}`, `t.ts:2: a change of working directory${not}`]);
  });

  it('is what vitest.config.ts asks for', () => {
    expect(readFileSync(join(ROOT, 'vitest.config.ts'), 'utf8')).toMatch(/^\s*isolate: false,/m);
  });
});
