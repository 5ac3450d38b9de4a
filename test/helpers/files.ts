// Every file under a folder tree whose name matches, for the tests that read the repository's own
// sources and data (import graph, isolation check, trait files, fixture hashing).

import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the files under `dir` (recursively) whose names match `name`, sorted by name within each folder. */
export function filesUnder(dir: string, name: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), name) : name.test(e.name) ? [join(dir, e.name)] : []));
}
