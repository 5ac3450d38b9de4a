// A dashboard conversation: its messages, the readouts of every turn, and the live controls
// (a coefficient per trait, a pinned class per user attribute). The steering plan is rebuilt as a
// new object whenever a control moves, and a generating answer asks for it at every token, so a
// slider applies from the next token on.

import { randomUUID } from 'node:crypto';
import type { Ablation, Steering } from '../../model/steering.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { coefficient, RequestError, type Directions, type Settings } from '../controls.js';

export interface DashboardControls {
  /** trait -> steering coefficient (0 = off). */
  steer: Record<string, number>;
  /** attribute -> class the model is pushed to believe (null = not pinned). */
  pins: Record<string, string | null>;
  /** N of the probe push. */
  pinStrength: number;
}

export interface ProbeReadout {
  layer: number;
  probabilities: Record<string, number>;
  predicted: string;
}

export interface ControlChange {
  fromToken: number;
  controls: DashboardControls;
}

export interface TurnRecord {
  turn: number;
  user: string;
  assistant: string;
  /** The controls in force when the answer started. */
  controls: DashboardControls;
  /** Controls moved while the answer was written, each in force from answer token `fromToken` on. */
  controlChanges: ControlChange[];
  /** attribute -> the model's picture of the user after this user message (read under the pins). */
  userModel: Record<string, ProbeReadout>;
  /** trait -> projection of the last prompt token (predicts the coming answer). */
  lastPrompt: Record<string, number>;
  /** trait -> mean projection over the answer's tokens. */
  responseMean: Record<string, number>;
  tokens: string[];
  perToken: Record<string, number[]>;
  finishReason: string;
}

export class DashboardSession {
  readonly id = randomUUID();
  readonly messages: ChatMessage[] = [];
  readonly turns: TurnRecord[] = [];
  busy = false;
  lastUsed = Date.now();
  private controlsNow: DashboardControls;
  private planNow: { steering: Steering; ablation: Ablation[] };
  private pinPlanNow: { steering: Steering; ablation: Ablation[] };

  constructor(
    private readonly directions: Directions,
    startup: Settings,
    readonly system: string,
  ) {
    const steer = Object.fromEntries(directions.traits.map((t) => [t.name, 0]));
    for (const s of startup.steer) if (s.trait) steer[s.trait] = (steer[s.trait] ?? 0) + s.coeff;
    const pins = Object.fromEntries(directions.probes.map((p) => [p.attribute, null as string | null]));
    let pinStrength = directions.pinDefaults.strength;
    for (const p of startup.probe)
      if (p.mode === 'toward' && p.target) {
        pins[p.attribute] = p.target;
        pinStrength = p.strength ?? pinStrength;
      }
    this.controlsNow = { steer, pins, pinStrength };
    this.planNow = directions.plan(this.settings(this.controlsNow), 'controls');
    this.pinPlanNow = directions.plan({ steer: [], probe: this.settings(this.controlsNow).probe }, 'controls');
    if (system) this.messages.push({ role: 'system', content: system });
  }

  get controls(): DashboardControls {
    return structuredClone(this.controlsNow);
  }

  /** The steering in force now (a new object after every change). */
  steering(): Steering {
    return this.planNow.steering;
  }

  /** Merge a partial update, validated; a bad one changes nothing. */
  setControls(update: unknown): DashboardControls {
    if (typeof update !== 'object' || update === null) throw new RequestError('controls: must be a JSON object');
    const u = update as Partial<DashboardControls>;
    const next: DashboardControls = { steer: { ...this.controlsNow.steer }, pins: { ...this.controlsNow.pins }, pinStrength: this.controlsNow.pinStrength };
    for (const [k, v] of Object.entries(u.steer ?? {})) {
      this.directions.trait(k, 'controls.steer');
      next.steer[k] = coefficient(v, `controls.steer.${k}`);
    }
    for (const [k, v] of Object.entries(u.pins ?? {})) {
      this.directions.probe(k, 'controls.pins');
      if (v !== null && typeof v !== 'string') throw new RequestError(`controls.pins.${k}: a class name or null`);
      next.pins[k] = v || null;
    }
    if (u.pinStrength !== undefined) {
      next.pinStrength = coefficient(u.pinStrength, 'controls.pinStrength');
    }
    this.planNow = this.directions.plan(this.settings(next), 'controls');
    this.pinPlanNow = this.directions.plan({ steer: [], probe: this.settings(next).probe }, 'controls');
    this.controlsNow = next;
    return this.controls;
  }

  plan(): { steering: Steering; ablation: Ablation[] } {
    return this.planNow;
  }

  /**
   * The pins alone: what the user-model readings are taken under. Trait steering is left out: it
   * is meant for the answer, and added at the reading position it would rewrite the picture of the
   * user (an evil push reads as "child" on persona-tiny).
   */
  pinPlan(): { steering: Steering; ablation: Ablation[] } {
    return this.pinPlanNow;
  }

  private settings(c: DashboardControls): Settings {
    return {
      steer: Object.entries(c.steer).filter(([, v]) => v !== 0).map(([trait, coeff]) => ({ trait, coeff })),
      probe: Object.entries(c.pins).flatMap(([attribute, target]) => (target ? [{ attribute, mode: 'toward' as const, target, strength: c.pinStrength }] : [])),
    };
  }

  /** The conversation as JSONL: one line per turn with every readout. */
  exportJsonl(modelId: string): string {
    return this.turns.map((t) => JSON.stringify({ session: this.id, model: modelId, system: this.system, ...t })).join('\n') + (this.turns.length ? '\n' : '');
  }
}
