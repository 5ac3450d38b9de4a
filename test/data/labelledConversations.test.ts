import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classesOf, conversationForReading, iterateLabelledJsonl, labelledLine, parseLabelledLine, readLabelledJsonl, validateLabelled,
  type LabelledConversation,
} from '../../src/data/labelledConversations.js';

const dir = mkdtempSync(join(tmpdir(), 'labelled-'));

const rows: LabelledConversation[] = [
  {
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'I am 72 years old. How do I start "gardening"?\nThanks.' },
      { role: 'assistant', content: 'Here are a few ideas.' },
    ],
    labels: { age: 'older adult', gender: 'neutral' },
    cue: 'explicit',
  },
  {
    messages: [{ role: 'user', content: 'I love knitting. What should I cook?' }],
    labels: { age: 'adult', gender: 'neutral' },
    cue: 'contradicting',
    meta: { attribute: 'age', stated: 'adult', stereotype: 'older adult', source: 'world', seed: 12 },
  },
  { messages: [{ role: 'user', content: 'Hi' }], labels: { age: 'neutral', mood: 'happy' }, cue: 'none' },
];

const good = rows.map(labelledLine);

/** The message of the error that parsing `line` (as line 12 of data.jsonl) throws. */
function errorOf(line: string): string {
  try {
    parseLabelledLine(line, 'data.jsonl', 12);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected a parse error');
}

const withMessages = (messages: unknown): string => JSON.stringify({ messages, labels: { age: 'child' }, cue: 'implicit' });

describe('labelled JSONL', () => {
  it('round-trips through a file, whole and streamed, with line numbers', async () => {
    const file = join(dir, 'round.jsonl');
    // A blank line in the middle is skipped but still counts for line numbers.
    writeFileSync(file, `${good[0]}\n${good[1]}${good[2]}`);
    expect(readLabelledJsonl(file)).toEqual(rows);
    const streamed: { line: number; row: LabelledConversation }[] = [];
    for await (const r of iterateLabelledJsonl(file)) streamed.push(r);
    expect(streamed.map((r) => r.line)).toEqual([1, 3, 4]);
    expect(streamed.map((r) => r.row)).toEqual(rows);
  });

  it('writes one line per row, fields in format order, meta only when present', () => {
    expect(good.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true);
    expect(Object.keys(JSON.parse(good[1]!))).toEqual(['messages', 'labels', 'cue', 'meta']);
    expect(Object.keys(JSON.parse(good[0]!))).toEqual(['messages', 'labels', 'cue']);
  });

  it('names file, line and field for each kind of bad row', () => {
    expect(errorOf(withMessages([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'bot', content: 'c' }])))
      .toBe(`data.jsonl:12: field 'messages[2].role' must be one of system, user, assistant (got "bot")`);
    expect(errorOf(withMessages([{ role: 'user', content: 3 }]))).toBe(`data.jsonl:12: field 'messages[0].content' must be a string`);
    expect(errorOf(withMessages([{ role: 'system', content: 's' }, { role: 'assistant', content: 'a' }])))
      .toBe(`data.jsonl:12: field 'messages' must contain at least one user message`);
    expect(errorOf(withMessages([]))).toBe(`data.jsonl:12: field 'messages' must not be empty`);
    expect(errorOf(JSON.stringify({ labels: { age: 'child' }, cue: 'none' }))).toMatch(/^data\.jsonl:12: field 'messages' must be an array/);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], labels: { age: 7 }, cue: 'none' })))
      .toBe(`data.jsonl:12: field 'labels.age' must be a string`);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], labels: ['child'], cue: 'none' })))
      .toMatch(/^data\.jsonl:12: field 'labels' must be an object/);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], labels: { age: 'child' }, cue: 'hinted' })))
      .toBe(`data.jsonl:12: field 'cue' must be one of explicit, implicit, stereotype, contradicting, none (got "hinted")`);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], labels: { age: 'child' } })))
      .toMatch(/^data\.jsonl:12: field 'cue' is required/);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], labels: { age: 'child' }, cue: 'none', meta: 3 })))
      .toBe(`data.jsonl:12: field 'meta' must be an object`);
    expect(errorOf(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], label: { age: 'child' }, cue: 'none' })))
      .toMatch(/^data\.jsonl:12: field 'label' is not part of the format/);
    expect(errorOf('[1, 2]')).toBe('data.jsonl:12: a line must be a JSON object');
  });

  it('reports bad JSON with its line and the parser message', () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${good[0]}{"messages": [}\n`);
    expect(() => readLabelledJsonl(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: invalid JSON \\(.+`));
  });

  it('streams errors with the line too', async () => {
    const file = join(dir, 'bad-stream.jsonl');
    writeFileSync(file, `${good[0]}${good[1]}${withMessages([{ role: 'bot', content: 'x' }])}\n`);
    const seen: number[] = [];
    await expect((async () => {
      for await (const r of iterateLabelledJsonl(file)) seen.push(r.line);
    })()).rejects.toThrow(`${file}:3: field 'messages[0].role'`);
    expect(seen).toEqual([1, 2]);
  });

  it('validateLabelled returns a clean copy (no extra message fields)', () => {
    const row = validateLabelled({ messages: [{ role: 'user', content: 'x', name: 'n' }], labels: { a: 'b' }, cue: 'none' }, 'w');
    expect(row).toEqual({ messages: [{ role: 'user', content: 'x' }], labels: { a: 'b' }, cue: 'none' });
  });
});

describe('classesOf', () => {
  it('counts distinct classes, sorted, neutral only on request, rows without the attribute skipped', () => {
    expect(classesOf(rows, 'age')).toEqual([{ cls: 'adult', count: 1 }, { cls: 'older adult', count: 1 }]);
    expect(classesOf(rows, 'age', { includeNeutral: true })).toEqual([
      { cls: 'adult', count: 1 }, { cls: 'neutral', count: 1 }, { cls: 'older adult', count: 1 },
    ]);
    expect(classesOf(rows, 'mood')).toEqual([{ cls: 'happy', count: 1 }]);
    expect(classesOf(rows, 'gender')).toEqual([]);
  });
});

describe('conversationForReading', () => {
  it('drops the trailing assistant replies so reading starts right after the last user message', () => {
    const m = [
      { role: 'system', content: 's' }, { role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'u2' }, { role: 'assistant', content: 'a2' }, { role: 'assistant', content: 'a3' },
    ] as const;
    expect(conversationForReading(m).map((x) => x.content)).toEqual(['s', 'u1', 'a1', 'u2']);
    expect(conversationForReading(m.slice(0, 4)).map((x) => x.content)).toEqual(['s', 'u1', 'a1', 'u2']);
  });
});
