// persona lens: early decoding (logit lens) of a prompt, or of a generation, with a report.

import type { Command } from 'commander';
import { lensChat, lensGeneration, targetTokenIds, type LensReading } from '../../activations/lens.js';
import { RunDir } from '../../logs/runDir.js';
import { LensHead } from '../../model/lensHead.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { writeReport } from '../../reports/html.js';
import { lensReport, targetRanksByLayer } from '../../reports/lensReport.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { inRun, intFlag, intListFlag, modelShape } from '../util.js';
import { DEFAULT_MODEL } from './persona.js';

interface LensFlags {
  prompt: string;
  system?: string;
  generate?: string;
  target?: string[];
  topK: string;
  layers?: string;
  runs: string;
  run?: string;
}

export function registerLensCommand(program: Command): void {
  program
    .command('lens')
    .description("early decoding: every layer's residual stream through the model's own final norm and LM head, per position (top-k tokens, target ranks); writes lens.json and lens.html")
    .argument('[model_dir]', 'model folder', DEFAULT_MODEL)
    .requiredOption('-p, --prompt <text>', 'user message')
    .option('-s, --system <text>', 'system prompt')
    .option('-g, --generate <n>', 'generate n tokens greedily and read every step (default: read the prompt only)')
    .option('--target <word...>', 'words (space- or comma-separated) whose first token to rank at every layer')
    .option('-k, --top-k <n>', 'top tokens per layer and position', '5')
    .option('--layers <list>', 'hidden_states indices to decode (default all; 0 = embeddings)')
    .option('--runs <dir>', 'where run directories go', 'runs')
    .option('--run <dir>', 'run directory (default: a fresh one under --runs)')
    .action(async (dir: string, o: LensFlags) => {
      const topK = intFlag(o.topK, '--top-k', 1, 1000);
      const generateN = o.generate === undefined ? null : intFlag(o.generate, '--generate', 1, 4096);
      const layers = o.layers ? intListFlag(o.layers, '--layers', 0, modelShape(dir).numLayers) : undefined;
      const words = (o.target ?? []).flatMap((w) => w.split(',')).map((w) => w.trim()).filter(Boolean);
      const model = await loadModel(dir);
      const messages: ChatMessage[] = [...(o.system ? [{ role: 'system' as const, content: o.system }] : []), { role: 'user', content: o.prompt }];
      const cfg = { messages, generate: generateN, targets: words, topK, layers: layers ?? 'all' };
      const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'lens'), 'lens', { ...modelIdentity(model), ...cfg });
      await inRun(run, model, async () => {
        const targets = targetTokenIds(model, words);
        const head = await LensHead.load(model);
        let reading: LensReading;
        try {
          reading = generateN === null
            ? await lensChat(model, head, messages, { topK, layers, targets })
            : await lensGeneration(model, head, messages, { topK, layers, targets, maxNewTokens: generateN });
        } finally {
          await head.release();
        }
        writeFileAtomic(run.path('lens.json'), JSON.stringify(reading));
        writeReport(run.path('lens.html'), lensReport(reading, model.dir));
        run.output('reading', 'lens.json');
        run.output('report', 'lens.html');
        run.finish({ positions: reading.tokens.length, layers: reading.layers.length });
        if (reading.generated) console.log(`generated: ${reading.generated.text}`);
        const last = reading.tokens.length - 1;
        console.log(`top token by layer at position ${last} (${JSON.stringify(reading.tokens[last])}):`);
        reading.layers.forEach((l, i) => {
          const cell = reading.top[i]![last]!;
          console.log(`  L${l}: ${cell.map((t) => `${JSON.stringify(t.token)} ${t.prob.toFixed(3)}`).join(', ')}`);
        });
        for (const t of targetRanksByLayer(reading)) console.log(`target ${JSON.stringify(t.token)} rank by layer @${t.position}: ${t.rank.join(' ')}`);
        console.log(`wrote ${run.path('lens.html')}`);
      });
    });
}
