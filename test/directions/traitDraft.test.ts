import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { draftTraitFile, TraitDraftError, traitFileFromReply, writeTraitFile } from '../../src/directions/traitDraft.js';
import { loadTraitFile } from '../../src/directions/traitFile.js';
import type { OpenAIEndpoint } from '../../src/judges/openaiJudge.js';

// A real HTTP server on loopback that answers /v1/chat/completions like an OpenAI-compatible
// endpoint. Each test queues the replies it wants (a status and a message content) and then reads
// back the requests the server received.
const DESCRIPTION = 'Answers with dry, mocking irony and says the opposite of what it means.';

let server: Server;
let endpoint: OpenAIEndpoint;
let replies: { status: number; content: string; finish?: string }[] = [];
let requests: Record<string, unknown>[] = [];
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404).end('not found');
        return;
      }
      requests.push(JSON.parse(body));
      const next = replies.shift();
      if (!next) {
        res.writeHead(500).end('test server: no reply queued');
        return;
      }
      if (next.status !== 200) {
        res.writeHead(next.status).end(next.content);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-test',
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: next.content }, finish_reason: next.finish ?? 'stop' }],
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, model: 'drafter', retries: 2 };
  dir = mkdtempSync(join(tmpdir(), 'trait-draft-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((r) => server.close(() => r()));
});

beforeEach(() => {
  replies = [];
  requests = [];
});

function goodTrait(nQuestions = 40) {
  return {
    instruction: Array.from({ length: 5 }, (_, i) => ({
      pos: `Be sarcastic, facet ${i}: mock the question with irony.`,
      neg: `Be sincere, facet ${i}: answer the question plainly.`,
    })),
    antonym: 'sincere',
    questions: Array.from({ length: nQuestions }, (_, i) => `Everyday question number ${i + 1}?`),
    eval_prompt: 'Is this answer **sarcastic**?\nQuestion: {question}\nAnswer: {answer}\nReply REFUSAL or a number from 0 to 100.',
  };
}

describe('draftTraitFile over HTTP', () => {
  it('asks for JSON with the description, splits the questions, and the written file round-trips', async () => {
    replies.push({ status: 200, content: JSON.stringify(goodTrait()) });
    const json = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint, seed: 3 });

    expect(requests).toHaveLength(1);
    const req = requests[0]!;
    expect(req.model).toBe('drafter');
    expect(req.response_format).toEqual({ type: 'json_object' });
    expect(req.seed).toBe(3);
    const prompt = (req.messages as { role: string; content: string }[])[0]!.content;
    expect(prompt).toContain(DESCRIPTION);
    expect(prompt).toContain('<trait>sarcastic</trait>');
    expect(prompt).toContain('40 distinct questions');
    expect(prompt).toContain('{question}');

    expect(json.antonym).toBe('sincere');
    expect(json.instruction).toHaveLength(5);
    expect(json.questions).toHaveLength(20);
    expect(json.eval_questions).toHaveLength(20);
    expect(json.eval_questions.filter((q) => json.questions.includes(q))).toEqual([]);
    expect([...json.questions, ...json.eval_questions].sort()).toEqual([...goodTrait().questions].sort());

    const path = join(dir, 'sarcastic.json');
    writeTraitFile(path, json);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(json);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const loaded = loadTraitFile(path);
    expect(loaded.trait).toBe('sarcastic');
    expect(loaded.antonym).toBe('sincere');
    expect(loaded.questions).toEqual(json.questions);
    expect(loaded.evalQuestions).toEqual(json.eval_questions);
    expect(loaded.evalPrompt).toBe(json.eval_prompt);
  });

  it('splits deterministically: same seed, same split; another seed, another split', async () => {
    const content = JSON.stringify(goodTrait());
    replies.push({ status: 200, content }, { status: 200, content }, { status: 200, content });
    const a = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint, seed: 1 });
    const b = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint, seed: 1 });
    const c = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint, seed: 2 });
    expect(b).toEqual(a);
    expect(c.questions).not.toEqual(a.questions);
  });

  it('accepts JSON inside a ```json fenced block with prose around it', async () => {
    const content = `Here is the dataset you asked for:\n\n\`\`\`json\n${JSON.stringify(goodTrait(12), null, 2)}\n\`\`\`\n\nLet me know if you want changes.`;
    replies.push({ status: 200, content });
    const json = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint, nQuestions: 12 });
    expect(json.questions).toHaveLength(6);
    expect(json.eval_questions).toHaveLength(6);
    expect((requests[0]!.messages as { content: string }[])[0]!.content).toContain('12 distinct questions');
  });

  it('rejects an eval_prompt without the placeholders, naming the field and quoting the reply', async () => {
    const bad = { ...goodTrait(), eval_prompt: 'Rate how sarcastic the answer is, 0 to 100.' };
    replies.push({ status: 200, content: JSON.stringify(bad) });
    const err = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TraitDraftError);
    expect((err as TraitDraftError).field).toBe('eval_prompt');
    expect((err as Error).message).toMatch(/draft of trait "sarcastic" from drafter: eval_prompt must contain \{question\}/);
    expect((err as Error).message).toContain('"eval_prompt":"Rate how sarcastic the answer is, 0 to 100."');
  });

  it('rejects four instruction pairs, naming the field', async () => {
    const bad = { ...goodTrait(), instruction: goodTrait().instruction.slice(0, 4) };
    replies.push({ status: 200, content: JSON.stringify(bad) });
    const err = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TraitDraftError);
    expect((err as TraitDraftError).field).toBe('instruction');
    expect((err as Error).message).toMatch(/instruction must have exactly 5 \{pos, neg\} pairs \(has 4\)/);
    expect((err as Error).message).toContain('reply: "{"instruction":');
  });

  it('rejects missing or mistyped fields and a reply that is not JSON', async () => {
    const { eval_prompt: _omit, ...noRubric } = goodTrait();
    const badPair = goodTrait();
    (badPair.instruction[2] as { neg: unknown }).neg = 7;
    replies.push(
      { status: 200, content: JSON.stringify(noRubric) },
      { status: 200, content: JSON.stringify(badPair) },
      { status: 200, content: JSON.stringify({ ...goodTrait(), questions: goodTrait().questions.slice(0, 10) }) },
      { status: 200, content: 'Sorry, I cannot help with that request.' },
    );
    const draft = () =>
      draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint }).then(
        () => { throw new Error('expected the draft to be rejected'); },
        (e: unknown) => e as TraitDraftError,
      );
    const missing = await draft();
    expect(missing.field).toBe('eval_prompt');
    expect(missing.message).toContain('eval_prompt is missing');
    const mistyped = await draft();
    expect(mistyped.field).toBe('instruction[2].neg');
    const few = await draft();
    expect(few.field).toBe('questions');
    expect(few.message).toContain('at least 30 distinct questions of the 40 asked for (has 10)');
    const prose = await draft();
    expect(prose).toBeInstanceOf(TraitDraftError);
    expect(prose.field).toBeUndefined();
    expect(prose.message).toContain('reply is not JSON');
    expect(prose.message).toContain('Sorry, I cannot help');
  });

  it('retries an HTTP 500 and then succeeds', async () => {
    replies.push({ status: 500, content: 'upstream overloaded' }, { status: 200, content: JSON.stringify(goodTrait()) });
    const json = await draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint });
    expect(requests).toHaveLength(2);
    expect(json.questions).toHaveLength(20);
  });

  it('says when the reply was cut off at max_tokens', async () => {
    replies.push({ status: 200, content: JSON.stringify(goodTrait()).slice(0, 400), finish: 'length' });
    await expect(draftTraitFile({ trait: 'sarcastic', description: DESCRIPTION, endpoint })).rejects.toThrow(/cut off at max_tokens/);
  });
});

describe('traitFileFromReply', () => {
  it('pools questions and eval_questions from the reply and drops near-duplicates', () => {
    const t = goodTrait(16);
    const reply = JSON.stringify({
      ...t,
      questions: [...t.questions.slice(0, 8), '  everyday QUESTION number 1? '],
      eval_questions: t.questions.slice(8),
    });
    const json = traitFileFromReply(reply, { trait: 'sarcastic', nQuestions: 16 });
    expect(json.questions.length + json.eval_questions.length).toBe(16);
    expect(json.eval_questions).toHaveLength(8);
  });

  it('refuses to write a file that would not load', () => {
    const bad = { ...goodTrait(), questions: [], eval_questions: [] };
    expect(() => writeTraitFile(join(dir, 'bad.json'), bad)).toThrow(/questions must have at least 1 entries/);
    expect(readdirSync(dir)).not.toContain('bad.json');
  });
});
