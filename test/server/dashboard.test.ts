// The dashboard in a real headless Chromium (the system one, driven by playwright-core; nothing is
// downloaded), against a real server on the embedded model: send a message, see the probe bars
// and the trait curves fill in, move a slider, see the next answer change, pin a user attribute,
// export the conversation. Screenshots go to test-output/dashboard/ (gitignored).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium } from '../helpers/browser.js';
import { testServer, type TestServer } from './helpers.js';

const OUT = join(import.meta.dirname, '../../test-output/dashboard');
let s: TestServer;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  const executablePath = findChromium();
  if (!executablePath) throw new Error('chromium is required for the dashboard test (apt-get install chromium)');
  [s, browser] = await Promise.all([
    testServer({ traits: ['evil', 'humorous'], attributes: ['age', 'gender'], cache: 'dashboard' }),
    chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu'] }),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

const MESSAGE = "I'm a grandfather. How can I sleep better?";

async function openPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`${r.url()} failed`));
  await page.goto(s.url + '/');
  await page.waitForSelector('body[data-ready="1"]');
  expect(errors).toEqual([]);
  return page;
}

async function say(page: Page, text: string, turns: number): Promise<{ answer: string; turn: any }> {
  await page.fill('#input', text);
  await page.click('#send');
  await page.waitForSelector(`body[data-turns="${turns}"]`, { timeout: 60_000 });
  const answer = await page.locator(`.msg.assistant[data-turn="${turns - 1}"]`).getAttribute('data-text');
  const turn = await page.evaluate(`state.turns[${turns - 1}]`);
  return { answer: answer!, turn };
}

async function probeBars(page: Page, attribute: string): Promise<Record<string, number>> {
  const bars = page.locator(`.attr[data-attribute="${attribute}"] .bar`);
  const n = await bars.count();
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) out[(await bars.nth(i).getAttribute('data-class'))!] = Number(await bars.nth(i).getAttribute('data-prob'));
  return out;
}

describe('dashboard in headless Chromium', () => {
  let first = '';
  let firstEvil = 0;
  let firstAge: Record<string, number> = {};

  it('chats, and shows the probe bars, the trait curves and the token colours for the answer', async () => {
    const page = await openPage();
    await expect(page.locator('#traitControls input[type=range]').count()).resolves.toBe(2);
    const { answer } = await say(page, MESSAGE, 1);
    expect(answer.length).toBeGreaterThan(0);
    first = answer;
    // Probe bars: one per class, probabilities summing to 1, for both attributes.
    for (const [attribute, classes] of [['age', 4], ['gender', 3]] as const) {
      const p = await probeBars(page, attribute);
      expect(Object.keys(p)).toHaveLength(classes);
      expect(Object.values(p).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    }
    firstAge = await probeBars(page, 'age');
    // The grandfather cue: the model's picture of the user is an older adult.
    expect(Object.entries(firstAge).sort((a, b) => b[1] - a[1])[0]![0]).toBe('older adult');
    // Drift chart: plotly drew one point per trait curve for turn 1.
    await expect(page.locator('#drift').getAttribute('data-turns')).resolves.toBe('1');
    await expect(page.locator('#drift .scatterlayer .trace').count()).resolves.toBe(4);
    // Every answer token is coloured by its projection.
    const tokens = page.locator('.msg.assistant[data-turn="0"] .tok[data-proj]');
    expect(await tokens.count()).toBeGreaterThan(3);
    const evil = (await page.evaluate('state.turns[0].responseMean.evil')) as number;
    firstEvil = evil;
    await page.screenshot({ path: join(OUT, '1-first-answer.png'), fullPage: true });
    await page.close();
  });

  it('steers the next answer with a trait slider', async () => {
    const page = await openPage();
    await page.locator('#steer-evil').fill('8');
    await page.waitForSelector('body[data-controls-version="1"]');
    const { answer, turn } = await say(page, MESSAGE, 1);
    // Same message, same greedy decoding: only the slider differs.
    expect(answer).not.toBe(first);
    expect(turn.controls.steer.evil).toBe(8);
    expect(turn.responseMean.evil).toBeGreaterThan(firstEvil);
    // The picture of the user is read under the pins only: the trait slider leaves it as it was.
    const age = await probeBars(page, 'age');
    for (const [c, p] of Object.entries(firstAge)) expect(age[c]).toBeCloseTo(p, 3);
    await page.screenshot({ path: join(OUT, '2-evil-slider.png'), fullPage: true });
    await page.close();
  });

  it('pins a user attribute: the picture of the user and the answer change; the export has every readout', async () => {
    const page = await openPage();
    await page.selectOption('#pin-age', 'child');
    await page.locator('#pinStrength').fill('2');
    await page.waitForSelector('body[data-controls-version="2"]');
    const { answer } = await say(page, MESSAGE, 1);
    const pinned = await probeBars(page, 'age');
    expect(pinned['child']!).toBeGreaterThan(firstAge['child']!);
    expect(answer).not.toBe(first);
    await say(page, 'Can you tell me more?', 2);
    await expect(page.locator('#drift').getAttribute('data-turns')).resolves.toBe('2');
    await page.screenshot({ path: join(OUT, '3-pinned-child-two-turns.png'), fullPage: true });
    // Export: what the button downloads.
    const download = page.waitForEvent('download');
    await page.click('#export');
    const file = join(OUT, 'conversation.jsonl');
    await (await download).saveAs(file);
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      expect(l.controls.pins.age).toBe('child');
      expect(Object.keys(l.userModel).sort()).toEqual(['age', 'gender']);
      expect(Object.keys(l.lastPrompt).sort()).toEqual(['evil', 'humorous']);
      expect(l.perToken.evil).toHaveLength(l.tokens.length);
      expect(l.tokens.join('')).toBe(l.assistant);
    }
    writeFileSync(join(OUT, 'README.txt'), 'Screenshots and the exported JSONL from test/server/dashboard.test.ts (last run).\n');
    // The server logged the turns and the control changes.
    expect(s.run.records('dashboard').filter((r) => r['event'] === 'turn').length).toBeGreaterThanOrEqual(4);
    await page.close();
  });
});
