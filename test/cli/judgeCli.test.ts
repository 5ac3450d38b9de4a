// The CLI with a real HTTP judge on loopback that answers in words instead of numbers: the user
// must read "unscored", not a bare "no answer pair passed the filter". Pairwise tailoring requests
// (probe steer; no logprobs asked) get "maybe", or with `emptyPairwise` a reply without a message.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveProbe } from '../../src/directions/probes/probeFile.js';
import { savePersonaVectors } from '../../src/directions/vectorFile.js';
import { readManifest } from '../../src/logs/runDir.js';
import { syntheticVectorSet } from '../helpers/vectors.js';
import { syntheticProbe } from '../probes/helpers.js';
import { personaError } from './runCli.js';

let server: Server;
let url = '';
let inFlight = 0;
let peak = 0;
let hang = false;
let emptyPairwise = false;
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    peak = Math.max(peak, ++inFlight);
    res.on('close', () => inFlight--);
    req.on('end', async () => {
      if (hang) return; // never answers
      if (!(JSON.parse(body) as { logprobs?: boolean }).logprobs) {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(emptyPairwise ? { choices: [] } : { choices: [{ message: { content: 'maybe' } }] }));
      }
      await new Promise((r) => setTimeout(r, 30)); // slow enough for requests to overlap
      // A judge that talks: all probability on words, none on numbers.
      const top = [{ token: 'The', logprob: Math.log(0.7) }, { token: 'I', logprob: Math.log(0.3) }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { content: 'The' }, logprobs: { content: [{ token: 'The', logprob: top[0]!.logprob, top_logprobs: top }] } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => {
  server.closeAllConnections();
  server.close(() => r());
}));

describe('answers a judge cannot score', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-unscored-'));

  it('extract says how many answers were unscored and by which judge', async () => {
    const err = await personaError('extract', '--trait', 'evil', '--questions', '1', '--instructions', '1', '--max-new-tokens', '4', '--judge', 'openai:talker', '--judge-base-url', url, '--run', join(dir, 'ex'));
    expect(err).toMatch(/no answer pair passed the filter \(.*of 2 answers; 2 unscored: the judge openai:talker gave no number for them\)/);
  }, 60_000);

  it('steer counts them in the run summary', async () => {
    const vec = join(dir, 'evil.safetensors');
    savePersonaVectors(vec, syntheticVectorSet(160, 4));
    expect(await personaError('steer', '--vector', vec, '--layer', '2', '--coeff', '0.5', '--questions', '2', '--max-new-tokens', '4', '--judge', 'openai:talker', '--judge-base-url', url, '--run', join(dir, 'st'))).toBeNull();
    expect(readManifest(join(dir, 'st')).summary).toMatchObject({ traitMean: null, coherenceMean: null, unscored: 2 });
  }, 60_000);

  it('judges at most 8 answers (16 requests) at a time, however large the batch', async () => {
    const vec = join(dir, 'evil.safetensors');
    peak = 0;
    expect(await personaError('steer', '--vector', vec, '--layer', '2', '--coeff', '0.5', '--questions', '10', '--samples', '2', '--batch-size', '20', '--max-new-tokens', '2', '--judge', 'openai:talker', '--judge-base-url', url, '--run', join(dir, 'many'))).toBeNull();
    expect(peak).toBeGreaterThan(2);
    expect(peak).toBeLessThanOrEqual(16);
  }, 60_000);

  it('--judge-timeout and --judge-retries reach the judge', async () => {
    const vec = join(dir, 'evil.safetensors');
    hang = true;
    try {
      const err = await personaError('steer', '--vector', vec, '--questions', '1', '--max-new-tokens', '2', '--judge', 'openai:talker', '--judge-base-url', url, '--judge-timeout', '100', '--judge-retries', '0', '--run', join(dir, 'hung'));
      expect(err).toBe(`${url}/chat/completions: no reply within 100 ms (set PERSONA_JUDGE_TIMEOUT_MS or --judge-timeout to wait longer)`);
      expect(readManifest(join(dir, 'hung')).status).toBe('failed');
    } finally {
      hang = false;
    }
    expect(await personaError('steer', '--vector', vec, '--judge-timeout', 'soon')).toMatch(/^--judge-timeout: 'soon' is not an integer/);
  }, 60_000);

  describe('probe steer --tailoring --judge openai (pairwise)', () => {
    const probe = join(dir, 'age.safetensors');
    saveProbe(probe, syntheticProbe({ hiddenSize: 160, numLayers: 4, dir: '/m' }, ['child', 'adult']));
    const args = (run: string) => ['probe', 'steer', '--probes', probe, '--layers', '3', '--questions', '1', '--max-new-tokens', '2', '--tailoring-tokens', '2', '--tailoring', '--judge', 'openai:talker', '--judge-base-url', url, '--run', join(dir, run)];

    it('counts tailoring answers without a verdict as unscored in the run summary', async () => {
      expect(await personaError(...args('ps'))).toBeNull();
      // 2 targets x 3 conditions x 1 conversation, every verdict "maybe".
      expect(readManifest(join(dir, 'ps')).summary).toMatchObject({ unscored: 6 });
    }, 120_000);

    it('a reply without a message fails naming the URL', async () => {
      emptyPairwise = true;
      try {
        expect(await personaError(...args('ps-empty'))).toBe(`${url}/chat/completions: reply has no choices[0].message.content (got {"choices":[]})`);
      } finally {
        emptyPairwise = false;
      }
    }, 120_000);

    it('--judge-timeout and --judge-retries reach the pairwise judge', async () => {
      hang = true;
      try {
        expect(await personaError(...args('ps-hung'), '--judge-timeout', '100', '--judge-retries', '0')).toBe(
          `${url}/chat/completions: no reply within 100 ms (set PERSONA_JUDGE_TIMEOUT_MS or --judge-timeout to wait longer)`,
        );
      } finally {
        hang = false;
      }
      expect(await personaError('probe', 'steer', '--probes', probe, '--layers', '3', '--judge-retries', '-1')).toMatch(/^--judge-retries: -1 is out of range/);
    }, 120_000);
  });
});
