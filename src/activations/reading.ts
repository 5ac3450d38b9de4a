// Reading the model's picture of the user (TalkTuner; Reading Between the Prompts): template the
// conversation up to the last user turn (no generation prompt), append a reading suffix such as
// " I think the age of this user is", and take the last token's hidden state at every layer.
// The control reading has no suffix: the last token of the templated conversation itself.

import { conversationForReading } from '../data/labelledConversations.js';
import type { Ablation, Steering } from '../model/steering.js';
import type { SteerableModel } from '../model/steerableModel.js';
import type { ChatMessage, Tokenizer } from '../model/tokenizer.js';
import { extractActivations } from './extract.js';
import type { ActivationStore } from './store.js';

export const DEFAULT_READING_SUFFIX = ' I think the {attribute} of this user is';

/** How an attribute is named inside the suffix; attributes not listed are used as they are. */
export const READING_NAMES: Readonly<Record<string, string>> = {
  education: 'education level',
  ses: 'socioeconomic status',
  socioeco: 'socioeconomic status',
};

/** The suffix for one attribute ({attribute} filled in); null stays null (the control reading). */
export function readingSuffix(template: string | null, attribute: string): string | null {
  return template === null ? null : template.replaceAll('{attribute}', READING_NAMES[attribute] ?? attribute);
}

/**
 * Token ids read: templated conversation + suffix. Without the generation prompt (TalkTuner's
 * reading); with it, and an empty suffix, the reading is where the model starts its answer.
 */
export function readingIds(tokenizer: Tokenizer, messages: ChatMessage[], suffix: string | null, generationPrompt = false): number[] {
  const read = conversationForReading(messages);
  if (!read.some((m) => m.role === 'user')) throw new Error('conversation has no user message to read after');
  return tokenizer.encode(tokenizer.applyChatTemplate(read, { addGenerationPrompt: generationPrompt }) + (suffix ?? ''));
}

export interface ReadOptions {
  /** Default: every hidden_states layer (0..L). */
  layers?: number[];
  /** Sequences per forward call (default 8). */
  batchSize?: number;
  /** Intervene while reading; 'response' positions mean the last token of each sequence. */
  steering?: Steering;
  ablation?: Ablation[];
  onProgress?: (done: number, total: number) => void;
}

/** The last token's hidden state of each sequence: result[i][j] belongs to layers[j]. */
export async function readLastTokens(model: SteerableModel, sequences: number[][], opts: ReadOptions = {}): Promise<Float32Array[][]> {
  const acts = await extractActivations(
    model,
    sequences.map((ids) => ({ promptIds: ids, responseIds: [] })),
    { layers: opts.layers ?? 'all', positions: [{ index: -1 }], batchSize: opts.batchSize, steering: opts.steering, ablation: opts.ablation, onProgress: opts.onProgress },
  );
  return acts.map((a) => a.at['index:-1']!);
}

/**
 * Stream readings of many sequences into a store, a chunk at a time (memory stays flat in the
 * dataset size). Sequences already in the store are skipped, so an interrupted run resumes.
 */
export async function readIntoStore(
  model: SteerableModel,
  sequences: Iterable<number[]>,
  total: number,
  store: ActivationStore,
  opts: Omit<ReadOptions, 'layers'> & { chunk?: number } = {},
): Promise<void> {
  const chunk = opts.chunk ?? 64;
  let index = 0;
  let pending: number[][] = [];
  const flush = async () => {
    if (!pending.length) return;
    store.append(await readLastTokens(model, pending, { layers: store.layers, batchSize: opts.batchSize }));
    pending = [];
    opts.onProgress?.(store.rows, total);
  };
  opts.onProgress?.(store.rows, total);
  for (const ids of sequences) {
    if (index++ < store.rows) continue;
    pending.push(ids);
    if (pending.length >= chunk) await flush();
  }
  await flush();
  if (store.rows !== total) throw new Error(`${store.dir}: holds ${store.rows} rows, the dataset has ${total}`);
}
