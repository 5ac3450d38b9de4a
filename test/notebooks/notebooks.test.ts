// The Jupyter notebooks execute headlessly on the tslab TypeScript kernel (npm) through Debian's
// nbconvert / nbclient, so they never rot. The kernel spec is written to a temporary JUPYTER_PATH
// (nothing global is registered). Skips, saying why, where Jupyter is not installed
// (the `pretest` step of npm test installs it: scripts/ensure-test-deps.ts).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../cli/runCli.js';
import { PYTHON } from '../helpers/python.js';

const TSLAB = join(ROOT, 'node_modules/.bin/tslab');
const jupyter = spawnSync(PYTHON, ['-c', 'import nbconvert, nbclient, nbformat, jupyter_client'], { stdio: 'ignore' }).status === 0;
const ready = jupyter && existsSync(TSLAB);
if (!ready) console.warn(`notebook tests skipped: ${!jupyter ? `${PYTHON} lacks nbconvert/nbclient (apt-get install jupyter-nbconvert python3-nbclient python3-ipykernel)` : 'tslab is not installed (npm install)'}`);

interface Output { output_type: string; text?: string[]; data?: Record<string, string | string[]>; ename?: string; evalue?: string }

function execute(notebook: string): Output[] {
  const jp = mkdtempSync(join(tmpdir(), 'jupyter-'));
  mkdirSync(join(jp, 'kernels/tslab'), { recursive: true });
  writeFileSync(join(jp, 'kernels/tslab/kernel.json'), JSON.stringify({ argv: [TSLAB, 'kernel', '--config-path', '{connection_file}'], display_name: 'TypeScript', language: 'typescript' }));
  const out = join(jp, 'executed.ipynb');
  execFileSync(PYTHON, ['-m', 'nbconvert', '--to', 'notebook', '--execute', '--allow-errors', '--ExecutePreprocessor.timeout=300', notebook, '--output', out], {
    cwd: ROOT, env: { ...process.env, JUPYTER_PATH: jp }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const nb = JSON.parse(readFileSync(out, 'utf8')) as { cells: { outputs?: Output[] }[] };
  return nb.cells.flatMap((c) => c.outputs ?? []);
}

describe.skipIf(!ready)('notebooks', () => {
  it('03-persona-vectors.ipynb runs top to bottom with inline plots and sensible results', () => {
    const outputs = execute(join(ROOT, 'notebooks/03-persona-vectors.ipynb'));
    const errors = outputs.filter((o) => o.output_type === 'error' || (o.output_type === 'stream' && (o as { name?: string }).name === 'stderr'));
    expect(errors.map((e) => `${e.ename ?? ''} ${e.evalue ?? ''} ${(e.text ?? []).join('')}`)).toEqual([]);
    const text = outputs.filter((o) => o.output_type === 'stream').flatMap((o) => o.text ?? []).join('');
    expect(text).toMatch(/llama: 4 layers, hidden 160/);
    expect(Number(/kept (\d+) of 8 pairs/.exec(text)![1])).toBeGreaterThan(0);
    const means = JSON.parse(/mean evil score by coefficient: (\[.*\])/.exec(text)![1]!) as number[];
    expect(means.at(-1)!).toBeGreaterThan(means[0]! + 20);
    expect(text).toMatch(/GGUF round trip of layer 4 exact: true/);
    const svgs = outputs.filter((o) => o.data?.['image/svg+xml']);
    expect(svgs.length).toBe(2);
    expect([svgs[0]!.data!['image/svg+xml']].flat().join('')).toMatch(/^<svg[^>]*>.*<polyline/);
  }, 300_000);
});
