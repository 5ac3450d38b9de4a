// Tokenizer and chat template of a local model folder: tokenizer.json run by @huggingface/tokenizers
// and the chat template rendered by @huggingface/jinja -- the two libraries transformers.js v4 is
// built on, used directly. Importing transformers.js itself for its tokenizer class cost ~160 MB of
// resident memory and ~1 s under tsx (it bundles ONNX Runtime Web and sharp) and left ONNX Runtime's
// weights in a fragmented heap (~240 MB more after loading a 135M model); test/model/tokenizer.test.ts
// checks this loader gives transformers.js's ids, text and templates. Files are read from the folder,
// so nothing can reach the network.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

export interface ChatTemplateOptions {
  /** Append the assistant header so the model continues as the assistant. Default false. */
  addGenerationPrompt?: boolean;
}

/** The special tokens a chat template may refer to, by their tokenizer_config.json names. */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

type TokenizerConfig = Record<string, unknown>;

/** A special token entry of tokenizer_config.json: a string or an AddedToken object. */
function tokenText(config: TokenizerConfig, key: string): string | undefined {
  const v = config[key];
  if (typeof v === 'string') return v || undefined;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** The chat template: a string, or the "default" of a named list (HF's multi-template form). */
function chatTemplateOf(config: TokenizerConfig, file: string): string | undefined {
  const t = config.chat_template;
  if (t === undefined || t === null || t === '') return undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => (e as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return named.template;
    throw new Error(`${file}: chat_template is a list without a "default" entry`);
  }
  throw new Error(`${file}: chat_template must be a string or a list of {name, template}`);
}

export class Tokenizer {
  private readonly inner: HfTokenizer;
  private readonly template?: Template;
  /** bos_token, eos_token, ... as the template sees them. */
  private readonly specials: Record<string, string> = {};
  readonly bosToken?: string;

  constructor(tokenizerJson: object, config: TokenizerConfig, configFile = 'tokenizer_config.json') {
    this.inner = new HfTokenizer(tokenizerJson, config);
    for (const k of SPECIAL_TOKEN_KEYS) {
      const v = tokenText(config, k);
      if (v) this.specials[k] = v;
    }
    this.bosToken = this.specials.bos_token;
    const text = chatTemplateOf(config, configFile);
    if (text) this.template = new Template(text);
    this.eosTokenId = this.idOf(this.specials.eos_token);
    this.padTokenId = this.idOf(this.specials.pad_token ?? this.specials.eos_token);
    this.bosTokenId = this.idOf(this.specials.bos_token);
  }

  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly bosTokenId: number | undefined;

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.inner.token_to_id(token);
  }

  /** False for base models whose tokenizer_config.json has no chat_template (see plainTranscript). */
  get hasChatTemplate(): boolean {
    return !!this.template;
  }

  /**
   * Chat-templated text. Without a chat template (base models) the conversation is written as a
   * plain transcript instead (plainTranscript), so extraction, monitoring and chat generation still
   * run; `hasChatTemplate` tells which one was used.
   */
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (!this.template) return plainTranscript(messages, opts, this.bosToken ?? '');
    return this.template.render({ messages, add_generation_prompt: opts.addGenerationPrompt ?? false, tools: null, documents: null, ...this.specials });
  }

  /**
   * Token ids of `text`. Special tokens (BOS) are not added by default: chat templates already
   * write them, and adding them again would double the BOS (HF apply_chat_template does the same).
   */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.inner.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
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
    // An answer that stopped at once is the empty string.
    if (!ids.length) return '';
    return this.inner.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? true });
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

/** Load tokenizer.json + tokenizer_config.json from `dir` (local files only). */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const abs = resolve(dir);
  const json: Record<string, object> = {};
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const path = join(abs, f);
    if (!existsSync(path)) throw new Error(`no ${f} in model folder ${abs}`);
    try {
      json[f] = JSON.parse(readFileSync(path, 'utf8')) as object;
    } catch (e) {
      throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
    }
  }
  return new Tokenizer(json['tokenizer.json']!, json['tokenizer_config.json'] as TokenizerConfig, join(abs, 'tokenizer_config.json'));
}
