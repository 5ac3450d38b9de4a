// The dashboard in a real headless Chromium (the system one, driven by playwright-core; nothing is
// downloaded), against a real server on the embedded model: send a message, see the probe bars,
// the drift chart and the token colours show exactly the server's readouts (and the probes read
// as the library reads them), move a slider, see the next answer change, pin a user attribute,
// export the conversation; and a control moved while an answer streams steers it from the next
// token on, as the library does. Screenshots go to test-output/dashboard/ (gitignored; their
// paths are printed).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWithProbes } from '../../src/experiments/probes/probeReading.js';
import { generateChat } from '../../src/generation/generate.js';
import { probeInterventionPlan } from '../../src/interventions/probeIntervention.js';
import type { ChatMessage } from '../../src/model/tokenizer.js';
import { findChromium } from '../helpers/browser.js';
import { post, testServer, type TestServer } from './helpers.js';

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
const SYSTEM = 'You are a helpful assistant.';

async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(OUT, name);
  await page.screenshot({ path, fullPage: true });
  console.log(`dashboard screenshot: ${path}`);
}

/** The server's own records of a page's turns (what it logged), in order. */
async function loggedTurns(page: Page): Promise<any[]> {
  const id = await page.evaluate('state.session.id');
  return s.run.records<any>('dashboard').filter((r) => r.session === id && r.event === 'turn');
}

/**
 * What the page shows equals what the server computed: the probe bars (the latest turn's picture
 * of the user), every point of the drift chart, and every coloured token of turn `t`.
 */
async function expectShown(page: Page, t: number): Promise<void> {
  const turns = await loggedTurns(page);
  expect(turns).toHaveLength(t + 1);
  for (const [attribute, r] of Object.entries(turns[t].userModel as Record<string, { probabilities: Record<string, number> }>)) {
    const bars = await probeBars(page, attribute);
    expect(Object.keys(bars).sort()).toEqual(Object.keys(r.probabilities).sort());
    for (const [c, p] of Object.entries(r.probabilities)) expect(bars[c], `${attribute} ${c}`).toBeCloseTo(p, 4);
  }
  const plotted = (await page.evaluate("document.getElementById('drift').data.map((d) => ({ name: d.name, x: d.x, y: d.y }))")) as { name: string; x: number[]; y: number[] }[];
  for (const trait of ['evil', 'humorous']) {
    const mean = plotted.find((d) => d.name === trait)!;
    const last = plotted.find((d) => d.name === `${trait} (last prompt)`)!;
    expect(mean.x).toEqual(turns.map((_, i) => i + 1));
    mean.y.forEach((y, i) => expect(y).toBeCloseTo(turns[i].responseMean[trait], 9));
    last.y.forEach((y, i) => expect(y).toBeCloseTo(turns[i].lastPrompt[trait], 9));
  }
  const colourBy = await page.locator('#colourBy').inputValue();
  const proj = await page.locator(`.msg.assistant[data-turn="${t}"] .tok`).evaluateAll((els) => els.map((e) => e.getAttribute('data-proj')));
  expect(proj).toEqual(turns[t].perToken[colourBy].map((v: number) => v.toFixed(4)));
}

/** The library's reading of the user after `messages`, under an optional pin. */
async function libraryReading(messages: ChatMessage[], pin?: { target: string; strength: number }): Promise<Record<string, Record<string, number>>> {
  const steering = pin ? probeInterventionPlan(s.model, { probe: s.directions.probe('age', 'test').push ?? s.directions.probe('age', 'test').probe, mode: 'toward', target: pin.target, layers: [4], strength: pin.strength, direction: 'centroid' }).steering : undefined;
  const [read] = await readWithProbes(s.model, s.directions.probes.map((p) => p.probe), [messages], { steering });
  return Object.fromEntries(read!.map((r) => [r.attribute, r.probabilities]));
}

function expectReading(shown: Record<string, { probabilities: Record<string, number> }>, library: Record<string, Record<string, number>>): void {
  expect(Object.keys(shown).sort()).toEqual(Object.keys(library).sort());
  for (const [a, probs] of Object.entries(library)) for (const [c, p] of Object.entries(probs)) expect(shown[a]!.probabilities[c], `${a} ${c}`).toBeCloseTo(p, 6);
}

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
    // Bars, chart points and token colours are the server's numbers; the bars read as the library reads.
    await expectShown(page, 0);
    const [turn] = await loggedTurns(page);
    expectReading(turn.userModel, await libraryReading([{ role: 'system', content: SYSTEM }, { role: 'user', content: MESSAGE }]));
    expect(turn.tokens.length).toBeGreaterThan(3);
    // Colour by the other trait: every token now shows its humorous projection.
    await page.selectOption('#colourBy', 'humorous');
    await expectShown(page, 0);
    firstEvil = turn.responseMean.evil;
    await screenshot(page, '1-first-answer.png');
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
    await expectShown(page, 0);
    await screenshot(page, '2-evil-slider.png');
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
    await expectShown(page, 0);
    const { answer: second } = await say(page, 'Can you tell me more?', 2);
    await expect(page.locator('#drift').getAttribute('data-turns')).resolves.toBe('2');
    // After turn 2: the bars show turn 2's picture of the user (the whole conversation, read under the pin).
    await expectShown(page, 1);
    const turns = await loggedTurns(page);
    const conversation: ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: MESSAGE }, { role: 'assistant', content: answer }, { role: 'user', content: 'Can you tell me more?' }];
    expectReading(turns[1].userModel, await libraryReading(conversation, { target: 'child', strength: 2 }));
    expect(turns[1].assistant).toBe(second);
    await screenshot(page, '3-pinned-child-two-turns.png');
    // Export: what the button downloads.
    const download = page.waitForEvent('download');
    await page.click('#export');
    const file = join(OUT, 'conversation.jsonl');
    await (await download).saveAs(file);
    console.log(`dashboard export: ${file}`);
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

describe('dashboard controls moved mid-answer', () => {
  it('steers the streaming answer from the next token on, exactly as the library steering from that token', async () => {
    const { json: session } = await post(`${s.url}/api/sessions`, {});
    const res = await fetch(`${s.url}/api/sessions/${session.id}/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: MESSAGE, maxTokens: 48 }) });
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let firstSeen = -1;
    let turn: any;
    while (!turn) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)![1]!);
        if (event === 'token' && firstSeen < 0) {
          // The slider moves while the answer is being written.
          firstSeen = data.index;
          const moved = await post(`${s.url}/api/sessions/${session.id}/controls`, { steer: { evil: 8 } });
          expect(moved.json.controls.steer.evil).toBe(8);
        }
        if (event === 'turn') turn = data;
      }
    }
    expect(turn.controls.steer.evil).toBe(0);
    expect(turn.controlChanges).toHaveLength(1);
    const k = turn.controlChanges[0].fromToken as number;
    expect(turn.controlChanges[0].controls.steer.evil).toBe(8);
    expect(k).toBeGreaterThan(firstSeen);
    expect(k).toBeLessThan(turn.tokens.length);
    // Reference: the library with the same vector from token k on: the call producing token k
    // feeds token k-1, at position P + k - 1 (steering at the last position of each pass).
    const messages: ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: MESSAGE }];
    const P = s.model.tokenizer.encodeChat(messages, { addGenerationPrompt: true }).length;
    const positions = Array.from({ length: 48 }, (_, i) => P + k - 1 + i);
    const evil = s.directions.trait('evil', 'test').vector;
    const ref = await generateChat(s.model, [messages], { maxNewTokens: 48, steering: [{ layer: 3, vector: evil, coeff: 8, positions }] });
    const plain = await generateChat(s.model, [messages], { maxNewTokens: 48 });
    expect(turn.assistant).toBe(ref.text[0]);
    expect(turn.assistant).not.toBe(plain.text[0]);
    expect(s.model.tokenizer.decode(ref.tokens[0]!.slice(0, k))).toBe(s.model.tokenizer.decode(plain.tokens[0]!.slice(0, k)));
  });
});
