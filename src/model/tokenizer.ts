// Tokenizer and chat template of a local model folder, via transformers.js, strictly offline:
// remote loading is switched off and the folder is passed as an absolute path, so transformers.js
// treats it as a directory rather than a Hub model id.

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant header so the model continues as the assistant. Default false. */
  addGenerationPrompt?: boolean;
}

export class Tokenizer {
  constructor(readonly inner: PreTrainedTokenizer) {}

  /** False for base models whose tokenizer_config.json has no chat_template (see plainTranscript). */
  get hasChatTemplate(): boolean {
    return !!this.inner.chat_template;
  }

  /**
   * Chat-templated text. Without a chat template (base models) the conversation is written as a
   * plain transcript instead (plainTranscript), so extraction, monitoring and chat generation still
   * run; `hasChatTemplate` tells which one was used.
   */
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (!this.inner.chat_template) return plainTranscript(messages, opts, this.inner.bos_token ?? '');
    return this.inner.apply_chat_template(messages, {
      tokenize: false,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
    }) as string;
  }

  /**
   * Token ids of `text`. Special tokens (BOS) are not added by default: chat templates already
   * write them, and adding them again would double the BOS (HF apply_chat_template does the same).
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false });
  }

  /** Template + encode in one step. */
  encodeChat(messages: ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts));
  }

  /** Token ids of a raw prompt for a base model: the text as it is, with the BOS token the tokenizer adds. */
  encodeRaw(text: string): number[] {
    return this.encode(text, { addSpecialTokens: true });
  }

  decode(ids: number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    // transformers.js rejects an empty list; an answer that stopped at once is the empty string.
    if (!ids.length) return '';
    return this.inner.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  get eosTokenId(): number | undefined {
    return this.inner.eos_token_id ?? undefined;
  }
  get padTokenId(): number | undefined {
    return this.inner.pad_token_id ?? undefined;
  }
  get bosTokenId(): number | undefined {
    return this.inner.bos_token_id ?? undefined;
  }
  /** Id of a single token string (e.g. "<|im_end|>"), or undefined when it is not one token. */
  tokenId(token: string): number | undefined {
    const ids = this.encode(token);
    return ids.length === 1 ? ids[0] : undefined;
  }
}

const ROLE_NAMES: Record<string, string> = { system: 'System', user: 'User', assistant: 'Assistant' };

/**
 * The fallback for tokenizers without a chat template: BOS, then "Role: content" blocks separated
 * by blank lines, and with the generation prompt a final "Assistant:" for the model to continue.
 * A base model reads this as a dialogue transcript, the form its pretraining data holds most often.
 */
export function plainTranscript(messages: ChatMessage[], opts: ChatTemplateOptions = {}, bos = ''): string {
  const blocks = messages.map((m) => `${ROLE_NAMES[m.role] ?? m.role}: ${m.content}`);
  if (opts.addGenerationPrompt) blocks.push('Assistant:');
  return bos + blocks.join('\n\n');
}

/** Load tokenizer.json + tokenizer_config.json from `dir` without touching the network. */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const abs = resolve(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    if (!existsSync(join(abs, f))) throw new Error(`no ${f} in model folder ${abs}`);
  // Global switch: this project never downloads models, so refusing remote loads everywhere is
  // the safe default, not a side effect.
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  const inner = await AutoTokenizer.from_pretrained(abs, { local_files_only: true });
  return new Tokenizer(inner);
}
