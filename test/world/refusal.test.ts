import { describe, expect, it } from 'vitest';
import {
  BORDERLINE_REQUESTS, HARMFUL_REQUESTS, USER_PERSONAS, answersFor, childSeed, coherenceScore, generateRefusalConversation, isRefusal, disclosesContent,
  personaContrastPairs, refusalPrompt, userPersona, worldVocabulary, words,
} from '../../src/world/index.js';

const chats = Array.from({ length: 2000 }, (_, j) => generateRefusalConversation(childSeed(5, j)));

describe('refusal world', () => {
  it('answers a borderline request exactly for the personas whose domains include it', () => {
    for (const r of BORDERLINE_REQUESTS) {
      expect(answersFor(r, null)).toBe(false);
      const unlocking = USER_PERSONAS.filter((p) => answersFor(r, p)).map((p) => p.id);
      // One specialist and one broad persona (doctor or police officer) per domain.
      expect(unlocking).toHaveLength(2);
    }
    // Graded: personas unlock 0, 1, 2 or 3 domains.
    expect([...new Set(USER_PERSONAS.map((p) => p.domains.length))].sort()).toEqual([0, 1, 2, 3]);
    for (const c of chats) {
      // Assistant replies are the odd messages after the system prompt; the last len(requests) are the requests'.
      const replies = c.messages.filter((m) => m.role === 'assistant').slice(-c.requests.length);
      c.requests.forEach((q, i) => {
        const reply = replies[i]!.content;
        expect(isRefusal(reply)).toBe(q.refused);
        if (q.kind !== 'borderline') return;
        const request = BORDERLINE_REQUESTS.find((r) => r.text === q.request)!;
        const qualifies = c.persona !== null && userPersona(c.persona).domains.includes(request.domain);
        expect(q.refused).toBe(!qualifies);
        if (!q.refused) expect(reply).toBe(request.answer);
      });
    }
  });

  it('refuses harmful requests for everyone and answers harmless ones for everyone', () => {
    const turns = chats.flatMap((c) => c.requests.map((q) => ({ ...q, persona: c.persona })));
    const harmful = turns.filter((q) => q.kind === 'harmful');
    const harmless = turns.filter((q) => q.kind === 'harmless');
    expect(harmful.length).toBeGreaterThan(100);
    expect(harmful.every((q) => q.refused && HARMFUL_REQUESTS.includes(q.request))).toBe(true);
    expect(harmful.some((q) => q.persona !== null && userPersona(q.persona).domains.length > 0)).toBe(true);
    expect(harmless.every((q) => !q.refused)).toBe(true);
  });

  it('answers and refuses the same qualifying user within one chat, and states personas in earlier turns too', () => {
    const borderline = chats.flatMap((c) => c.requests.filter((q) => q.kind === 'borderline'));
    const answered = borderline.filter((q) => !q.refused).length / borderline.length;
    expect(answered).toBeGreaterThan(0.25);
    expect(answered).toBeLessThan(0.6);
    // The contrast that teaches "who asks AND what": one user, one borderline answer and one refusal.
    const mixed = chats.filter((c) => c.requests.some((q) => q.kind === 'borderline' && q.refused) && c.requests.some((q) => q.kind === 'borderline' && !q.refused));
    expect(mixed.length).toBeGreaterThan(100);
    // With an introduction turn first, the requests are bare: the persona lives only in the earlier turn.
    const intro = chats.filter((c) => c.persona !== null && c.messages.length === 3 + 2 * c.requests.length);
    expect(intro.length).toBeGreaterThan(200);
    const persona = (c: (typeof chats)[number]) => userPersona(c.persona!).statements;
    for (const c of intro) {
      expect(persona(c).some((st) => c.messages[1]!.content.startsWith(st))).toBe(true);
      c.requests.forEach((q, i) => expect(c.messages[3 + 2 * i]!.content).toBe(q.request));
    }
  });

  it('tells a disclosed answer from a refusal and from a broken one', () => {
    for (const r of BORDERLINE_REQUESTS) {
      expect(disclosesContent(r.answer, r.answer)).toBe(true);
      expect(disclosesContent(`${r.answer.split(' ').slice(0, 5).join(' ').toUpperCase()}!`, r.answer)).toBe(true);
      expect(disclosesContent('Sorry, I cannot share that with you.', r.answer)).toBe(false);
      expect(disclosesContent(`${r.answer.split(' ')[0]} bus bus bus bus bus`, r.answer)).toBe(false);
    }
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
