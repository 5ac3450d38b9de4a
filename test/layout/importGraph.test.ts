// src/ reads as the pipeline and every import points down it (style.md): a lower floor never
// imports a higher one. This reads every relative import of every file under src/ and checks it.

import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesUnder } from '../helpers/files.js';

const SRC = resolve('src');

// Floor of each folder; an import may only reach the same floor or a lower one.
const FLOOR: Record<string, number> = {
  io: 0, onnx: 0, kernels: 0,
  data: 1, model: 1, logs: 1,
  world: 2,
  judges: 3, generation: 3,
  activations: 4,
  directions: 5,
  interventions: 6,
  monitoring: 7,
  experiments: 8,
  reports: 9,
  cli: 10, server: 10,
  'index.ts': 11,
};
// A leaf rendering helper every stage may use to write its plots (it imports only io).
const FILE_FLOOR: Record<string, number> = { 'reports/html.ts': 1 };

function floorOf(rel: string): number {
  const f = FILE_FLOOR[rel] ?? FLOOR[rel.split('/')[0]!];
  if (f === undefined) throw new Error(`src/${rel}: folder has no floor in the pipeline order; add it to FLOOR`);
  return f;
}

/** Every (importer, imported) pair of src/, paths relative to src/. */
export function importEdges(): { from: string; to: string }[] {
  const edges: { from: string; to: string }[] = [];
  for (const file of filesUnder(SRC, /\.ts$/)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts');
      edges.push({ from: relative(SRC, file), to });
    }
  }
  return edges;
}

describe('import graph of src/', () => {
  const edges = importEdges();

  it('finds the imports (the scan itself works)', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges).toContainEqual({ from: 'generation/generate.ts', to: 'model/steering.ts' });
  });

  it('every import points down the pipeline', () => {
    const up = edges.filter((e) => floorOf(e.to) > floorOf(e.from)).map((e) => `${e.from} -> ${e.to}`);
    expect(up).toEqual([]);
  });

  it('generation and activations take a ready steering plan: they never import interventions', () => {
    const bad = edges.filter((e) => /^(generation|activations)\//.test(e.from) && e.to.startsWith('interventions/'));
    expect(bad).toEqual([]);
  });
});
