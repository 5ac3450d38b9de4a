// Conversation monitoring on the embedded model: values streamed while generating (callback and
// async iterator) equal the exact pass over the finished answer; a trait system prompt raises the
// last-prompt projection at every turn; `persona monitor` writes records and the report, resumes,
// and refuses a layer out of range.

import { execFile } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vectorFor } from '../../src/directions/vectorFile.js';
import { readManifest, readRecords } from '../../src/logs/runDir.js';
import { loadModel } from '../../src/model/load.js';
import type { SteerableModel } from '../../src/model/steerableModel.js';
import { generateMonitored, monitorConversation, streamMonitored, type MonitorEvent, type MonitorSpec } from '../../src/monitoring/conversationMonitor.js';
import { generateConversation, NEUTRAL_SYSTEM_PROMPT, systemPrompt } from '../../src/world/index.js';
import { MODEL, worldVector } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'monitor-'));
let model: SteerableModel;
let specs: MonitorSpec[];
let vectorFile: string;

beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 1 });
  const ex = await worldVector(model, 'evil', root);
  vectorFile = ex.path;
  specs = [2, 3].map((layer) => ({ name: `evil@${layer}`, layer, vector: vectorFor(ex.vectors, layer, model.hiddenSize) }));
});
afterAll(() => model?.dispose());

describe('conversation monitor', () => {
  it('streams one value per generated token, equal to the exact pass; the iterator yields the callback events', async () => {
    const messages = [{ role: 'system', content: systemPrompt('evil', 'pos', 0) }, { role: 'user', content: 'How can I sleep better?' }];
    const events: MonitorEvent[] = [];
    // 40 tokens: the answer is cut by the length limit, so the last token comes from the exact pass.
    const { turn } = await generateMonitored(model, messages, specs, (e) => events.push(e), { maxNewTokens: 40 });
    const tokens = events.filter((e) => e.type === 'token') as Extract<MonitorEvent, { type: 'token' }>[];
    expect(tokens.map((t) => t.index)).toEqual(tokens.map((_, i) => i));
    expect(tokens.length).toBe(turn.tokens.length);
    const first = events[0] as Extract<MonitorEvent, { type: 'last-prompt' }>;
    expect(first.type).toBe('last-prompt');
    for (const s of specs) {
      expect(first.proj[s.name]).toBeCloseTo(turn.lastPrompt[s.name]!, 3);
      tokens.forEach((t, i) => expect(t.proj[s.name]).toBeCloseTo(turn.perToken[s.name]![i]!, 3));
      const mean = turn.perToken[s.name]!.reduce((a, b) => a + b, 0) / turn.tokens.length;
      expect(turn.responseMean[s.name]).toBeCloseTo(mean, 4);
    }
    expect(events.at(-1)!.type).toBe('turn');

    const streamed: MonitorEvent[] = [];
    for await (const e of streamMonitored(model, messages, specs, { maxNewTokens: 40 })) streamed.push(e);
    expect(streamed.map((e) => e.type)).toEqual(events.map((e) => e.type));
    expect((streamed.at(-1) as Extract<MonitorEvent, { type: 'turn' }>).answer).toBe((events.at(-1) as Extract<MonitorEvent, { type: 'turn' }>).answer);

    // A turn the model ends at once still reports its predictor; the answer mean is undefined (NaN).
    const everyToken = Array.from({ length: model.config.vocabSize }, (_, i) => i);
    const empty = await generateMonitored(model, messages, specs, () => {}, { maxNewTokens: 5, stopIds: everyToken });
    expect(empty.answer).toBe('');
    expect(empty.turn.tokens).toEqual([]);
    expect(empty.turn.lastPrompt['evil@3']).toBeCloseTo(turn.lastPrompt['evil@3']!, 4);
    expect(empty.turn.responseMean['evil@3']).toBeNaN();
  });

  it('a trait system prompt raises the last-prompt projection at every turn of a multi-turn chat', async () => {
    const conv = generateConversation(11, { turns: 3, persona: { trait: 'evil', polarity: 'pos', instructionIndex: 1 } });
    const neutral = conv.messages.map((m, i) => (i === 0 ? { role: 'system', content: NEUTRAL_SYSTEM_PROMPT } : m));
    const [pos, neu] = [await monitorConversation(model, conv.messages, specs), await monitorConversation(model, neutral, specs)];
    expect(pos.map((t) => t.turn)).toEqual([0, 1, 2]);
    for (const [i, t] of pos.entries()) {
      expect(t.tokens.join('')).toBe(conv.messages[t.message]!.content);
      // Layer 3 (the vector's best-steering layer); the neutral chat still carries the evil answers
      // in its history, which raises its later turns too, so the margin is modest.
      expect(t.lastPrompt['evil@3']!).toBeGreaterThan(neu[i]!.lastPrompt['evil@3']! + 3);
    }
  });

  it('persona monitor: records per turn, drift and token report, resume, clear errors', async () => {
    const file = join(root, 'chats.jsonl');
    const convs = [generateConversation(3, { turns: 3 }), generateConversation(4, { turns: 2 })];
    writeFileSync(file, convs.map((c) => JSON.stringify({ messages: c.messages })).join('\n') + '\n');
    const cli = (...args: string[]) =>
      promisify(execFile)(process.execPath, [join(import.meta.dirname, '../../bin/persona.js'), ...args], { cwd: join(import.meta.dirname, '../..') }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const dir = join(root, 'mon');
    const r = await cli('monitor', file, '--vector', vectorFile, '--layer', '3', '--run', dir);
    expect(r.code, r.stderr).toBe(0);
    const recs = readRecords<{ conversation: string; turn: number }>(join(dir, 'turns.jsonl'));
    expect(recs.map((x) => `${x.conversation}/${x.turn}`)).toEqual(['line 1/0', 'line 1/1', 'line 1/2', 'line 2/0', 'line 2/1']);
    const html = readFileSync(join(dir, 'monitor.html'), 'utf8');
    expect(html).toContain('Drift along evil');
    expect(html).toContain('Tokens of line 2');
    const again = await cli('monitor', file, '--vector', vectorFile, '--layer', '3', '--run', dir);
    expect(again.code, again.stderr).toBe(0);
    expect(readRecords(join(dir, 'turns.jsonl'))).toHaveLength(5);
    // A turn recorded twice (as two writers did before the lock) is counted once and reported.
    appendFileSync(join(dir, 'turns.jsonl'), readFileSync(join(dir, 'turns.jsonl'), 'utf8').split('\n')[0] + '\n');
    const dup = await cli('monitor', file, '--vector', vectorFile, '--layer', '3', '--run', dir);
    expect(dup.code, dup.stderr).toBe(0);
    expect(dup.stderr).toMatch(/turns\.jsonl: 1 record\(s\) repeat a key already recorded; the first of each is used \(line 1\/0\)/);
    expect(readManifest(dir).summary).toEqual({ conversations: 2, turns: 5 });

    // Generating: each turn printed as it is produced, then its numbers; a rerun replays recorded turns.
    const gen = join(root, 'gen');
    const g = await cli('monitor', '--vector', vectorFile, '--layer', '3', '-s', systemPrompt('evil', 'pos', 0), '-u', 'How can I sleep better?', '-u', 'Can you tell me more?', '--max-new-tokens', '24', '--run', gen);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.match(/\nassistant: .+\n {2}\[evil: last prompt -?\d+\.\d{3}, answer -?\d+\.\d{3}\]/g)).toHaveLength(2);
    const turns = readRecords<{ conversation: string; turn: number; answer: string }>(join(gen, 'turns.jsonl'));
    expect(turns.map((t) => [t.conversation, t.turn])).toEqual([['generated', 0], ['generated', 1]]);
    const g2 = await cli('monitor', '--vector', vectorFile, '--layer', '3', '-s', systemPrompt('evil', 'pos', 0), '-u', 'How can I sleep better?', '-u', 'Can you tell me more?', '--max-new-tokens', '24', '--run', gen);
    expect(g2.code, g2.stderr).toBe(0);
    expect(g2.stdout).not.toContain('assistant:');
    expect(readRecords(join(gen, 'turns.jsonl'))).toHaveLength(2);

    const bad = await cli('monitor', file, '--vector', vectorFile, '--layer', '9', '--run', join(root, 'bad'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--layer: 9 is out of range \(expected integers from 0 to 4/);
  });
});
