// persona refusal: the "Who's asking?" study (user personas, refusal, early decoding) on the
// persona world's refusal benchmark, as one command with a run directory and a report.

import type { Command } from 'commander';
import { refusalBenchmark, USER_PERSONAS } from '../../world/index.js';
import { DEFAULT_MODEL } from '../defaults.js';
import { RunDir } from '../../logs/runDir.js';
import { LensHead } from '../../model/lensHead.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { writeReport } from '../../reports/html.js';
import { runRefusalStudy, type AnswerRecord } from '../../experiments/refusalStudy.js';
import { bestSteering, refusalReport } from '../../experiments/refusalReport.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { choiceList, inRun, intFlag, intListFlag, floatListFlag, modelShape, progress } from '../util.js';

interface RefusalFlags {
  layers: string;
  coeffs: string;
  personas?: string;
  maxNewTokens: string;
  runs: string;
  run?: string;
}

export function registerRefusalCommand(program: Command): void {
  program
    .command('refusal')
    .description("user personas and refusal (Ghandeharioun et al. 2024) on the persona world: refusal rates with no / stated / steered persona, persona-vector geometry vs effect, early decoding of refused answers")
    .argument('[model_dir]', 'model folder trained on the persona world (its refusal chats included)', DEFAULT_MODEL)
    .option('--layers <list>', 'layers to steer at (hidden_states index: k = after block k)', '1-4')
    .option('--coeffs <list>', 'steering coefficients (multiples of each persona vector)', '0.5,1,2,4')
    .option('--personas <list>', `personas (default all: ${USER_PERSONAS.map((p) => p.id).join(', ')})`)
    .option('--max-new-tokens <n>', 'tokens per greedy answer', '16')
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory (default: a fresh one under --runs)')
    .action(async (dir: string, o: RefusalFlags) => {
      const layers = intListFlag(o.layers, '--layers', 0, modelShape(dir).numLayers);
      const coeffs = floatListFlag(o.coeffs, '--coeffs');
      const personas = o.personas ? choiceList(o.personas, '--personas', USER_PERSONAS.map((p) => p.id)) : undefined;
      const maxNewTokens = intFlag(o.maxNewTokens, '--max-new-tokens', 1, 512);
      const model = await loadModel(dir);
      const cfg = { layers, coeffs, maxNewTokens, personas: personas ?? 'all' };
      const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'refusal'), 'refusal', { ...modelIdentity(model), ...cfg });
      await inRun(run, model, async () => {
        const head = await LensHead.load(model);
        const bar = progress('refusal study');
        const records: AnswerRecord[] = [];
        let result;
        try {
          result = await runRefusalStudy(model, head, refusalBenchmark({ personas }), { layers, coeffs, maxNewTokens }, {
            onRecord: (r) => records.push(r),
            onProgress: (done, total, stage) => bar(done, total, stage),
          });
        } finally {
          await head.release();
        }
        writeFileAtomic(run.path('answers.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
        writeFileAtomic(run.path('result.json'), JSON.stringify(result, null, 1));
        writeReport(run.path('refusal.html'), refusalReport(result, model.dir));
        for (const [name, file] of [['answers', 'answers.jsonl'], ['result', 'result.json'], ['report', 'refusal.html']] as const) run.output(name, file);
        const g = result.geometry;
        run.finish({ none: result.none, steeringR: g.steering.r, statedR: g.stated.r, lensMedianRank: result.lens.medianRank });
        const p100 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${(100 * x).toFixed(0)}%`);
        console.log(`borderline requests, no persona: refused ${p100(result.none.refused)}, content disclosed ${p100(result.none.disclosed)}`);
        for (const p of result.personas) {
          const b = bestSteering(result, p);
          console.log(`  ${p.persona}: stated refused ${p100(p.stated.all.refused)} (own domains ${p100(p.stated.own?.refused)}), disclosed ${p100(p.stated.all.disclosed)}; steered best L${b.layer} x${b.coeff}: refused ${p100(b.rates?.refused)}, disclosed ${p100(b.rates?.disclosed)}; cos with refusal L${layers.join('/L')} ${layers.map((l) => p.cosine[l]!.toFixed(2)).join(' ')}`);
        }
        console.log(`geometry vs disclosure across personas: steering r = ${g.steering.r.toFixed(3)}, stated r = ${g.stated.r.toFixed(3)}`);
        const L = result.lens;
        console.log(`early decoding, ${L.refused.length} refused: withheld first-token median rank by layer ${L.medianRank.join(' ')} (control ${L.controlMedianRank.join(' ')})`);
        console.log(`wrote ${run.path('refusal.html')}`);
      });
    });
}
