// What every request handler of one server shares.

import type { SteerableModel } from '../model/steerableModel.js';
import type { Batcher } from './batcher.js';
import type { Directions, Settings } from './controls.js';

export interface ServerLimits {
  /** Bytes per request body. */
  maxBody: number;
  /** Largest max_tokens a request may ask for. */
  maxTokens: number;
  maxMessages: number;
  maxPromptTokens: number;
}

export interface ServerContext {
  model: SteerableModel;
  modelId: string;
  startedAt: number;
  batcher: Batcher;
  directions: Directions;
  /** Interventions configured at start (flags), applied to every request that inherits them. */
  startup: Settings;
  limits: ServerLimits;
  /** Append one record to a stream of the run directory. */
  log: (stream: string, record: Record<string, unknown>) => void;
  /** Set when the shutdown grace is over: answers still running are cut at their next token. */
  stopping: boolean;
}

/** What a handler adds to its request's line of requests.jsonl (method, path, status, ms are the server's). */
export type RequestNote = Record<string, unknown>;
