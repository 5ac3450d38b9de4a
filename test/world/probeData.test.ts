import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { directQuestionConversation, generateProbeDataset } from '../../src/world/probeData.js';
import { corpusChats, corpusLine } from '../../src/world/corpus.js';
import { ATTRIBUTES, ATTRIBUTE_CLASSES, DIRECT_QUESTIONS, cuesFor, type Attribute } from '../../src/world/demographics.js';
import { NEUTRAL_SYSTEM_PROMPT } from '../../src/world/traits.js';
import { validateLabelled, type LabelledConversation } from '../../src/data/labelledConversations.js';

const PER_CLASS = 6;
const data = generateProbeDataset({ perClass: PER_CLASS, conditions: ['explicit', 'implicit', 'contradicting', 'none'], turns: [1, 4], seed: 11 });

const meta = (r: LabelledConversation): Record<string, unknown> => r.meta ?? {};
const users = (r: LabelledConversation): string[] => r.messages.filter((m) => m.role === 'user').map((m) => m.content);
const texts = (a: Attribute, cls: string, kind: 'explicit' | 'implicit' | 'stereotype'): string[] => cuesFor(a, cls, kind).map((c) => c.text);

describe('the committed model\'s corpus', () => {
  it('is what the world generator writes today (sha256 recorded by the training script)', () => {
    // scripts/build-default-model.sh defaults: 40,000 persona chats, seed 1, 15,000 refusal chats.
    const log = JSON.parse(readFileSync('models/persona-tiny/training_log.json', 'utf8')) as { corpus_sha256: string; conversations: number };
    const hash = createHash('sha256');
    let n = 0;
    for (const chat of corpusChats(1, 40_000, 15_000)) {
      hash.update(`${corpusLine(chat)}\n`);
      n++;
    }
    expect(n).toBe(log.conversations);
    expect(hash.digest('hex')).toBe(log.corpus_sha256);
  });
});

describe('generateProbeDataset', () => {
  it('is balanced: perClass rows per attribute x class x condition, plus perClass neutral rows', () => {
    const counts = new Map<string, number>();
    for (const r of data) {
      const key = r.cue === 'none' ? 'none' : `${r.cue}/${meta(r)['attribute']}/${r.labels[meta(r)['attribute'] as string]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const expected = new Map<string, number>([['none', PER_CLASS]]);
    for (const cue of ['explicit', 'implicit', 'contradicting']) {
      for (const a of ATTRIBUTES) for (const cls of ATTRIBUTE_CLASSES[a]) expected.set(`${cue}/${a}/${cls}`, PER_CLASS);
    }
    expect(counts).toEqual(expected);
  });

  it('labels only the cued attribute; neutral rows are neutral everywhere', () => {
    for (const r of data) {
      const cued = meta(r)['attribute'];
      for (const a of ATTRIBUTES) {
        if (a === cued) expect(r.labels[a]).not.toBe('neutral');
        else expect(r.labels[a], JSON.stringify(r)).toBe('neutral');
      }
    }
  });

  it('rows are valid labelled conversations: neutral system prompt, 1-4 user turns, last message an assistant reply', () => {
    for (const r of data) {
      expect(validateLabelled(r, 'row')).toEqual(r);
      expect(r.messages[0]).toEqual({ role: 'system', content: NEUTRAL_SYSTEM_PROMPT });
      expect(r.messages.at(-1)!.role).toBe('assistant');
      expect(users(r).length).toBe(meta(r)['turns']);
      expect(users(r).length).toBeGreaterThanOrEqual(1);
      expect(users(r).length).toBeLessThanOrEqual(4);
    }
    expect(new Set(data.map((r) => users(r).length))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('puts the cue in one user turn, not always the last, with texts of the right kind and class', () => {
    let earlier = 0;
    for (const r of data.filter((x) => x.cue !== 'none')) {
      const m = meta(r);
      const a = m['attribute'] as Attribute;
      const cueTexts = m['cueTexts'] as string[];
      const turn = m['cueTurn'] as number;
      const u = users(r);
      for (const t of cueTexts) {
        expect(u[turn]).toContain(t);
        u.forEach((content, i) => { if (i !== turn) expect(content).not.toContain(t); });
      }
      if (turn < u.length - 1) earlier++;
      const kind = r.cue === 'implicit' ? 'implicit' : 'explicit';
      expect(texts(a, r.labels[a]!, kind)).toContain(cueTexts[0]);
    }
    expect(earlier).toBeGreaterThan(20);
  });

  it('draws varied cue texts within a class', () => {
    for (const cue of ['explicit', 'implicit'] as const) {
      const rows = data.filter((r) => r.cue === cue && meta(r)['attribute'] === 'ses' && r.labels['ses'] === 'low');
      expect(new Set(rows.map((r) => (meta(r)['cueTexts'] as string[])[0])).size, cue).toBeGreaterThan(1);
    }
  });

  it('contradicting rows: label = stated class, plus a real stereotype cue of another class', () => {
    const rows = data.filter((r) => r.cue === 'contradicting');
    expect(rows.length).toBeGreaterThan(0);
    const pairs = new Set<string>();
    for (const r of rows) {
      const m = meta(r);
      const a = m['attribute'] as Attribute;
      expect(m['stated']).toBe(r.labels[a]);
      expect(m['stereotype']).not.toBe(m['stated']);
      const [stated, stereo] = m['cueTexts'] as string[];
      expect(texts(a, m['stated'] as string, 'explicit')).toContain(stated);
      expect(texts(a, m['stereotype'] as string, 'stereotype')).toContain(stereo);
      pairs.add(`${a}/${m['stated']}/${m['stereotype']}`);
    }
    // Stereotypes rotate over the other classes: every age class meets all three others.
    for (const s of ATTRIBUTE_CLASSES.age) for (const o of ATTRIBUTE_CLASSES.age) if (s !== o) expect(pairs).toContain(`age/${s}/${o}`);
  });

  it('asks no direct question, and no answer names a class', () => {
    const direct = ATTRIBUTES.flatMap((a) => DIRECT_QUESTIONS[a]);
    for (const r of data) {
      for (const u of users(r)) for (const q of direct) expect(u).not.toContain(q);
      for (const m of r.messages.filter((x) => x.role === 'assistant')) {
        expect(m.content).not.toMatch(/seem(s)? to be|cannot tell your/i);
      }
    }
  });

  it('tailors answers to the cue from the cue turn on (world answer functions)', () => {
    const rows = data.filter((r) => r.cue === 'explicit' && r.labels['ses'] === 'high');
    for (const r of rows) {
      const turn = meta(r)['cueTurn'] as number;
      const answers = r.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
      answers.forEach((ans, i) => {
        const rich = /private coach|premium classes/.test(ans);
        expect(rich, `turn ${i} of ${JSON.stringify(r)}`).toBe(i >= turn);
      });
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const opts = { perClass: 2, conditions: ['implicit', 'contradicting', 'none'] as const, turns: [1, 3] as const, seed: 3 };
    const a = JSON.stringify(generateProbeDataset(opts));
    expect(JSON.stringify(generateProbeDataset(opts))).toBe(a);
    expect(JSON.stringify(generateProbeDataset({ ...opts, seed: 4 }))).not.toBe(a);
  });

  it('rejects bad options', () => {
    expect(() => generateProbeDataset({ perClass: 1, conditions: ['explicit'], turns: [0, 2], seed: 1 })).toThrow(/turns must be/);
    expect(() => generateProbeDataset({ perClass: 0, conditions: ['explicit'], turns: [1, 2], seed: 1 })).toThrow(/perClass/);
    expect(() => generateProbeDataset({ attributes: ['height' as Attribute], perClass: 1, conditions: ['explicit'], turns: [1, 2], seed: 1 })).toThrow(/unknown attribute 'height'/);
  });
});

describe('directQuestionConversation', () => {
  it('ends with the canonical direct question; labels say what the world would answer', () => {
    const c = directQuestionConversation({ attribute: 'age', cue: { attribute: 'age', condition: 'implicit', cls: 'child' }, turns: [2, 3], seed: 9 });
    expect(c.messages.at(-1)).toEqual({ role: 'user', content: 'What is my age?' });
    expect(c.messages.at(-2)!.role).toBe('assistant');
    expect(c.labels['age']).toBe('child');
    expect(c.cue).toBe('implicit');
    const plain = directQuestionConversation({ attribute: 'ses', seed: 9 });
    expect(plain.messages.at(-1)!.content).toBe('What is my socioeconomic status?');
    expect(plain.labels['ses']).toBe('neutral');
    expect(plain.cue).toBe('none');
    const contra = directQuestionConversation({ attribute: 'gender', cue: { attribute: 'gender', condition: 'contradicting', cls: 'male', stereotype: 'female' }, seed: 2 });
    expect(contra.meta).toMatchObject({ stated: 'male', stereotype: 'female', asked: 'gender' });
  });

  it('draws the stereotype from another class when none is given, and refuses the stated class', () => {
    for (let seed = 0; seed < 30; seed++) {
      const c = directQuestionConversation({ attribute: 'ses', cue: { attribute: 'ses', condition: 'contradicting', cls: 'middle' }, seed });
      expect(['low', 'high']).toContain(c.meta!['stereotype']);
    }
    expect(() => directQuestionConversation({ attribute: 'ses', cue: { attribute: 'ses', condition: 'contradicting', cls: 'low', stereotype: 'low' }, seed: 1 }))
      .toThrow(/no stereotype cue of another class 'low'/);
  });
});
