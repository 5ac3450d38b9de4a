// The CLI with a real HTTP judge on loopback that answers in words instead of numbers: the user
// must read "unscored", not a bare "no answer pair passed the filter".

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { savePersonaVectors } from '../../src/directions/vectorFile.js';
import { readManifest } from '../../src/logs/runDir.js';
import { syntheticVectorSet } from '../helpers/vectors.js';
import { personaError } from './runCli.js';

let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      // A judge that talks: all probability on words, none on numbers.
      const top = [{ token: 'The', logprob: Math.log(0.7) }, { token: 'I', logprob: Math.log(0.3) }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { content: 'The' }, logprobs: { content: [{ token: 'The', logprob: top[0]!.logprob, top_logprobs: top }] } }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

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
});
