// The CLI's defaults (embedded model, built-in trait files) resolve against the package, so it
// runs from any directory; the persona world's lexicon judge is the default only on its models.

import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWorldModel } from '../../src/cli/defaults.js';
import { makeFixture } from '../fixtures/index.js';
import { personaIn, ROOT } from './runCli.js';

const NO_ENDPOINT = { PERSONA_JUDGE_BASE_URL: undefined, OPENAI_BASE_URL: undefined, OPENAI_API_KEY: undefined };

describe('CLI defaults', () => {
  it('extract with the default model and a built-in trait runs from another directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cli-cwd-'));
    const r = await personaIn(
      { cwd, env: NO_ENDPOINT },
      'extract', '--trait', 'evil', '--questions', '2', '--instructions', '1', '--max-new-tokens', '24', '--run', 'ex',
    );
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(cwd, 'ex', 'manifest.json'), 'utf8'));
    expect(manifest.config.model).toBe(join(ROOT, 'models', 'persona-tiny'));
    expect(manifest.config.judge).toBe('lexicon');
    expect(existsSync(join(cwd, 'runs'))).toBe(false);
  });

  it('world models: the package\'s models/ and copies of them (same tokenizer), nothing else', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'cli-world-'));
    for (const f of ['tokenizer.json', 'config.json']) cpSync(join(ROOT, 'models', 'persona-tiny', f), join(copy, f));
    expect(isWorldModel(join(ROOT, 'models', 'persona-tiny-ft-evil-20'))).toBe(true);
    expect(isWorldModel(copy)).toBe(true);
    expect(isWorldModel((await makeFixture('llama')).dir)).toBe(false);
  });

  it('a world trait on another model does not default to the world lexicon', async () => {
    const fx = await makeFixture('llama');
    const cwd = mkdtempSync(join(tmpdir(), 'cli-cwd-'));
    const r = await personaIn({ cwd, env: NO_ENDPOINT }, 'extract', fx.dir, '--trait', 'evil', '--run', 'ex');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--judge: no default judge for 'evil' on .*: the lexicon judge is the default only on the models trained on the persona world/);
  });
});
