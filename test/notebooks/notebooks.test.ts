// Every Jupyter notebook in notebooks/ executes headlessly on the tslab TypeScript kernel (npm)
// through Debian's nbconvert / nbclient, so none can rot; each one's outputs are checked (numbers
// in range, inline SVG plots present), and a notebook without checks here fails the suite. The
// kernel spec is written to a temporary JUPYTER_PATH (nothing global is registered). Skips, saying
// why, where Jupyter is not installed, except under CI (the `pretest` step of npm test installs it:
// scripts/ensure-test-deps.ts). The checks are properties (a probe reads far above chance, steering
// raises the score), not exact numbers, so a retrained embedded model passes them too.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/runCli.js';
import { PYTHON, skipWithoutPython } from '../helpers/python.js';

const TSLAB = join(ROOT, 'node_modules/.bin/tslab');
const skip = skipWithoutPython('nbconvert, nbclient, nbformat, jupyter_client', 'jupyter-nbconvert python3-nbclient python3-ipykernel');
if (!existsSync(TSLAB)) throw new Error(`${TSLAB} is missing: npm install brings tslab`);

interface Output { output_type: string; name?: string; text?: string[]; data?: Record<string, string | string[]>; ename?: string; evalue?: string }

/**
 * A kernel that never came up: on a loaded machine tslab can get its first shell message before
 * its IOPub socket has finished binding; zeromq 6 refuses the send (EBUSY, "Socket is blocked by a
 * bind or unbind operation"), tslab leaves that rejection unhandled and never replies, and
 * nbconvert gives up ("Kernel didn't respond in 60 seconds"). Seen once in ~10 full runs.
 */
const KERNEL_NOT_STARTED = /Kernel didn't respond in \d+ seconds|Socket is blocked by a bind or unbind operation/;

/** Runs a notebook, once more if (and only if) its kernel did not start. */
async function execute(notebook: string): Promise<Output[]> {
  try {
    return await executeOnce(notebook);
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '');
    if (!KERNEL_NOT_STARTED.test(stderr)) throw e;
    console.warn(`${notebook}: the kernel did not start (${KERNEL_NOT_STARTED.exec(stderr)![0]}); running it again`);
    return executeOnce(notebook);
  }
}

async function executeOnce(notebook: string): Promise<Output[]> {
  const jp = mkdtempSync(join(tmpdir(), 'jupyter-'));
  mkdirSync(join(jp, 'kernels/tslab'), { recursive: true });
  writeFileSync(join(jp, 'kernels/tslab/kernel.json'), JSON.stringify({ argv: [TSLAB, 'kernel', '--config-path', '{connection_file}'], display_name: 'TypeScript', language: 'typescript' }));
  const out = join(jp, 'executed.ipynb');
  // Asynchronous: a worker blocked for the whole run would miss vitest's own RPC deadlines.
  await promisify(execFile)(PYTHON, ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--allow-errors', '--ExecutePreprocessor.timeout=300', notebook, '--output', out], {
    cwd: ROOT, env: { ...process.env, JUPYTER_PATH: jp },
  });
  const nb = JSON.parse(readFileSync(out, 'utf8')) as { cells: { outputs?: Output[] }[] };
  return nb.cells.flatMap((c) => c.outputs ?? []);
}

/** The JSON after `label` on a printed line. */
function printed<T>(text: string, label: string): T {
  const m = new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (.*)`).exec(text);
  expect(m, `printed '${label}'`).not.toBeNull();
  return JSON.parse(m![1]!) as T;
}
const num = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);

/** Per notebook: the number of plots it shows and what its printed output must say. */
const CHECKS: Record<string, { plots: number; check: (text: string) => void }> = {
  '01-steering.ipynb': {
    plots: 2,
    check: (text) => {
      const scores = printed<number[]>(text, 'humorous scores (4 pos, 4 neg):');
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(scores.slice(0, 4))).toBeGreaterThan(mean(scores.slice(4)) + 30);
      expect(printed<number[]>(text, '|v| by layer:')).toHaveLength(5);
      const means = printed<number[]>(text, 'mean humorous score by coefficient:');
      expect(means.at(-1)!).toBeGreaterThan(means[0]! + 20);
    },
  },
  '02-probes.ipynb': {
    plots: 2,
    check: (text) => {
      const chance = num(text, /chance ([\d.]+)%/);
      expect(chance).toBeCloseTo(25, 0);
      const reading = printed<number[]>(text, 'reading accuracy by layer (%):');
      expect(reading).toHaveLength(5);
      expect(Math.max(...reading)).toBeGreaterThan(chance + 30);
      // At the embeddings every row ends in the same suffix token: nothing to read.
      expect(reading[0]!).toBeLessThan(chance + 10);
      expect(printed<number[]>(text, 'control accuracy by layer (%):')).toHaveLength(5);
      const turns = [...text.matchAll(/after turn \d: \S.* (\{.*\})/g)].map((m) => Object.values(JSON.parse(m[1]!)) as number[]);
      expect(turns).toHaveLength(3);
      for (const p of turns) expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 1);
      const named = printed<Record<string, { unsteered: number; steered: number }>>(text, 'answers naming the target:');
      const total = (k: 'steered' | 'unsteered') => Object.values(named).reduce((a, r) => a + r[k], 0);
      expect(total('steered')).toBeGreaterThan(total('unsteered'));
    },
  },
  '03-persona-vectors.ipynb': {
    plots: 2,
    check: (text) => {
      expect(text).toMatch(/llama: 4 layers, hidden 160/);
      expect(num(text, /kept (\d+) of 8 pairs/)).toBeGreaterThan(0);
      const means = printed<number[]>(text, 'mean evil score by coefficient:');
      expect(means.at(-1)!).toBeGreaterThan(means[0]! + 20);
      expect(text).toMatch(/GGUF round trip of layer 4 exact: true/);
    },
  },
  '04-monitoring.ipynb': {
    plots: 4,
    check: (text) => {
      expect(num(text, /kept (\d+) of 8 pairs/)).toBeGreaterThan(0);
      expect(num(text, /evil answers (-?[\d.]+)/)).toBeGreaterThan(num(text, /kind answers (-?[\d.]+)/));
      expect(num(text, /evil: last prompt token (-?[\d.]+)/)).toBeGreaterThan(num(text, /neutral: last prompt token (-?[\d.]+)/));
      expect(num(text, /evil rows (-?[\d.]+)/)).toBeGreaterThan(num(text, /kind rows (-?[\d.]+)/));
      const shift = printed<Record<string, number[]>>(text, 'shift by layer:');
      expect(shift['evil-100']![3]!).toBeGreaterThan(shift.clean![3]! + 2);
    },
  },
};

const notebooks = readdirSync(join(ROOT, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort();

describe('notebooks/', () => {
  it('are all checked here, and are all real notebooks on the tslab kernel', () => {
    expect(notebooks).toEqual(Object.keys(CHECKS).sort());
    for (const f of notebooks) expect(JSON.parse(readFileSync(join(ROOT, 'notebooks', f), 'utf8')).metadata.kernelspec.name, f).toBe('tslab');
  });
});

describe.skipIf(skip).each(notebooks)('%s', (file) => {
  it('runs top to bottom without errors, with inline SVG plots and results in range', async () => {
    const outputs = await execute(join(ROOT, 'notebooks', file));
    const errors = outputs.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && o.name === 'stderr'));
    expect(errors.map((e) => `${e.ename ?? ''} ${e.evalue ?? ''} ${(e.text ?? []).join('')}`)).toEqual([]);
    const svgs = outputs.filter((o) => o.data?.['image/svg+xml']).map((o) => [o.data!['image/svg+xml']!].flat().join(''));
    expect(svgs).toHaveLength(CHECKS[file]!.plots);
    for (const s of svgs) expect(s).toMatch(/^<svg[^>]*>.*<polyline/s);
    CHECKS[file]!.check(outputs.filter((o) => o.output_type === 'stream').flatMap((o) => o.text ?? []).join(''));
  }, 300_000);
});
