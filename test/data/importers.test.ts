import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCsv, importTalkTuner, parseTalkTunerText } from '../../src/data/importers.js';
import { labelledLine, readLabelledJsonl } from '../../src/data/labelledConversations.js';

const root = mkdtempSync(join(tmpdir(), 'importers-'));

function dirWith(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('TalkTuner text files', () => {
  const dir = dirWith('talktuner', {
    'conversation_12_age_older adult.txt': [
      'HUMAN: Hello, I just retired.',
      'What hobbies could I try?',
      'ASSISTANT: Congratulations!',
      '',
      'You could try gardening.',
      'HUMAN: My knees hurt though.',
      'ASSISTANT: Then try swimming.',
    ].join('\n'),
    'conversation_3_socioeco_low.txt': '### Human: I work two jobs.\r\n### Assistant: That sounds hard.\r\n### Human:\r\n',
    'conversation_3_gender_female.txt': '  ### User: My husband and I travel.\n### Assistant: Nice!\n',
    'conversation_7_education_someschool.txt': 'HUMAN: I left school early.\nASSISTANT: That is fine.',
    'notes.md': 'not a conversation',
  });

  it('reads a directory: every .txt file, ordered by id, attribute names mapped (socioeco -> ses)', () => {
    const rows = importTalkTuner(dir);
    expect(rows.map((r) => r.labels)).toEqual([
      { gender: 'female' }, { ses: 'low' }, { education: 'someschool' }, { age: 'older adult' },
    ]);
    expect(rows.every((r) => r.cue === 'implicit')).toBe(true);
    expect(rows[3]!.meta).toEqual({ source: 'talktuner', id: 12, file: join(dir, 'conversation_12_age_older adult.txt') });
  });

  it('splits HUMAN:/ASSISTANT: turns, multi-line turns run to the next prefix', () => {
    const [row] = importTalkTuner(join(dir, 'conversation_12_age_older adult.txt'));
    expect(row!.messages).toEqual([
      { role: 'user', content: 'Hello, I just retired.\nWhat hobbies could I try?' },
      { role: 'assistant', content: 'Congratulations!\n\nYou could try gardening.' },
      { role: 'user', content: 'My knees hurt though.' },
      { role: 'assistant', content: 'Then try swimming.' },
    ]);
  });

  it('accepts ### Human: / ### User: / ### Assistant: and drops an empty trailing turn', () => {
    const rows = importTalkTuner(dir);
    expect(rows[1]!.messages).toEqual([{ role: 'user', content: 'I work two jobs.' }, { role: 'assistant', content: 'That sounds hard.' }]);
    expect(rows[0]!.messages[0]).toEqual({ role: 'user', content: 'My husband and I travel.' });
  });

  it('options: cue, a label map and a system prompt', () => {
    const [row] = importTalkTuner(join(dir, 'conversation_7_education_someschool.txt'), {
      cue: 'explicit', labelMap: { education: { someschool: 'some school' } }, system: 'You are a helpful assistant.',
    });
    expect(row!.labels).toEqual({ education: 'some school' });
    expect(row!.cue).toBe('explicit');
    expect(row!.messages[0]).toEqual({ role: 'system', content: 'You are a helpful assistant.' });
  });

  it('errors name the file (and line)', () => {
    const bad = dirWith('talktuner-bad', {
      'conversation_1_height_tall.txt': 'HUMAN: hi',
      'conversation_2_age_child.txt': 'Some preamble\nHUMAN: hi',
      'conversation_3_age_child.txt': '\n\n',
      'conversation_4_age_adult.txt': 'ASSISTANT: I only talk to myself.',
    });
    expect(message(() => importTalkTuner(bad))).toBe(
      `${join(bad, 'conversation_1_height_tall.txt')}: file name does not follow conversation_{id}_{age|gender|education|socioeco}_{label}.txt`,
    );
    expect(message(() => importTalkTuner(join(bad, 'conversation_2_age_child.txt')))).toMatch(
      new RegExp(`^${escape(join(bad, 'conversation_2_age_child.txt'))}:1: text before the first turn prefix`),
    );
    expect(message(() => importTalkTuner(join(bad, 'conversation_3_age_child.txt')))).toMatch(/conversation_3_age_child\.txt: no turns/);
    expect(message(() => importTalkTuner(join(bad, 'conversation_4_age_adult.txt')))).toMatch(
      /conversation_4_age_adult\.txt: field 'messages' must contain at least one user message/,
    );
  });

  it('parseTalkTunerText merges consecutive turns of one role', () => {
    expect(parseTalkTunerText('HUMAN: a\nHUMAN: b\nASSISTANT: c', 'f')).toEqual([
      { role: 'user', content: 'a\nb' }, { role: 'assistant', content: 'c' },
    ]);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('CSV', () => {
  it('reads text rows: quotes, embedded newlines, label columns, cue and id columns', () => {
    const file = join(root, 'text.csv');
    writeFileSync(file, [
      'id,text,age,gender,cue',
      '1,"I am 8, and I like ""dinosaurs"".",child,,explicit',
      '2,"Line one',
      'line two",adult,male,',
    ].join('\n'));
    const rows = importCsv(file);
    expect(rows).toEqual([
      { messages: [{ role: 'user', content: 'I am 8, and I like "dinosaurs".' }], labels: { age: 'child' }, cue: 'explicit', meta: { source: 'csv', file, line: 2, id: '1' } },
      { messages: [{ role: 'user', content: 'Line one\nline two' }], labels: { age: 'adult', gender: 'male' }, cue: 'implicit', meta: { source: 'csv', file, line: 3, id: '2' } },
    ]);
    // The imported rows are valid JSONL rows.
    const out = join(root, 'text.jsonl');
    writeFileSync(out, rows.map(labelledLine).join(''));
    expect(readLabelledJsonl(out)).toEqual(rows);
  });

  it('reads messages rows with a system column, labelColumns and a default cue', () => {
    const file = join(root, 'messages.csv');
    const messages = JSON.stringify([{ role: 'user', content: 'Hi, "there"' }, { role: 'assistant', content: 'Hello' }]);
    writeFileSync(file, `messages,system,ses,note\n"${messages.replace(/"/g, '""')}",Be brief.,high,ignored\n`);
    const [row] = importCsv(file, { labelColumns: ['ses'], cue: 'stereotype' });
    expect(row!.messages).toEqual([{ role: 'system', content: 'Be brief.' }, ...JSON.parse(messages)]);
    expect(row!.labels).toEqual({ ses: 'high' });
    expect(row!.cue).toBe('stereotype');
  });

  it('errors name file, line and column', () => {
    const cases: [string, string, RegExp][] = [
      ['both.csv', 'text,messages,age\nhi,[],child\n', /both\.csv:1: needs exactly one of the columns 'text' or 'messages'/],
      ['nolabel.csv', 'text,cue\nhi,none\n', /nolabel\.csv:1: no label columns/],
      ['emptytext.csv', 'text,age\nhi,child\n,adult\n', /emptytext\.csv:3: column 'text' is empty/],
      ['badjson.csv', 'messages,age\n"[{""role"":",child\n', /badjson\.csv:2: column 'messages' is not valid JSON: /],
      ['notarray.csv', 'messages,age\n"{}",child\n', /notarray\.csv:2: column 'messages' must be a JSON array/],
      ['badrole.csv', 'messages,age\n"[{""role"":""bot"",""content"":""x""}]",child\n', /badrole\.csv:2: field 'messages\[0\]\.role' must be one of system, user, assistant \(got "bot"\)/],
      ['badcue.csv', 'text,age,cue\nhi,child,loud\n', /badcue\.csv:2: column 'cue' must be one of explicit, implicit/],
      ['nolabels.csv', 'text,age,gender\nhi,child,\nho,,\n', /nolabels\.csv:3: every label column \(age, gender\) is empty/],
      ['ragged.csv', 'text,age\nhi,child,extra\n', /ragged\.csv:2: /],
    ];
    for (const [name, text, pattern] of cases) {
      const file = join(root, name);
      writeFileSync(file, text);
      expect(message(() => importCsv(file)), name).toMatch(pattern);
    }
    const file = join(root, 'missing.csv');
    writeFileSync(file, 'text,age\nhi,child\n');
    expect(message(() => importCsv(file, { labelColumns: ['gender'] }))).toMatch(/missing\.csv:1: no label column 'gender'/);
  });
});
