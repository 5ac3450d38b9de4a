// persona serve: the OpenAI-compatible API and the dashboard over one steerable model (src/server).
// Flags become a ServePlan (checked before the model loads), and the plan is served.

import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { BUILTIN_ATTRIBUTES, BUILTIN_TRAITS, builtinDirections } from '../../server/builtin.js';
import { Directions, type PinDefaults, type Settings, type SteerSetting, type TraitDirection } from '../../server/controls.js';
import type { ServerLimits } from '../../server/context.js';
import { probesFromFiles, traitsFromFiles } from '../../server/directionFiles.js';
import { closeOnSignals, DEFAULT_GRACE_MS, DEFAULT_LIMITS, startServer } from '../../server/server.js';
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
  maxMessages: string;
  grace: string;
  runs: string;
  run?: string;
}

/** `--coeff`: one number per loaded trait, in order (`4,0`), or by name (`evil=4,humorous=-2`). */
export type CoeffSpec = { kind: 'list'; values: number[] } | { kind: 'named'; values: Record<string, number> } | null;

/** What `persona serve` will do, from its flags alone. */
export interface ServePlan {
  modelDir: string;
  host: string;
  port: number;
  layer: number;
  limits: ServerLimits;
  batch: { maxBatch: number; maxQueue: number };
  graceMs: number;
  coeff: CoeffSpec;
  pins: { attribute: string; target: string }[];
  pinDefaults: PinDefaults;
  /** Built-in persona-world directions (computed on first use, cached), or null with --vector / --probe / --no-builtin. */
  builtin: { traits: string[]; attributes: string[]; cacheDir?: string } | null;
  vectors: string[];
  probes: string[];
  runs: string;
  run?: string;
}

export function parseCoeff(spec: string | undefined): CoeffSpec {
  if (spec === undefined) return null;
  if (!spec.includes('=')) return { kind: 'list', values: floatListFlag(spec, '--coeff') };
  const values: Record<string, number> = {};
  for (const part of spec.split(',').map((p) => p.trim())) {
    const m = /^([\w-]+)=(.+)$/.exec(part);
    if (!m) throw new Error(`--coeff: '${part}' is not trait=N (give every coefficient by name, or a plain list like 4,0)`);
    values[m[1]!] = floatFlag(m[2]!, `--coeff ${m[1]}`);
  }
  return { kind: 'named', values };
}

/** The start-up steering of `--coeff`, checked against the traits the server loaded. */
export function startupSteer(coeff: CoeffSpec, traits: TraitDirection[]): SteerSetting[] {
  if (!coeff) return [];
  const names = traits.map((t) => t.name);
  if (coeff.kind === 'list') {
    if (coeff.values.length !== traits.length)
      throw new Error(`--coeff: ${coeff.values.length} coefficients for ${traits.length} loaded traits (${names.join(', ') || 'none'}); give one per trait in that order, or trait=N`);
    return coeff.values.map((c, i) => ({ trait: names[i]!, coeff: c }));
  }
  return Object.entries(coeff.values).map(([trait, c]) => {
    if (!names.includes(trait)) throw new Error(`--coeff: '${trait}' is not a loaded trait (loaded: ${names.join(', ') || 'none'})`);
    return { trait, coeff: c };
  });
}

export function servePlan(dir: string, o: ServeFlags): ServePlan {
  const useBuiltin = o.builtin && !o.vector && !o.probe;
  const builtinTraits = o.traits ? choiceList(o.traits, '--traits', BUILTIN_TRAITS) : [];
  const coeff = parseCoeff(o.coeff);
  // What can be checked before the model loads (names of --vector traits are in their files).
  const traitCount = useBuiltin ? builtinTraits.length : (o.vector?.length ?? 0);
  if (coeff?.kind === 'list' && coeff.values.length !== traitCount)
    throw new Error(`--coeff: ${coeff.values.length} coefficients for ${traitCount} ${useBuiltin ? `--traits (${builtinTraits.join(', ')})` : '--vector files'}; give one per trait in that order, or trait=N`);
  if (useBuiltin && coeff?.kind === 'named')
    for (const t of Object.keys(coeff.values)) if (!builtinTraits.includes(t)) throw new Error(`--coeff: '${t}' is not among --traits (${builtinTraits.join(', ')})`);
  return {
    modelDir: dir,
    host: o.host,
    port: intFlag(o.port, '--port', 0, 65535),
    layer: intFlag(o.layer, '--layer', 0),
    limits: {
      maxBody: intFlag(o.maxBody, '--max-body', 1024),
      maxTokens: intFlag(o.maxTokens, '--max-tokens', 1),
      maxMessages: intFlag(o.maxMessages, '--max-messages', 1),
      maxPromptTokens: intFlag(o.maxPromptTokens, '--max-prompt-tokens', 1),
    },
    batch: { maxBatch: intFlag(o.maxBatch, '--max-batch', 1, 1024), maxQueue: intFlag(o.maxQueue, '--max-queue', 1) },
    graceMs: Math.round(1000 * floatFlag(o.grace, '--grace', 0, 3600)),
    coeff,
    pins: (o.pin ?? []).map((p) => {
      const m = /^([\w-]+)=(.+)$/.exec(p);
      if (!m) throw new Error(`--pin ${p}: expected attribute=class`);
      return { attribute: m[1]!, target: m[2]! };
    }),
    pinDefaults: {
      layers: intListFlag(o.pinLayers, '--pin-layers', 0),
      strength: floatFlag(o.pinStrength, '--pin-strength'),
      direction: choiceFlag(o.pinDirection, '--pin-direction', ['weight', 'centroid'] as const),
    },
    builtin: useBuiltin ? { traits: builtinTraits, attributes: o.attributes ? choiceList(o.attributes, '--attributes', BUILTIN_ATTRIBUTES) : [], cacheDir: o.cache } : null,
    vectors: o.vector ?? [],
    probes: o.probe ?? [],
    runs: o.runs,
    run: o.run,
  };
}

async function serve(p: ServePlan): Promise<void> {
  const model = await loadModel(p.modelDir);
  try {
    const loaded = p.builtin
      ? await builtinDirections(model, { ...p.builtin, layer: p.layer, onProgress: (l) => console.error(l) })
      : { traits: traitsFromFiles(model, p.vectors, p.layer), probes: probesFromFiles(model, p.probes) };
    const directions = new Directions(model, loaded.traits, loaded.probes, p.pinDefaults);
    const startup: Settings = { steer: startupSteer(p.coeff, loaded.traits), probe: p.pins.map((x) => ({ ...x, mode: 'toward' as const })) };
    const run = RunDir.open(p.run ?? RunDir.freshPath(p.runs, 'serve', basename(resolve(p.modelDir))), 'serve', {
      ...modelIdentity(model),
      traits: loaded.traits.map((t) => t.name),
      probes: loaded.probes.map((x) => x.attribute),
      host: p.host,
    });
    const running = await startServer(model, directions, run, { host: p.host, port: p.port, modelId: basename(resolve(p.modelDir)), limits: p.limits, batch: p.batch, startup, graceMs: p.graceMs });
    if (!['127.0.0.1', '::1', 'localhost'].includes(p.host)) console.error(`warning: listening on ${p.host}: anyone who can reach this address can use the model`);
    console.log(`persona serve: ${running.url}/  (dashboard)   ${running.url}/v1  (OpenAI-compatible API, model "${running.ctx.modelId}")`);
    console.log(`traits: ${loaded.traits.map((t) => `${t.name}@L${t.layer}`).join(', ') || 'none'}; probes: ${loaded.probes.map((x) => `${x.attribute}@L${x.readLayer}`).join(', ') || 'none'}; log: ${run.dir}`);
    closeOnSignals(running, () => model.dispose());
  } catch (e) {
    await model.dispose();
    throw e;
  }
}

/** `start` serves the plan (tests pass their own to see what the flags resolve to). */
export function registerServeCommand(program: Command, start: (plan: ServePlan) => Promise<void> = serve): void {
  program
    .command('serve')
    .description('serve a steerable model: OpenAI-compatible /v1/chat/completions, /v1/completions and /v1/models, and a live dashboard at /')
    .argument('[model]', 'model folder', DEFAULT_MODEL)
    .option('--host <host>', 'address to listen on (loopback by default; anything else exposes the model to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', '8000')
    .option('--vector <file.safetensors...>', 'persona vector files (named by trait) to read and steer with')
    .option('--layer <k>', 'layer the vectors are read and steered at (hidden_states index)', '3')
    .option('--coeff <list>', 'start-up steering: one coefficient per loaded trait in order (4,0) or by name (evil=4,humorous=-2); default none')
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
    .option('--max-messages <n>', 'most messages in one chat request', String(DEFAULT_LIMITS.maxMessages))
    .option('--grace <seconds>', 'at SIGINT / SIGTERM, how long running answers may take to finish before they are cut', String(DEFAULT_GRACE_MS / 1000))
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory for the request log (default: a fresh one under --runs)')
    .action(async (dir: string, o: ServeFlags) => start(servePlan(dir, o)));
}
