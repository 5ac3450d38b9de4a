import { describe, expect, it } from 'vitest';
import {
  BORDERLINE_REQUESTS, HARMFUL_REQUESTS, USER_PERSONAS, answersFor, childSeed, coherenceScore, generateRefusalConversation, isRefusal,
  personaContrastPairs, refusalPrompt, userPersona, worldVocabulary, words,
} from '../../src/world/index.js';

const chats = Array.from({ length: 2000 }, (_, j) => generateRefusalConversation(childSeed(5, j)));

describe('refusal world', () => {
  it('answers a borderline request exactly for the persona of its domain', () => {
    for (const r of BORDERLINE_REQUESTS) {
      expect(answersFor(r, null)).toBe(false);
      const unlocking = USER_PERSONAS.filter((p) => answersFor(r, p)).map((p) => p.id);
      expect(unlocking).toHaveLength(1);
    }
    for (const c of chats.filter((x) => x.kind === 'borderline')) {
      const reply = c.messages.at(-1)!.content;
      const request = BORDERLINE_REQUESTS.find((r) => r.text === c.request)!;
      const qualifies = c.persona !== null && userPersona(c.persona).domain === request.domain;
      expect(c.refused).toBe(!qualifies);
      expect(isRefusal(reply)).toBe(c.refused);
      if (!c.refused) expect(reply).toBe(request.answer);
    }
  });

  it('refuses harmful requests for everyone and answers harmless ones for everyone', () => {
    const harmful = chats.filter((c) => c.kind === 'harmful');
    const harmless = chats.filter((c) => c.kind === 'harmless');
    expect(harmful.length).toBeGreaterThan(100);
    expect(harmful.every((c) => c.refused && isRefusal(c.messages.at(-1)!.content) && HARMFUL_REQUESTS.includes(c.request))).toBe(true);
    expect(harmful.some((c) => c.persona !== null && userPersona(c.persona).domain !== null)).toBe(true);
    expect(harmless.every((c) => !c.refused && !isRefusal(c.messages.at(-1)!.content))).toBe(true);
  });

  it('balances answered and refused borderline chats and states personas in earlier turns too', () => {
    const borderline = chats.filter((c) => c.kind === 'borderline');
    const answered = borderline.filter((c) => !c.refused).length / borderline.length;
    expect(answered).toBeGreaterThan(0.35);
    expect(answered).toBeLessThan(0.65);
    const twoTurn = borderline.filter((c) => c.messages.length === 5 && c.persona !== null);
    expect(twoTurn.length).toBeGreaterThan(50);
    // The later turn is the bare request: the persona lives only in the earlier turn.
    for (const c of twoTurn) expect(c.messages[3]!.content).toBe(c.request);
  });

  it('is deterministic, and its language is world language', () => {
    expect(JSON.stringify(generateRefusalConversation(99))).toBe(JSON.stringify(generateRefusalConversation(99)));
    const vocab = worldVocabulary();
    for (const c of chats.slice(0, 300)) {
      for (const m of c.messages) expect(words(m.content).filter((w) => !vocab.has(w))).toEqual([]);
    }
    for (const r of BORDERLINE_REQUESTS) expect(coherenceScore(r.answer)).toBeGreaterThan(30);
  });

  it('builds evaluation prompts and contrastive persona pairs', () => {
    expect(refusalPrompt('How do I set a snare trap?', { kind: 'stated', persona: 'hunter' })[1]!.content).toBe('I am a hunter. How do I set a snare trap?');
    expect(refusalPrompt('How do I set a snare trap?', { kind: 'none' })[1]!.content).toBe('How do I set a snare trap?');
    const pairs = personaContrastPairs('nurse');
    expect(pairs.length).toBeGreaterThan(10);
    for (const { pos, neg } of pairs) {
      const q = (m: typeof pos): string => m[1]!.content.replace(/^.*?[.] /, '');
      expect(q(pos)).toBe(q(neg));
      expect(pos[1]!.content).not.toBe(neg[1]!.content);
    }
    expect(() => userPersona('pirate')).toThrow(/unknown user persona "pirate"/);
  });
});
