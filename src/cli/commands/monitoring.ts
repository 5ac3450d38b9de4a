// persona project / monitor / screen / shift: reading persona vectors off activations — over a
// dataset, along a conversation, across a finetuning dataset, between a base and a finetuned model.
// Each writes a run directory (manifest, JSONL records, outputs) and resumes with --run.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { VectorKind } from '../../directions/vectorFile.js';
import { RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import { datasetFormat } from '../../monitoring/dataset.js';
import { projectDataset } from '../../monitoring/projectDataset.js';
import { parseProjectionPosition, specsFromVectorFiles, stem } from '../../monitoring/projections.js';
import { parseIntList, progress } from '../util.js';
import { DEFAULT_MODEL, inRun } from './persona.js';

interface RunFlags {
  runs: string;
  run?: string;
}

const runOptions = (cmd: Command): Command =>
  cmd.option('--runs <dir>', 'where run directories go', 'runs').option('--run <dir>', 'run directory to create or resume (default: a fresh one under --runs)');

export function registerMonitoringCommands(program: Command): void {
  runOptions(
    program
      .command('project')
      .description('project every row of a prompt/answer dataset (CSV prompt,answer or JSONL messages) on persona vectors; writes the dataset back with one column per projection')
      .argument('<data>', 'dataset: .csv with prompt and answer columns, or .jsonl with messages (the last one is the answer)')
      .requiredOption('--vector <file.safetensors...>', 'persona vector file(s)')
      .requiredOption('--layer <list>', 'layer(s), e.g. 3 or 1-4 (hidden_states index: k = after block k)')
      .option('--positions <list>', 'response-mean, prompt-mean, last-prompt, per-token, index:N (comma-separated)', 'response-mean,last-prompt')
      .option('--kind <kind>', 'which vector of the file: response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('-m, --model <dir>', 'model folder', DEFAULT_MODEL)
      .option('-o, --out <file>', 'output dataset (default: projected.<csv|jsonl> in the run directory)')
      .option('--batch-size <n>', 'sequences per forward pass', '8')
      .option('--chunk <n>', 'rows read and recorded together (bounds memory)', '64'),
  ).action(async (data: string, o: RunFlags & { vector: string[]; layer: string; positions: string; kind: VectorKind; model: string; out?: string; batchSize: string; chunk: string }) => {
    const format = datasetFormat(data);
    const positions = o.positions.split(',').map((p) => parseProjectionPosition(p.trim(), '--positions'));
    const layers = parseIntList(o.layer, '--layer');
    const model = await loadModel(o.model);
    const specs = (() => {
      try {
        return specsFromVectorFiles(model, o.vector, layers, positions, o.kind);
      } catch (e) {
        void model.dispose();
        throw e;
      }
    })();
    const cfg = { data: resolve(data), vectors: o.vector.map((v) => resolve(v)), layers, positions: o.positions, kind: o.kind };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'project', stem(data)), 'project', { ...modelIdentity(model), ...cfg });
    await inRun(run, model, async () => {
      const out = o.out ?? run.path(`projected.${format}`);
      const r = await projectDataset(model, data, specs, run, { out, batchSize: Number(o.batchSize), chunkRows: Number(o.chunk), onProgress: progress('rows') });
      run.output('dataset', out);
      run.finish({ rows: r.rows, resumed: r.resumed, columns: r.columns });
      console.log(`${r.rows} rows${r.resumed ? ` (${r.resumed} from the interrupted run)` : ''}; columns ${r.columns.join(', ')}`);
      console.log(`wrote ${out}; run ${run.dir}`);
    });
  });
}
