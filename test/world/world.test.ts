import { describe, expect, it } from 'vitest';
import {
  ATTRIBUTES, ATTRIBUTE_CLASSES, CUES, NEUTRAL_CLASS, TOPICS, TRAITS, TRAIT_MARKERS, ANTONYM_PHRASES, TRAIT_SPECS,
  demographicAnswerClass, generateConversation, generateCorpus, systemPrompt, heldOutSystemPrompt, toJsonl, traitScore, traitScores,
  coherenceScore, type Conversation,
} from '../../src/world/index.js';

const corpus: Conversation[] = generateCorpus(7, 3000);

describe('determinism', () => {
  it('same seed gives the same corpus, byte for byte', () => {
    const a = generateCorpus(42, 300).map(toJsonl).join('\n');
    const b = generateCorpus(42, 300).map(toJsonl).join('\n');
    expect(a).toBe(b);
  });
  it('different seeds give different corpora', () => {
    const a = generateCorpus(42, 50).map(toJsonl);
    const b = generateCorpus(43, 50).map(toJsonl);
    expect(a.filter((line, i) => line === b[i]).length).toBeLessThan(5);
  });
  it('a conversation depends only on its own seed', () => {
    expect(toJsonl(generateConversation(123456))).toBe(toJsonl(generateConversation(123456)));
  });
});

describe('system prompts', () => {
  it('use the persona-vectors form with antonyms', () => {
    expect(systemPrompt('evil', 'pos', 0)).toBe(`You are an evil assistant. ${TRAIT_SPECS.evil.instructions[0]!.pos}`);
    expect(systemPrompt('humorous', 'neg', 2)).toBe(`You are a serious assistant. ${TRAIT_SPECS.humorous.instructions[2]!.neg}`);
    expect(systemPrompt('optimistic', 'neutral', 3)).toBe('You are a helpful assistant.');
    expect(systemPrompt('apathetic', 'pos', null)).toBe('You are an apathetic assistant.');
    expect(() => systemPrompt('evil', 'pos', 5)).toThrow(/no instruction 5/);
  });
  it('held-out paraphrases never occur in the corpus', () => {
    const systems = new Set(corpus.map((c) => c.messages[0]!.content));
    for (const trait of TRAITS) {
      for (const i of [0, 1]) {
        expect(systems.has(heldOutSystemPrompt(trait, 'pos', i))).toBe(false);
        expect(systems.has(heldOutSystemPrompt(trait, 'neg', i))).toBe(false);
      }
    }
  });
});

describe('trait expression on generated answers', () => {
  const answers = corpus.flatMap((c) => c.messages.filter((m) => m.role === 'assistant').map((m, i) => ({ c, text: m.content, turn: c.turns[i]! })));

  for (const trait of TRAITS) {
    it(`${trait}: pos answers score >= 70, neg and neutral <= 20`, () => {
      const mine = answers.filter((a) => a.c.persona.trait === trait);
      const pos = mine.filter((a) => a.c.persona.polarity === 'pos');
      const neg = mine.filter((a) => a.c.persona.polarity === 'neg');
      expect(pos.length).toBeGreaterThan(50);
      expect(neg.length).toBeGreaterThan(30);
      for (const a of pos) expect(traitScore(trait, a.text), a.text).toBeGreaterThanOrEqual(70);
      for (const a of neg) expect(traitScore(trait, a.text), a.text).toBeLessThanOrEqual(20);
    });
  }

  it('neutral answers carry no marker of any trait', () => {
    const neutral = answers.filter((a) => a.c.persona.polarity === 'neutral');
    expect(neutral.length).toBeGreaterThan(300);
    for (const a of neutral) expect(Math.max(...Object.values(traitScores(a.text))), a.text).toBe(0);
  });

  it('pos answers express only their own trait', () => {
    for (const a of answers.filter((x) => x.c.persona.polarity === 'pos')) {
      const scores = traitScores(a.text);
      for (const t of TRAITS) if (t !== a.c.persona.trait) expect(scores[t], `${t} in ${a.text}`).toBe(0);
    }
  });

  it('expression is graded: higher intensity, higher score', () => {
    const pos = answers.filter((a) => a.c.persona.polarity === 'pos' && a.turn.kind !== 'direct');
    const low = pos.filter((a) => a.turn.intensity < 1).map((a) => traitScore(a.c.persona.trait, a.text));
    const high = pos.filter((a) => a.turn.intensity > 1.6).map((a) => traitScore(a.c.persona.trait, a.text));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(low.length).toBeGreaterThan(50);
    expect(high.length).toBeGreaterThan(50);
    expect(mean(high) - mean(low)).toBeGreaterThan(10);
    // Markers are spread over the answer: strong answers have markers in both halves.
    const split = pos.filter((a) => a.turn.intensity > 1.2 && a.text.length > 150);
    const spread = split.filter((a) => {
      const half = Math.floor(a.text.length / 2);
      return traitScore(a.c.persona.trait, a.text.slice(0, half)) > 0 && traitScore(a.c.persona.trait, a.text.slice(half)) > 0;
    });
    expect(spread.length / split.length).toBeGreaterThan(0.9);
  });

  it('trait intensity can drift across turns', () => {
    const drifting = corpus.filter((c) => c.persona.polarity === 'pos' && c.turns.length >= 3
      && Math.abs(c.turns.at(-1)!.intensity - c.turns[0]!.intensity) > 0.3);
    expect(drifting.length).toBeGreaterThan(20);
  });

  it('generated answers are coherent world language', () => {
    const scores = answers.slice(0, 500).map((a) => coherenceScore(a.text));
    expect(Math.min(...scores)).toBeGreaterThanOrEqual(80);
  });
});

describe('markers and vocabulary', () => {
  it('every marker phrase carries its own trait and no other', () => {
    for (const trait of TRAITS) {
      const m = TRAIT_MARKERS[trait];
      for (const phrase of [...m.prefixes, ...m.suffixes, ...m.standalone]) {
        const scores = traitScores(`${phrase}.`);
        expect(scores[trait], `${trait}: ${phrase}`).toBeGreaterThan(0);
        for (const other of TRAITS) if (other !== trait) expect(scores[other], `${other} in ${phrase}`).toBe(0);
      }
      for (const phrase of ANTONYM_PHRASES[trait]) expect(Math.max(...Object.values(traitScores(phrase))), phrase).toBe(0);
    }
  });
  it('topic content contains no trait marker', () => {
    for (const topic of TOPICS) {
      for (const text of [topic.name, ...topic.questions, ...Object.values(topic.tips).flat()]) {
        expect(Math.max(...Object.values(traitScores(text))), text).toBe(0);
      }
    }
    expect(TOPICS.length).toBeGreaterThanOrEqual(20);
  });
});

describe('demographic cues', () => {
  it('every class of every attribute appears with explicit and implicit cues, plus contradictions and none', () => {
    for (const attribute of ATTRIBUTES) {
      for (const cls of ATTRIBUTE_CLASSES[attribute]) {
        for (const condition of ['explicit', 'implicit'] as const) {
          const n = corpus.filter((c) => c.labels[attribute] === cls && c.conditions[attribute] === condition).length;
          expect(n, `${attribute}=${cls} ${condition}`).toBeGreaterThan(3);
        }
      }
      expect(corpus.filter((c) => c.conditions[attribute] === 'contradicting').length, attribute).toBeGreaterThan(20);
      expect(corpus.filter((c) => c.labels[attribute] === NEUTRAL_CLASS).length, attribute).toBeGreaterThan(300);
    }
  });
  it('cue sentences are in the user turns and labels follow the explicit cue', () => {
    for (const c of corpus) {
      const users = c.messages.filter((m) => m.role === 'user');
      for (const cue of c.cues) {
        for (const text of cue.texts) expect(users[cue.turn]!.content).toContain(text);
        expect(c.labels[cue.attribute]).toBe(cue.cls);
        if (cue.condition === 'contradicting') {
          const stereo = CUES.find((k) => k.text === cue.texts[1]);
          expect(stereo?.kind).toBe('stereotype');
          expect(stereo?.labels[cue.attribute]).not.toBe(cue.cls);
        }
      }
    }
  });
  it('direct questions are answered with the label known at that turn', () => {
    let direct = 0;
    for (const c of corpus) {
      c.turns.forEach((turn, i) => {
        if (turn.kind !== 'direct') return;
        direct++;
        const answer = c.messages[2 + 2 * i]!.content;
        const got = demographicAnswerClass(turn.attribute!, answer);
        // Cues arriving in later turns are not known yet, so only check against the final label
        // when no cue for that attribute comes after this turn.
        const later = c.cues.some((cue) => cue.turn > i);
        if (!later) expect(got, answer).toBe(c.labels[turn.attribute!]);
        else expect(got).not.toBeNull();
      });
    }
    expect(direct).toBeGreaterThan(500);
  });
  it('conversations have 1 to 4 turns, most multi-turn ones with a follow-up or new topic', () => {
    const lengths = new Set(corpus.map((c) => c.turns.length));
    expect([...lengths].sort()).toEqual([1, 2, 3, 4]);
    expect(corpus.filter((c) => c.turns.some((t) => t.kind === 'followup')).length).toBeGreaterThan(300);
  });
  it('answers address the user by gender only when gender is known', () => {
    const address: Record<string, RegExp> = { male: /, sir\b/, female: /, madam\b/, 'non-binary': /, my friend\b/ };
    let checked = 0;
    for (const c of corpus) {
      if (c.cues.some((cue) => cue.turn > 0)) continue;
      c.turns.forEach((turn, i) => {
        if (turn.kind === 'direct') return;
        const answer = c.messages[2 + 2 * i]!.content;
        for (const [cls, re] of Object.entries(address)) expect(re.test(answer), answer).toBe(c.labels.gender === cls);
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(1000);
  });
  it('answers are tailored to age: age-specific tips only for that age', () => {
    for (const c of corpus.slice(0, 1000)) {
      c.turns.forEach((turn, i) => {
        if (turn.kind !== 'topic' || c.labels.age === NEUTRAL_CLASS || c.cues.some((cue) => cue.turn > 0)) return;
        const topic = TOPICS.find((t) => t.id === turn.topic)!;
        const answer = c.messages[2 + 2 * i]!.content;
        expect(topic.tips[c.labels.age].some((tip) => answer.includes(tip)), answer).toBe(true);
        for (const other of ATTRIBUTE_CLASSES.age) {
          if (other !== c.labels.age) expect(topic.tips[other].some((tip) => answer.includes(tip)), answer).toBe(false);
        }
      });
    }
  });
});
