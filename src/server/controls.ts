// What a server can steer with, and the per-request settings that choose from it.
//
// The server loads named directions once (persona vectors by trait, demographic probes by
// attribute). A request (the `persona` extension field of /v1/chat/completions, or a dashboard
// session) picks among them with plain JSON:
//
//   "persona": {
//     "steer": [{ "trait": "evil", "coeff": 4, "layer": 3, "positions": "response" }],
//     "probe": [{ "attribute": "age", "target": "child", "mode": "toward", "strength": 1, "layers": [3, 4], "direction": "centroid" }],
//     "inherit": true,
//     "readouts": false
//   }
//
// `steer[].vector` (a list of hidden-size numbers, with `layer`) steers with an unnamed vector;
// `inherit: false` drops the start-up interventions for this request; `readouts: true` adds
// per-token trait projections to the answer. Every field is checked, and a bad one is named.

import type { PersonaVectorSet } from '../directions/vectorFile.js';
import { vectorFor } from '../directions/vectorFile.js';
import type { ProbeSet } from '../directions/probes/probeFile.js';
import { probeInterventionPlan, type ProbeMode } from '../interventions/probeIntervention.js';
import { MAX_COEFF } from '../model/overflow.js';
import { checkSteeringVector, validateSteering, type Ablation, type Steering, type SteeringVector, type SteerPositions } from '../model/steering.js';
import type { SteerableModel } from '../model/steerableModel.js';

export interface TraitDirection {
  name: string;
  /** The layer it is read and steered at unless a request says otherwise. */
  layer: number;
  vector: Float32Array;
  /** The whole file, so a request may steer at another layer. */
  set?: PersonaVectorSet;
}

export interface ProbeControl {
  attribute: string;
  /** The probe that reads the model's picture of the user (the dashboard's bars). */
  probe: ProbeSet;
  /** The layer its readings are reported at (its best cross-validated one by default). */
  readLayer: number;
  /**
   * The probe whose directions pins and pushes use, when not `probe`: the built-ins read with
   * TalkTuner's suffix but push along class centroids read where the model answers, because on
   * persona-tiny the suffix's centroids do not move the answer and the answer's do.
   */
  push?: ProbeSet;
}

export interface SteerSetting {
  trait?: string;
  vector?: Float32Array;
  coeff: number;
  layer?: number;
  positions?: SteerPositions;
}

export interface ProbeSetting {
  attribute: string;
  mode: ProbeMode;
  target?: string;
  strength?: number;
  layers?: number[];
  direction?: 'weight' | 'centroid';
}

export interface Settings {
  steer: SteerSetting[];
  probe: ProbeSetting[];
}

export interface PinDefaults {
  layers: number[];
  strength: number;
  direction: 'weight' | 'centroid';
}

export class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The named directions of one server and how settings become a steering plan. */
export class Directions {
  constructor(
    readonly model: SteerableModel,
    readonly traits: TraitDirection[],
    readonly probes: ProbeControl[],
    readonly pinDefaults: PinDefaults,
  ) {}

  trait(name: string, where: string): TraitDirection {
    const t = this.traits.find((x) => x.name === name);
    if (!t) throw new RequestError(`${where}: unknown trait '${name}' (loaded: ${this.traits.map((x) => x.name).join(', ') || 'none'})`);
    return t;
  }

  probe(attribute: string, where: string): ProbeControl {
    const p = this.probes.find((x) => x.attribute === attribute);
    if (!p) throw new RequestError(`${where}: unknown attribute '${attribute}' (probes loaded: ${this.probes.map((x) => x.attribute).join(', ') || 'none'})`);
    return p;
  }

  /** Settings -> steering vectors and ablations, validated against the model. */
  plan(settings: Settings, where = 'persona'): { steering: Steering; ablation: Ablation[] } {
    const steering: Steering = [];
    const ablation: Ablation[] = [];
    settings.steer.forEach((s, i) => {
      if (s.coeff === 0) return;
      const at = `${where}.steer[${i}]`;
      let vector = s.vector;
      let layer = s.layer;
      if (s.trait !== undefined) {
        const t = this.trait(s.trait, at);
        layer ??= t.layer;
        vector = layer === t.layer ? t.vector : t.set ? vectorFor(t.set, layer, this.model.hiddenSize, 'response_avg', `${at} (${t.name})`) : undefined;
        if (!vector) throw new RequestError(`${at}: trait '${t.name}' is only loaded at layer ${t.layer}`);
      }
      if (!vector || layer === undefined) throw new RequestError(`${at}: give 'trait', or 'vector' with 'layer'`);
      steering.push(checked(this.model, { layer, vector, coeff: s.coeff, positions: s.positions ?? 'response' }, at));
    });
    settings.probe.forEach((p, i) => {
      const at = `${where}.probe[${i}]`;
      const control = this.probe(p.attribute, at);
      const probe = control.push ?? control.probe;
      try {
        const plan = probeInterventionPlan(this.model, {
          probe,
          mode: p.mode,
          target: p.target,
          layers: p.layers ?? this.pinDefaults.layers,
          strength: p.strength ?? this.pinDefaults.strength,
          direction: p.direction ?? this.pinDefaults.direction,
        });
        steering.push(...plan.steering.map((x) => checked(this.model, x, `${at} push`)));
        ablation.push(...plan.ablation);
      } catch (e) {
        throw e instanceof RequestError ? e : new RequestError(`${at}: ${(e as Error).message}`);
      }
    });
    // What holds only for the whole plan (vectors per layer); each vector was checked above.
    try {
      validateSteering(this.model, steering);
    } catch (e) {
      throw new RequestError(`${where}: ${(e as Error).message}`);
    }
    return { steering, ablation };
  }

  /** Parse the `persona` extension field; start-up settings come first unless inherit is false. */
  parseExtension(json: unknown, base: Settings): { settings: Settings; readouts: boolean } {
    if (json === undefined || json === null) return { settings: base, readouts: false };
    const o = object(json, 'persona');
    known(o, 'persona', ['steer', 'probe', 'inherit', 'readouts']);
    const inherit = optional(o, 'inherit', 'persona', 'boolean') ?? true;
    const readouts = optional(o, 'readouts', 'persona', 'boolean') ?? false;
    const steer = list(o['steer'], 'persona.steer').map((x, i) => this.parseSteer(x, `persona.steer[${i}]`));
    const probe = list(o['probe'], 'persona.probe').map((x, i) => parseProbe(x, `persona.probe[${i}]`));
    // Refuse a bad request before it is queued: its own entries first (so errors carry their
    // index in the request), then together with the start-up settings it inherits.
    this.plan({ steer, probe });
    const settings = inherit ? { steer: [...base.steer, ...steer], probe: [...base.probe, ...probe] } : { steer, probe };
    if (inherit) this.plan(settings);
    return { settings, readouts };
  }

  private parseSteer(x: unknown, at: string): SteerSetting {
    const o = object(x, at);
    known(o, at, ['trait', 'vector', 'coeff', 'layer', 'positions']);
    const coeff = coefficient(o['coeff'], `${at}.coeff`);
    const trait = optional(o, 'trait', at, 'string');
    const layer = optional(o, 'layer', at, 'number');
    if (layer !== undefined && !Number.isInteger(layer)) throw new RequestError(`${at}.layer: must be an integer`);
    let vector: Float32Array | undefined;
    if (o['vector'] !== undefined) {
      const v = o['vector'];
      if (!Array.isArray(v) || v.length !== this.model.hiddenSize || !v.every((n) => typeof n === 'number' && Number.isFinite(n)))
        throw new RequestError(`${at}.vector: must be ${this.model.hiddenSize} finite numbers (the model's hidden size)`);
      vector = Float32Array.from(v as number[]);
    }
    if ((trait === undefined) === (vector === undefined)) throw new RequestError(`${at}: give exactly one of 'trait' and 'vector'`);
    const positions = o['positions'];
    if (positions !== undefined && positions !== 'all' && positions !== 'prompt' && positions !== 'response' && !(Array.isArray(positions) && positions.every((n) => Number.isInteger(n) && n >= 0)))
      throw new RequestError(`${at}.positions: 'all', 'prompt', 'response' or a list of token indices`);
    return { trait, vector, coeff, layer, positions: positions as SteerPositions | undefined };
  }
}

function parseProbe(x: unknown, at: string): ProbeSetting {
  const o = object(x, at);
  known(o, at, ['attribute', 'target', 'mode', 'strength', 'layers', 'direction']);
  const attribute = optional(o, 'attribute', at, 'string');
  if (!attribute) throw new RequestError(`${at}.attribute: required`);
  const mode = (optional(o, 'mode', at, 'string') ?? 'toward') as ProbeMode;
  if (!['toward', 'away', 'erase'].includes(mode)) throw new RequestError(`${at}.mode: '${mode}' is not one of toward, away, erase`);
  const direction = optional(o, 'direction', at, 'string');
  if (direction !== undefined && direction !== 'weight' && direction !== 'centroid') throw new RequestError(`${at}.direction: 'weight' or 'centroid'`);
  const layers = o['layers'];
  if (layers !== undefined && !(Array.isArray(layers) && layers.length && layers.every((n) => Number.isInteger(n))))
    throw new RequestError(`${at}.layers: a non-empty list of integers`);
  const strength = o['strength'] === undefined || o['strength'] === null ? undefined : coefficient(o['strength'], `${at}.strength`);
  return { attribute, mode, target: optional(o, 'target', at, 'string'), strength, layers: layers as number[] | undefined, direction };
}

/** A steering coefficient or probe strength: a finite number within ±MAX_COEFF. */
export function coefficient(x: unknown, at: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new RequestError(`${at}: a finite number is required`);
  if (Math.abs(x) > MAX_COEFF) throw new RequestError(`${at}: ${x} is out of range (expected a number from -${MAX_COEFF} to ${MAX_COEFF})`);
  return x;
}

/** One vector of a plan, checked where it comes from (`persona.steer[1]`), as a 400. */
function checked(model: SteerableModel, s: SteeringVector, at: string): SteeringVector {
  try {
    checkSteeringVector(model, s, at);
  } catch (e) {
    throw new RequestError((e as Error).message);
  }
  return s;
}

export function object(x: unknown, at: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new RequestError(`${at}: must be a JSON object`);
  return x as Record<string, unknown>;
}

function known(o: Record<string, unknown>, at: string, fields: string[]): void {
  for (const k of Object.keys(o)) if (!fields.includes(k)) throw new RequestError(`${at}.${k}: unknown field (known: ${fields.join(', ')})`);
}

function list(x: unknown, at: string): unknown[] {
  if (x === undefined) return [];
  if (!Array.isArray(x)) throw new RequestError(`${at}: must be a list`);
  return x;
}

type Kinds = { string: string; number: number; boolean: boolean };
export function optional<K extends keyof Kinds>(o: Record<string, unknown>, key: string, at: string, kind: K): Kinds[K] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== kind || (kind === 'number' && !Number.isFinite(v))) throw new RequestError(`${at}.${key}: must be a ${kind === 'number' ? 'finite number' : kind}`);
  return v as Kinds[K];
}
