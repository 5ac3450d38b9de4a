// Defaults of the command line, resolved against the installed package rather than the current
// directory, so `persona …` works from anywhere. The persona world's conventions (lexicon judge for
// its traits) apply only to the models trained on it (the package's own models/ folder).

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve, isAbsolute } from 'node:path';
import { loadTraitFile, type TraitFile } from '../directions/traitFile.js';
import { packageRoot } from '../io/packageRoot.js';

/** The embedded model, models/persona-tiny inside the package. */
export const DEFAULT_MODEL = join(packageRoot(), 'models', 'persona-tiny');
/** The built-in trait files. */
export const BUILTIN_TRAITS = join(packageRoot(), 'data', 'traits');

/**
 * A model trained on the persona world: one inside the package's models/ (persona-tiny and its
 * finetuned variants), or a copy of one elsewhere (same tokenizer.json as the embedded model).
 */
export function isWorldModel(dir: string): boolean {
  const rel = relative(join(packageRoot(), 'models'), resolve(dir));
  if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return true;
  const tok = join(dir, 'tokenizer.json');
  return existsSync(tok) && fileHash(tok) === fileHash(join(DEFAULT_MODEL, 'tokenizer.json'));
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * A trait file path, or a trait name: ./data/traits/NAME.json (the user's own, e.g. from
 * `persona trait new`) first, then the built-in NAME.json and bigfive/NAME.json.
 */
export function resolveTrait(spec: string): TraitFile {
  const candidates = spec.endsWith('.json')
    ? [spec]
    : [join('data', 'traits', `${spec}.json`), join(BUILTIN_TRAITS, `${spec}.json`), join(BUILTIN_TRAITS, 'bigfive', `${spec}.json`)];
  const hit = candidates.find((p) => existsSync(p));
  if (!hit) throw new Error(`trait '${spec}': no trait file (tried ${candidates.join(', ')})`);
  return loadTraitFile(hit);
}
