import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { generateCorpus, type Message } from '../../src/world/index.js';

// The default model's tokenizer (trained by scripts/train-default-model.py) must behave in
// transformers.js exactly as in the training script: same ChatML text, same ids, exact round trip.
const MODEL_DIR = resolve('models/persona-tiny');
let tokenizer: PreTrainedTokenizer;

beforeAll(async () => {
  env.allowRemoteModels = false;
  env.localModelPath = resolve('models') + '/';
  tokenizer = await AutoTokenizer.from_pretrained('persona-tiny');
});

const chatml = (messages: Message[], generationPrompt: boolean): string =>
  messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + (generationPrompt ? '<|im_start|>assistant\n' : '');

describe('persona-tiny tokenizer in transformers.js', () => {
  it('applies the ChatML chat template, with and without the generation prompt', () => {
    const messages: Message[] = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'I am 72 years old. How can I sleep better?' },
    ];
    expect(tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true })).toBe(chatml(messages, true));
    expect(tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: false })).toBe(chatml(messages, false));
  });

  it('has single-id special tokens and ChatML eos', () => {
    const config = JSON.parse(readFileSync(`${MODEL_DIR}/config.json`, 'utf8')) as Record<string, number>;
    expect(tokenizer.encode('<|im_start|>', { add_special_tokens: false })).toEqual([config.bos_token_id]);
    expect(tokenizer.encode('<|im_end|>')).toEqual([config.eos_token_id]);
    expect(tokenizer.encode('<|endoftext|>')).toEqual([config.pad_token_id]);
    expect(tokenizer.eos_token).toBe('<|im_end|>');
    expect(tokenizer.model_max_length).toBeGreaterThan(0);
  });

  it('reproduces the ids the training script used', () => {
    const cases = JSON.parse(readFileSync(`${MODEL_DIR}/tokenizer-check.json`, 'utf8')) as { text: string; ids: number[] }[];
    expect(cases.length).toBeGreaterThan(0);
    for (const { text, ids } of cases) expect(tokenizer.encode(text)).toEqual(ids);
  });

  it('round-trips corpus text exactly', () => {
    const texts = generateCorpus(2024, 200).map((c) => chatml(c.messages, false));
    texts.push('Odd spacing  and\ttabs\n\nnew words like Zyxwv 12345!', "It's fine, isn't it?");
    for (const text of texts) {
      const ids = tokenizer.encode(text);
      expect(tokenizer.decode(ids, { skip_special_tokens: false })).toBe(text);
    }
  });

  it('compresses world text well (vocabulary learned from the corpus)', () => {
    const text = generateCorpus(5, 50).map((c) => chatml(c.messages, false)).join('');
    expect(text.length / tokenizer.encode(text).length).toBeGreaterThan(3.5);
  });
});
