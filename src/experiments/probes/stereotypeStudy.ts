// The Reading-Between-the-Prompts study: in conversations where the user states one identity but
// mentions another class's stereotypical interest, which one does the model believe? Measured two
// ways (the probe's reading, and the class the model names when asked directly), before and after
// intervening toward the stated identity.

import { generateChat } from '../../generation/generate.js';
import type { ProbeSet } from '../../directions/probes/probeFile.js';
import type { LabelledConversation } from '../../data/labelledConversations.js';
import { probeInterventionPlan, type ProbeIntervention } from '../../interventions/probeIntervention.js';
import type { RunDir } from '../../logs/runDir.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import type { AnswerClassifier } from './answerClass.js';
import { readWithProbes } from './probeReading.js';

export interface StereotypeCase {
  attribute: string;
  stated: string;
  stereotype: string;
  /** The conversation (trailing assistant reply dropped when read). */
  messages: ChatMessage[];
  /** The same conversation followed by a direct question about the attribute. */
  asked: ChatMessage[];
}

export type Follows = 'stated' | 'stereotype' | 'other' | 'none';

export interface StereotypeRecord {
  case: number;
  phase: 'before' | 'after';
  attribute: string;
  stated: string;
  stereotype: string;
  probe: string;
  probeFollows: Follows;
  answer: string;
  answerClass: string | null;
  answerFollows: Follows;
}

export interface StereotypeSummary {
  attribute: string;
  phase: 'before' | 'after';
  n: number;
  probe: Record<Follows, number>;
  answer: Record<Follows, number>;
}

/** Contradicting rows of a labelled dataset (meta.stated / meta.stereotype), each with a direct question appended. */
export function stereotypeCases(rows: LabelledConversation[], directQuestion: (attribute: string) => string): StereotypeCase[] {
  return rows.flatMap((r) => {
    const m = r.meta ?? {};
    if (r.cue !== 'contradicting' || typeof m['attribute'] !== 'string' || typeof m['stated'] !== 'string' || typeof m['stereotype'] !== 'string') return [];
    const messages = r.messages as ChatMessage[];
    // Ask after the conversation's last reply, so the question follows the whole conversation.
    return [{ attribute: m['attribute'], stated: m['stated'], stereotype: m['stereotype'], messages, asked: [...messages, { role: 'user', content: directQuestion(m['attribute']) }] }];
  });
}

const follows = (cls: string | null, c: StereotypeCase): Follows => (cls === null ? 'none' : cls === c.stated ? 'stated' : cls === c.stereotype ? 'stereotype' : 'other');

export async function runStereotypeStudy(
  model: SteerableModel,
  probes: ProbeSet[],
  cases: StereotypeCase[],
  run: RunDir,
  cfg: { intervention: Omit<ProbeIntervention, 'probe' | 'target' | 'mode'>; maxNewTokens: number; batchSize: number },
  opts: { classify: AnswerClassifier; onProgress?: (done: number, total: number) => void },
): Promise<StereotypeSummary[]> {
  const byAttr = new Map(probes.map((p) => [p.meta.attribute, p]));
  const usable = cases.filter((c) => byAttr.has(c.attribute));
  if (!usable.length) throw new Error(`no contradicting conversation for the probes' attributes (${[...byAttr.keys()].join(', ')})`);
  const done = new Set(run.records<StereotypeRecord>('stereotype').map((r) => `${r.phase}/${r.case}`));
  let n = 0;
  for (const phase of ['before', 'after'] as const) {
    for (const [i, c] of usable.entries()) {
      if (done.has(`${phase}/${i}`)) continue;
      const probe = byAttr.get(c.attribute)!;
      const plan = phase === 'after' ? probeInterventionPlan(model, { ...cfg.intervention, probe, mode: 'toward', target: c.stated }) : undefined;
      const [read] = await readWithProbes(model, [probe], [c.messages], { steering: plan?.steering, batchSize: cfg.batchSize });
      const gen = await generateChat(model, [c.asked], { maxNewTokens: cfg.maxNewTokens, steering: plan?.steering });
      const answer = gen.text[0]!;
      const answerClass = opts.classify(c.attribute, answer, probe.meta.classes);
      const rec: StereotypeRecord = {
        case: i,
        phase,
        attribute: c.attribute,
        stated: c.stated,
        stereotype: c.stereotype,
        probe: read![0]!.predicted,
        probeFollows: follows(read![0]!.predicted, c),
        answer,
        answerClass,
        answerFollows: follows(answerClass, c),
      };
      run.append('stereotype', rec as unknown as Record<string, unknown>);
      opts.onProgress?.(++n, usable.length * 2);
    }
  }
  return summarizeStereotype(run.keyedRecords<StereotypeRecord>('stereotype', (r) => `${r.phase}/${r.case}`));
}

export function summarizeStereotype(records: StereotypeRecord[]): StereotypeSummary[] {
  const cells = new Map<string, StereotypeSummary>();
  const zero = (): Record<Follows, number> => ({ stated: 0, stereotype: 0, other: 0, none: 0 });
  for (const r of records) {
    for (const attribute of [r.attribute, 'all']) {
      const k = `${attribute}/${r.phase}`;
      const s = cells.get(k) ?? { attribute, phase: r.phase, n: 0, probe: zero(), answer: zero() };
      s.n++;
      s.probe[r.probeFollows]++;
      s.answer[r.answerFollows]++;
      cells.set(k, s);
    }
  }
  return [...cells.values()];
}
