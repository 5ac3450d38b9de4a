// Where this toolkit is installed: the folder of its package.json, found by walking up from this
// module, so built-in files (the embedded model, trait files) resolve from any working directory.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: { root: string; version: string } | undefined;

function locate(): { root: string; version: string } {
  if (found) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
        if (pkg['name'] === 'persona-steer') return (found = { root: dir, version: String(pkg['version'] ?? 'unknown') });
      } catch {
        /* keep looking */
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`persona-steer: no package.json named persona-steer above ${fileURLToPath(import.meta.url)}`);
}

/** Absolute path of the toolkit's root folder (where package.json, models/ and data/ are). */
export function packageRoot(): string {
  return locate().root;
}

/** package.json version of this toolkit. */
export function packageVersion(): string {
  return locate().version;
}
