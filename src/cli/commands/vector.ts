// persona vector export / import: our persona-vector files to and from the files other tools read
// (persona_vectors .pt, llama.cpp / repeng GGUF control vectors, IBM activation-steering .svec).

import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  exportControlVectorGguf, exportPersonaVectorsPt, exportSvec, formatOf, importControlVectorGguf, importPersonaVectorsPt, importSvec,
} from '../../directions/formats/index.js';
import { loadPersonaVectors, savePersonaVectors, VECTOR_KINDS, type VectorKind } from '../../directions/vectorFile.js';
import { loadModelConfig } from '../../model/config.js';
import { choiceList, intListFlag } from '../util.js';
import { DEFAULT_MODEL } from './persona.js';

export function registerVectorCommands(program: Command): void {
  const vector = program.command('vector').description('convert persona vectors to and from other tools\' files');
  vector
    .command('export')
    .description('write a persona-vector file as persona_vectors .pt files, a llama.cpp/repeng GGUF control vector or an activation-steering .svec')
    .argument('<vectors.safetensors>', 'our persona-vector file (sidecar JSON beside it)')
    .requiredOption('-o, --out <path>', 'output: a directory for pt ({trait}_{kind}_diff.pt per kind), else a .gguf / .svec file')
    .option('--format <pt|gguf|svec>', 'output format (default: from the --out extension; a directory means pt)')
    .option('--kind <kind>', 'gguf/svec: which vector kind (response_avg | prompt_avg | prompt_last)', 'response_avg')
    .option('--layers <list>', 'gguf/svec: our layer indices to write (default: every layer the format holds)')
    .option('--normalize', 'gguf/svec: rescale each layer to unit norm')
    .action((file: string, o: { out: string; format?: string; kind: string; layers?: string; normalize?: boolean }) => {
      const [kind] = choiceList(o.kind, '--kind', VECTOR_KINDS) as [VectorKind];
      const set = loadPersonaVectors(file);
      const format = o.format ? formatOf(o.out, o.format) : /\.(gguf|svec)$/i.test(o.out) ? formatOf(o.out) : 'pt';
      // Which of our layers each format has a slot for (see the formats' comments): gguf from 2, svec from 1.
      if (o.layers && format === 'pt') throw new Error('--layers: only for gguf and svec (a .pt file holds every layer)');
      const layers = o.layers ? intListFlag(o.layers, '--layers', format === 'gguf' ? 2 : 1, set.meta.model.numLayers) : undefined;
      if (format === 'pt') {
        for (const p of exportPersonaVectorsPt(set, o.out)) console.log(`wrote ${p} (torch.load(path)[L] is our layer L; row 0 = embeddings)`);
      } else if (format === 'gguf') {
        const ns = exportControlVectorGguf(set, o.out, { kind, layers, normalize: o.normalize });
        console.log(`wrote ${o.out}: direction.${ns[0]}..direction.${ns.at(-1)} = our layers ${ns[0]! + 1}..${ns.at(-1)! + 1} (llama.cpp adds direction.N to the output of 0-based block N)`);
      } else {
        const ids = exportSvec(set, o.out, { kind, layers, normalize: o.normalize });
        console.log(`wrote ${o.out}: layer ids ${ids[0]}..${ids.at(-1)} = our layers ${ids[0]! + 1}..${ids.at(-1)! + 1}`);
      }
    });

  vector
    .command('import')
    .description('read another tool\'s vector file into our persona-vector format (checked against the model\'s shape)')
    .argument('<file>', 'a {trait}_{kind}_diff.pt file or a directory of them, a .gguf control vector, or a .svec file')
    .requiredOption('-o, --out <file.safetensors>', 'where to write our vector file (sidecar JSON beside it)')
    .option('--model <dir>', 'the model the vectors belong to (its config.json gives layers and hidden size)', DEFAULT_MODEL)
    .option('--trait <name>', 'trait name (default: from a .pt file name, else the file name)')
    .option('--format <pt|gguf|svec>', 'input format (default: from the extension; a directory means pt)')
    .action((file: string, o: { out: string; model: string; trait?: string; format?: string }) => {
      const cfg = loadModelConfig(o.model);
      const model = { path: resolve(o.model), modelType: cfg.modelType, numLayers: cfg.numLayers, hiddenSize: cfg.hiddenSize };
      const format = o.format ? formatOf(file, o.format) : /\.(gguf|svec|pt)$/i.test(file) ? formatOf(file) : 'pt';
      const trait = o.trait ?? file.replace(/^.*\//, '').replace(/\.(gguf|svec)$/i, '');
      const { set, notes } =
        format === 'pt' ? { set: importPersonaVectorsPt(file, model, o.trait), notes: [] as string[] }
        : format === 'gguf' ? importControlVectorGguf(file, model, trait)
        : importSvec(file, model, trait);
      savePersonaVectors(o.out, set);
      for (const n of notes) console.log(`note: ${n}`);
      const layers = set.vectors[set.meta.kinds[0]!].flatMap((v, l) => (v.some((x) => x !== 0) ? [l] : []));
      console.log(`wrote ${o.out}: trait ${set.meta.trait}, kinds ${set.meta.kinds.join(', ')}, non-zero layers ${layers.join(',')}`);
    });
}
