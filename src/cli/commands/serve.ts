// persona serve: the OpenAI-compatible API and the dashboard over one steerable model (src/server).
// Flags become a ServePlan (checked before the model loads), and the plan is served.

import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { RunDir } from '../../logs/runDir.js';
import { probeInterventionPlan } from '../../interventions/probeIntervention.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { norm } from '../../model/overflow.js';
import { BUILTIN_ATTRIBUTES, BUILTIN_TRAITS, builtinDirections } from '../../server/builtin.js';
import { Directions, type PinDefaults, type ProbeControl, type Settings, type SteerSetting, type TraitDirection } from '../../server/controls.js';
import type { ServerLimits } from '../../server/context.js';
import { probesFromFiles, traitsFromFiles } from '../../server/directionFiles.js';
import { closeOnSignals, DEFAULT_GRACE_MS, DEFAULT_LIMITS, startServer } from '../../server/server.js';
import { isWorldModel } from '../defaults.js';
import { checkScaledFlag, choiceFlag, choiceList, floatFlag, floatListFlag, intFlag, intListFlag, MAX_COEFF, modelShape } from '../util.js';
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

type LoadedDirections = { traits: TraitDirection[]; probes: ProbeControl[] };

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
  /** A persona-world model (built-in directions are its default). */
  world: boolean;
  /**
   * Built-in persona-world directions (computed on first use, cached), or null with --vector /
   * --probe / --no-builtin, or on a model not trained on the persona world.
   */
  builtin: { traits: string[]; attributes: string[]; cacheDir?: string } | null;
  /** Without built-ins: the --vector / --probe directions, read and checked before the model loads (none = a plain model). */
  files: LoadedDirections | null;
  runs: string;
  run?: string;
}

export function parseCoeff(spec: string | undefined): CoeffSpec {
  if (spec === undefined) return null;
  if (!spec.includes('=')) return { kind: 'list', values: floatListFlag(spec, '--coeff', -MAX_COEFF, MAX_COEFF) };
  const values: Record<string, number> = {};
  for (const part of spec.split(',').map((p) => p.trim())) {
    const m = /^([\w-]+)=(.+)$/.exec(part);
    if (!m) throw new Error(`--coeff: '${part}' is not trait=N (give every coefficient by name, or a plain list like 4,0)`);
    values[m[1]!] = floatFlag(m[2]!, `--coeff ${m[1]}`, -MAX_COEFF, MAX_COEFF);
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

/**
 * Upper bounds of the size flags: far above any use, low enough that a typo cannot make one
 * request hold gigabytes (the body is read into memory, the KV cache is sized by max_tokens).
 */
const MAX_QUEUE = 100_000;
const MAX_TOKENS = 1 << 17;
const MAX_PROMPT_TOKENS = 1 << 20;
const MAX_MESSAGES = 100_000;
const MAX_BODY = 1 << 28;

/**
 * `given(flag)` says whether a flag was typed (not defaulted): a defaulted `--layer 3` or
 * `--pin-layers 4` is checked against the model only where it is used, so a plain model with
 * fewer layers still serves.
 */
export function servePlan(dir: string, o: ServeFlags, given: (flag: keyof ServeFlags) => boolean = () => false): ServePlan {
  const shape = modelShape(dir);
  const world = isWorldModel(dir);
  const own = !!(o.vector || o.probe);
  // Built-in directions are the persona world's: computed only for the models trained on it.
  const useBuiltin = o.builtin && !own && world;
  if (!world && !own)
    for (const flag of ['traits', 'attributes'] as const)
      if (given(flag)) throw new Error(`--${flag}: built-in directions exist only for persona-world models (this package's models/ and copies of them), and ${shape.dir} is not one; give --vector / --probe files`);
  const traits = o.traits ? choiceList(o.traits, '--traits', BUILTIN_TRAITS) : [];
  const attributes = o.attributes ? choiceList(o.attributes, '--attributes', BUILTIN_ATTRIBUTES) : [];
  const [builtinTraits, builtinAttributes] = useBuiltin ? [traits, attributes] : [[], []];
  const coeff = parseCoeff(o.coeff);
  // What can be checked before the model loads (names of --vector traits are in their files).
  const traitCount = useBuiltin ? builtinTraits.length : (o.vector?.length ?? 0);
  if (coeff?.kind === 'list' && coeff.values.length !== traitCount)
    throw new Error(`--coeff: ${coeff.values.length} coefficients for ${traitCount} ${useBuiltin ? `--traits (${builtinTraits.join(', ')})` : '--vector files'}; give one per trait in that order, or trait=N`);
  if (useBuiltin && coeff?.kind === 'named')
    for (const t of Object.keys(coeff.values)) if (!builtinTraits.includes(t)) throw new Error(`--coeff: '${t}' is not among --traits (${builtinTraits.join(', ')})`);
  const layer = intFlag(o.layer, '--layer', 0, useBuiltin || o.vector || given('layer') ? shape.numLayers : Infinity);
  const pins = (o.pin ?? []).map((p) => {
    const m = /^([\w-]+)=(.+)$/.exec(p);
    if (!m) throw new Error(`--pin ${p}: expected attribute=class`);
    return { attribute: m[1]!, target: m[2]! };
  });
  const pinned = builtinAttributes.length || o.probe || pins.length || given('pinLayers');
  const pinDefaults: PinDefaults = {
    layers: intListFlag(o.pinLayers, '--pin-layers', 0, pinned ? shape.numLayers : Infinity),
    strength: floatFlag(o.pinStrength, '--pin-strength', -MAX_COEFF, MAX_COEFF),
    direction: choiceFlag(o.pinDirection, '--pin-direction', ['weight', 'centroid'] as const),
  };
  if (useBuiltin) for (const p of pins) if (!builtinAttributes.includes(p.attribute)) throw new Error(`--pin ${p.attribute}=${p.target}: '${p.attribute}' is not among --attributes (${builtinAttributes.join(', ') || 'none'})`);
  const files = useBuiltin ? null : { traits: traitsFromFiles(shape, o.vector ?? [], layer), probes: probesFromFiles(shape, o.probe ?? []) };
  if (files) checkStartupScale(shape, coeff, pins, pinDefaults, files);
  return {
    modelDir: dir,
    world,
    host: o.host,
    port: intFlag(o.port, '--port', 0, 65535),
    layer,
    limits: {
      maxBody: intFlag(o.maxBody, '--max-body', 1024, MAX_BODY),
      maxTokens: intFlag(o.maxTokens, '--max-tokens', 1, MAX_TOKENS),
      maxMessages: intFlag(o.maxMessages, '--max-messages', 1, MAX_MESSAGES),
      maxPromptTokens: intFlag(o.maxPromptTokens, '--max-prompt-tokens', 1, MAX_PROMPT_TOKENS),
    },
    batch: { maxBatch: intFlag(o.maxBatch, '--max-batch', 1, 1024), maxQueue: intFlag(o.maxQueue, '--max-queue', 1, MAX_QUEUE) },
    graceMs: Math.round(1000 * floatFlag(o.grace, '--grace', 0, 3600)),
    coeff,
    pins,
    pinDefaults,
    builtin: useBuiltin ? { traits: builtinTraits, attributes: builtinAttributes, cacheDir: o.cache } : null,
    files,
    runs: o.runs,
    run: o.run,
  };
}

/** --coeff on --vector files and --pin on --probe files, read before the model loads: names, classes and float32 range. */
function checkStartupScale(shape: { hiddenSize: number; numLayers: number }, coeff: CoeffSpec, pins: ServePlan['pins'], pin: PinDefaults, files: LoadedDirections): void {
  for (const s of startupSteer(coeff, files.traits)) {
    const t = files.traits.find((x) => x.name === s.trait)!;
    checkScaledFlag('--coeff', s.coeff, norm(t.vector), `the layer ${t.layer} '${t.name}' vector`);
  }
  for (const p of pins) {
    const flag = `--pin ${p.attribute}=${p.target}`;
    const probe = files.probes.find((x) => x.attribute === p.attribute);
    if (!probe) throw new Error(`${flag}: no --probe for '${p.attribute}' (probes: ${files.probes.map((x) => x.attribute).join(', ') || 'none'})`);
    let plan;
    try {
      plan = probeInterventionPlan(shape, { probe: probe.probe, mode: 'toward', target: p.target, ...pin });
    } catch (e) {
      throw new Error(`${flag}: ${(e as Error).message}`);
    }
    for (const x of plan.steering) checkScaledFlag('--pin-strength', pin.strength, norm(x.vector), `the '${p.target}' direction of the ${p.attribute} probe at layer ${x.layer}`);
  }
}

async function serve(p: ServePlan): Promise<void> {
  const model = await loadModel(p.modelDir);
  try {
    const loaded = p.builtin ? await builtinDirections(model, { ...p.builtin, layer: p.layer, onProgress: (l) => console.error(l) }) : p.files!;
    const directions = new Directions(model, loaded.traits, loaded.probes, p.pinDefaults);
    const startup: Settings = { steer: startupSteer(p.coeff, loaded.traits), probe: p.pins.map((x) => ({ ...x, mode: 'toward' as const })) };
    directions.plan(startup, 'start-up settings'); // before the run directory exists
    const run = RunDir.open(p.run ?? RunDir.freshPath(p.runs, 'serve', basename(resolve(p.modelDir))), 'serve', {
      ...modelIdentity(model),
      traits: loaded.traits.map((t) => t.name),
      probes: loaded.probes.map((x) => x.attribute),
      host: p.host,
    });
    const running = await startServer(model, directions, run, { host: p.host, port: p.port, modelId: basename(resolve(p.modelDir)), limits: p.limits, batch: p.batch, startup, graceMs: p.graceMs });
    if (!['127.0.0.1', '::1', 'localhost'].includes(p.host)) console.error(`warning: listening on ${p.host}: anyone who can reach this address can use the model`);
    console.log(`persona serve: ${running.url}/  (dashboard)   ${running.url}/v1  (OpenAI-compatible API, model "${running.ctx.modelId}")`);
    const plain = !loaded.traits.length && !loaded.probes.length;
    console.log(
      plain
        ? `plain model, no named directions (${p.world ? '--no-builtin' : 'not a persona-world model, so no built-in vectors or probes'}; give --vector / --probe, or steer per request with persona.steer[].vector); log: ${run.dir}`
        : `traits: ${loaded.traits.map((t) => `${t.name}@L${t.layer}`).join(', ') || 'none'}; probes: ${loaded.probes.map((x) => `${x.attribute}@L${x.readLayer}`).join(', ') || 'none'}; log: ${run.dir}`,
    );
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
    .option('--pin-layers <list>', 'layers of the probe push', '4')
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
    .action(async (dir: string, o: ServeFlags, cmd: Command) => start(servePlan(dir, o, (flag) => cmd.getOptionValueSource(flag) === 'cli')));
}
