// Our tokenizer loader (src/model/tokenizer.ts: @huggingface/tokenizers + @huggingface/jinja, the
// libraries transformers.js v4 is built on) gives the same ids, text, chat templates and special
// ids as transformers.js's AutoTokenizer, on the fixture tokenizer, on persona-tiny's, and on
// variants with AddedToken-object special tokens, a named template list and no template at all.
// And src/ never imports transformers.js itself (its import cost ~160 MB of RSS under tsx).

import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { makeFixture } from '../fixtures/index.js';
import { filesUnder } from '../helpers/files.js';

const TEXTS = ['Hello, world!', '  two  spaces and a tab\t', 'caf\u00e9 \u65e5\u672c \ud83d\ude00', '<|im_start|>user\nhi<|im_end|>\n', 'a<|im_end|>b', ''];
const CHAT = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'I am 72. How do I sleep better?' },
  { role: 'assistant', content: 'Keep a schedule.' },
  { role: 'user', content: 'And?' },
];

/** A copy of `dir` whose tokenizer_config.json is edited by `f`. */
function variant(dir: string, f: (cfg: Record<string, unknown>) => void): string {
  const out = mkdtempSync(join(tmpdir(), 'persona-tok-'));
  cpSync(dir, out, { recursive: true });
  const path = join(out, 'tokenizer_config.json');
  const cfg = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  f(cfg);
  writeFileSync(path, JSON.stringify(cfg));
  return out;
}

async function expectSameAsTransformersJs(dir: string): Promise<void> {
  env.allowRemoteModels = false;
  const ref = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
  const ours = await loadTokenizer(dir);
  for (const t of TEXTS) {
    const ids = ref.encode(t, { add_special_tokens: false });
    expect(ours.encode(t)).toEqual(ids);
    expect(ours.encodeRaw(t)).toEqual(ref.encode(t, { add_special_tokens: true }));
    if (ids.length) {
      expect(ours.decode(ids)).toBe(ref.decode(ids, { skip_special_tokens: true }));
      expect(ours.decode(ids, { skipSpecialTokens: false })).toBe(ref.decode(ids, { skip_special_tokens: false }));
    }
  }
  expect(ours.hasChatTemplate).toBe(!!ref.chat_template);
  if (ref.chat_template)
    for (const addGenerationPrompt of [false, true])
      expect(ours.applyChatTemplate(CHAT, { addGenerationPrompt })).toBe(
        ref.apply_chat_template(CHAT, { tokenize: false, add_generation_prompt: addGenerationPrompt }) as string,
      );
  expect(ours.bosTokenId).toBe(ref.bos_token_id ?? undefined);
  expect(ours.eosTokenId).toBe(ref.eos_token_id ?? undefined);
  expect(ours.padTokenId).toBe(ref.pad_token_id ?? undefined);
}

describe('tokenizer loader', () => {
  it('matches transformers.js on the fixture tokenizer and on persona-tiny', async () => {
    await expectSameAsTransformersJs((await makeFixture('llama')).dir);
    await expectSameAsTransformersJs(resolve('models/persona-tiny'));
  });

  it('matches transformers.js with AddedToken objects, a named template list, a template using special tokens, and no template', async () => {
    const dir = (await makeFixture('llama')).dir;
    await expectSameAsTransformersJs(
      variant(dir, (c) => {
        c.bos_token = { __type: 'AddedToken', content: c.bos_token, lstrip: false, rstrip: false, normalized: false, single_word: false };
        c.chat_template = [{ name: 'default', template: "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}" }];
      }),
    );
    await expectSameAsTransformersJs(variant(dir, (c) => delete c.chat_template));
  });

  it('names the file when tokenizer_config.json is not JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'persona-tok-'));
    cpSync((await makeFixture('llama')).dir, dir, { recursive: true });
    writeFileSync(join(dir, 'tokenizer_config.json'), '{ nope');
    await expect(loadTokenizer(dir)).rejects.toThrow(/tokenizer_config\.json: not valid JSON/);
  });

  it('src/ does not import transformers.js, and importing the loader stays light', () => {
    const offenders = filesUnder('src', /\.ts$/).filter((f) => /from '@huggingface\/transformers'/.test(readFileSync(f, 'utf8')));
    expect(offenders).toEqual([]);
    // Resident memory of a fresh tsx process after importing loadModel's module graph (it was ~250 MB with transformers.js).
    const code = "await import('./src/model/load.ts'); const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8'); console.log(/VmRSS:\\s+(\\d+)/.exec(s)[1]);";
    const kb = Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' }).trim().split('\n').pop());
    expect(kb / 1024).toBeLessThan(160);
  });
});
