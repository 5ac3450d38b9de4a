// persona serve: the OpenAI-compatible API and the dashboard over one steerable model (src/server).

import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { BUILTIN_ATTRIBUTES, BUILTIN_TRAITS, builtinDirections } from '../../server/builtin.js';
import { Directions, type Settings } from '../../server/controls.js';
import { probesFromFiles, traitsFromFiles } from '../../server/directionFiles.js';
import { closeOnSignals, DEFAULT_LIMITS, startServer } from '../../server/server.js';
import { choiceFlag, choiceList, floatFlag, floatListFlag, intFlag, intListFlag } from '../util.js';
import { DEFAULT_MODEL } from './persona.js';

interface ServeFlags {
  host: string;
  port: string;
  vector?: string[];
  layer: string;
  coeff?: string;
  probe?: string[];
  pin?: string[];
  pinStrength: string;
  pinLayers: string;
  pinDirection: string;
  builtin: boolean;
  traits: string;
  attributes: string;
  cache?: string;
  maxBatch: string;
  maxQueue: string;
  maxTokens: string;
  maxBody: string;
  maxPromptTokens: string;
  runs: string;
  run?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve a steerable model: OpenAI-compatible /v1/chat/completions and /v1/models, and a live dashboard at /')
    .argument('[model]', 'model folder', DEFAULT_MODEL)
    .option('--host <host>', 'address to listen on (loopback by default; anything else exposes the model to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', '8000')
    .option('--vector <file.safetensors...>', 'persona vector files (named by trait) to read and steer with')
    .option('--layer <k>', 'layer the vectors are read and steered at (hidden_states index)', '3')
    .option('--coeff <list>', 'start-up steering coefficient per --vector (comma-separated; default 0 = loaded, not applied)')
    .option('--probe <file-or-run-dir...>', 'probe files (.safetensors) or `persona probe train` run directories')
    .option('--pin <attribute=class...>', 'start-up probe intervention: push the model to believe the user is of this class')
    .option('--pin-strength <N>', 'N of the probe push', '1')
    .option('--pin-layers <list>', 'layers of the probe push', '3,4')
    .option('--pin-direction <d>', 'weight | centroid', 'centroid')
    .option('--no-builtin', 'without --vector / --probe, do not compute the built-in persona-world vectors and probes')
    .option('--traits <list>', 'built-in persona vectors', BUILTIN_TRAITS.join(','))
    .option('--attributes <list>', 'built-in probes', BUILTIN_ATTRIBUTES.join(','))
    .option('--cache <dir>', 'where built-in vectors and probes are cached (default <model>/.cache/serve)')
    .option('--max-batch <n>', 'rows generated together', '8')
    .option('--max-queue <n>', 'requests allowed to wait; more get 503', '256')
    .option('--max-tokens <n>', 'largest max_tokens a request may ask for', String(DEFAULT_LIMITS.maxTokens))
    .option('--max-body <bytes>', 'largest request body', String(DEFAULT_LIMITS.maxBody))
    .option('--max-prompt-tokens <n>', 'longest prompt', String(DEFAULT_LIMITS.maxPromptTokens))
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory for the request log (default: a fresh one under --runs)')
    .action(async (dir: string, o: ServeFlags) => {
      const port = intFlag(o.port, '--port', 0, 65535);
      const layer = intFlag(o.layer, '--layer', 0);
      const limits = {
        maxBody: intFlag(o.maxBody, '--max-body', 1024),
        maxTokens: intFlag(o.maxTokens, '--max-tokens', 1),
        maxMessages: DEFAULT_LIMITS.maxMessages,
        maxPromptTokens: intFlag(o.maxPromptTokens, '--max-prompt-tokens', 1),
      };
      const batch = { maxBatch: intFlag(o.maxBatch, '--max-batch', 1, 1024), maxQueue: intFlag(o.maxQueue, '--max-queue', 1) };
      const coeffs = o.coeff ? floatListFlag(o.coeff, '--coeff') : [];
      if (coeffs.length && coeffs.length !== (o.vector?.length ?? 0)) throw new Error(`--coeff: ${coeffs.length} coefficients for ${o.vector?.length ?? 0} --vector files`);
      const pins = (o.pin ?? []).map((p) => {
        const m = /^([\w-]+)=(.+)$/.exec(p);
        if (!m) throw new Error(`--pin ${p}: expected attribute=class`);
        return { attribute: m[1]!, target: m[2]! };
      });
      const pinDefaults = {
        layers: intListFlag(o.pinLayers, '--pin-layers', 0),
        strength: floatFlag(o.pinStrength, '--pin-strength'),
        direction: choiceFlag(o.pinDirection, '--pin-direction', ['weight', 'centroid'] as const),
      };
      const useBuiltin = o.builtin && !o.vector && !o.probe;
      const builtinTraits = o.traits ? choiceList(o.traits, '--traits', BUILTIN_TRAITS) : [];
      const builtinAttributes = o.attributes ? choiceList(o.attributes, '--attributes', BUILTIN_ATTRIBUTES) : [];
      const model = await loadModel(dir);
      try {
        const loaded = useBuiltin
          ? await builtinDirections(model, {
              cacheDir: o.cache,
              traits: builtinTraits,
              attributes: builtinAttributes,
              layer,
              onProgress: (l) => console.error(l),
            })
          : { traits: traitsFromFiles(model, o.vector ?? [], layer), probes: probesFromFiles(model, o.probe ?? []) };
        const directions = new Directions(model, loaded.traits, loaded.probes, pinDefaults);
        const startup: Settings = {
          steer: coeffs.map((coeff, i) => ({ trait: loaded.traits[i]!.name, coeff })),
          probe: pins.map((p) => ({ ...p, mode: 'toward' as const })),
        };
        const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'serve', basename(resolve(dir))), 'serve', {
          ...modelIdentity(model),
          traits: loaded.traits.map((t) => t.name),
          probes: loaded.probes.map((p) => p.attribute),
          host: o.host,
        });
        const running = await startServer(model, directions, run, { host: o.host, port, modelId: basename(resolve(dir)), limits, batch, startup });
        if (!['127.0.0.1', '::1', 'localhost'].includes(o.host)) console.error(`warning: listening on ${o.host}: anyone who can reach this address can use the model`);
        console.log(`persona serve: ${running.url}/  (dashboard)   ${running.url}/v1  (OpenAI-compatible API, model "${running.ctx.modelId}")`);
        console.log(`traits: ${loaded.traits.map((t) => `${t.name}@L${t.layer}`).join(', ') || 'none'}; probes: ${loaded.probes.map((p) => `${p.attribute}@L${p.readLayer}`).join(', ') || 'none'}; log: ${run.dir}`);
        closeOnSignals(running, () => model.dispose());
      } catch (e) {
        await model.dispose();
        throw e;
      }
    });
}
