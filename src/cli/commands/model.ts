// persona prepare / inspect: instrument a model folder and show what was found.

import type { Command } from 'commander';
import { describeModel, formatInspection, prepareModel } from '../../model/instrument/index.js';

export function registerModelCommands(program: Command): void {
  program
    .command('prepare')
    .description('instrument MODEL_DIR: add hidden_states.k outputs and steer.k inputs (cached next to the model)')
    .argument('<model_dir>', 'Hugging Face-layout folder with config.json, tokenizer files and onnx/model*.onnx')
    .option('--file <onnx>', 'ONNX file inside the folder (default onnx/model.onnx)')
    .option('--ablation', 'also add ablate.k inputs for directional ablation')
    .option('--force', 'rebuild even if the cached instrumented model matches')
    .action(async (dir: string, o: { file?: string; ablation?: boolean; force?: boolean }) => {
      const t0 = Date.now();
      const r = await prepareModel(dir, { file: o.file, ablation: o.ablation, force: o.force, onProgress: (p) => process.stderr.write(`[${p.stage}] ${p.message}\n`) });
      const m = r.manifest;
      console.log(`${r.onnxPath}`);
      console.log(`layers ${m.numLayers}, hidden ${m.hiddenSize}, ${m.dtype}, style ${m.style}; ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      for (const w of m.warnings ?? []) console.log(`warning: ${w}`);
    });

  program
    .command('inspect')
    .description('print architecture, layers found, hidden size and the residual tensor chosen per layer')
    .argument('<model_dir>')
    .option('--file <onnx>', 'ONNX file inside the folder')
    .option('--json', 'print JSON instead of a table')
    .action((dir: string, o: { file?: string; json?: boolean }) => {
      const d = describeModel(dir, { file: o.file });
      console.log(o.json ? JSON.stringify(d, null, 2) : formatInspection(d));
    });
}
