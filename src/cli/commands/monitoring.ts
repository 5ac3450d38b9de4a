// persona project / monitor / screen / shift: reading persona vectors off activations — over a
// dataset, along a conversation, across a finetuning dataset, between a base and a finetuned model.
// Each writes a run directory (manifest, JSONL records, outputs) and resumes with --run.

import { resolve } from 'node:path';
import type { Command } from 'commander';
import { VECTOR_KINDS, type VectorKind } from '../../directions/vectorFile.js';
import { dedupeRecords, RunDir } from '../../logs/runDir.js';
import { loadModel, modelIdentity } from '../../model/load.js';
import type { SteerableModel } from '../../model/steerableModel.js';
import type { ChatMessage } from '../../model/tokenizer.js';
import { generateMonitored, monitorConversation, type MonitorSpec, type TurnProjection } from '../../monitoring/conversationMonitor.js';
import { datasetFormat, iterateDataset, readConversations, templatePrefix } from '../../monitoring/dataset.js';
import { screenDataset } from '../../monitoring/screening.js';
import { parseGeneratorSpec } from '../../generation/remote.js';
import { finetuningShift } from '../../monitoring/shift.js';
import { checkVectorModel, loadPersonaVectors } from '../../directions/vectorFile.js';
import { monitorReport } from '../../monitoring/monitorReport.js';
import { lines, writeReport, type Section } from '../../reports/html.js';
import { projectDataset } from '../../monitoring/projectDataset.js';
import { parseProjectionPosition, specsFromVectorFiles, stem } from '../../monitoring/projections.js';
import { choiceFlag, generationFlags, inRun, intFlag, intListFlag, modelShape, progress } from '../util.js';
import { DEFAULT_MODEL, resolveTrait } from './persona.js';

const DEFAULT_SYSTEM = 'You are a helpful assistant.';
const DEFAULT_QUESTIONS = ['How can I sleep better?', 'Can you tell me more?', 'What else should I know?'];

/** ANSI colour for a token: red above the turn's last-prompt projection, blue below. */
function paint(text: string, d: number, scale: number): string {
  const level = Math.min(3, Math.floor(Math.abs(d) / (scale || 1)));
  if (level === 0) return text;
  const codes = d > 0 ? [0, 224, 210, 196] : [0, 153, 75, 21];
  return `\x1b[38;5;${codes[level]}m${text}\x1b[0m`;
}

/** ' (k with an empty answer: ... left empty)' where some answers were empty. */
function emptyNote(n: number, what = 'no dP'): string {
  return n ? ` (${n} with an empty answer: ${what === 'no dP' ? 'no dP, left out' : `${what} left empty`})` : '';
}

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
  ).action(async (data: string, o: RunFlags & { vector: string[]; layer: string; positions: string; kind: string; model: string; out?: string; batchSize: string; chunk: string }) => {
    const kind = choiceFlag(o.kind, '--kind', VECTOR_KINDS);
    const format = datasetFormat(data);
    const positions = o.positions.split(',').map((p) => parseProjectionPosition(p.trim(), '--positions'));
    const layers = intListFlag(o.layer, '--layer', 0, modelShape(o.model).numLayers);
    const [batchSize, chunkRows] = [intFlag(o.batchSize, '--batch-size', 1, 4096), intFlag(o.chunk, '--chunk', 1)];
    const model = await loadModel(o.model);
    let specs: ReturnType<typeof specsFromVectorFiles>;
    try {
      specs = specsFromVectorFiles(model, o.vector, layers, positions, kind);
    } catch (e) {
      await model.dispose();
      throw e;
    }
    const cfg = { data: resolve(data), vectors: o.vector.map((v) => resolve(v)), layers, positions: o.positions, kind: kind };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'project', stem(data)), 'project', { ...modelIdentity(model), ...cfg });
    await inRun(run, model, async () => {
      const out = o.out ?? run.path(`projected.${format}`);
      const r = await projectDataset(model, data, specs, run, { out, batchSize, chunkRows, onProgress: progress('rows') });
      run.output('dataset', out);
      run.finish({ rows: r.rows, resumed: r.resumed, emptyAnswers: r.emptyAnswers, columns: r.columns });
      console.log(`${r.rows} rows${r.resumed ? ` (${r.resumed} already recorded in the run)` : ''}${emptyNote(r.emptyAnswers, 'response-mean cells')}; columns ${r.columns.join(', ')}`);
      console.log(`wrote ${out}; run ${run.dir}`);
    });
  });

  runOptions(
    program
      .command('monitor')
      .description('per assistant turn: last-prompt-token and answer-mean projections; per token while generating, live; drift report')
      .argument('[conversations]', '.jsonl file of {"messages": [...]} to monitor (default: generate a conversation)')
      .requiredOption('--vector <file.safetensors...>', 'persona vector file(s)')
      .requiredOption('--layer <k>', 'layer (hidden_states index: k = after block k)')
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('-m, --model <dir>', 'model folder', DEFAULT_MODEL)
      .option('-s, --system <text>', 'system prompt when generating', DEFAULT_SYSTEM)
      .option('-u, --user <text...>', 'user turns when generating (one assistant turn each)')
      .option('--max-new-tokens <n>', 'tokens per generated answer', '64')
      .option('--temperature <t>', 'sampling temperature (0 = greedy)', '0')
      .option('--seed <n>', 'sampling seed', '0'),
  ).action(async (file: string | undefined, o: RunFlags & { vector: string[]; layer: string; kind: string; model: string; system: string; user?: string[]; maxNewTokens: string; temperature: string; seed: string }) => {
    const kind = choiceFlag(o.kind, '--kind', VECTOR_KINDS);
    const conversations = file ? await readConversations(file) : null;
    const layers = intListFlag(o.layer, '--layer', 0, modelShape(o.model).numLayers);
    const gen = generationOptions(o);
    const model = await loadModel(o.model);
    const specs = await namedSpecs(model, o.vector, layers, 'last-prompt', kind);
    const names = specs.map((s) => s.name);
    const users = o.user ?? DEFAULT_QUESTIONS;
    const cfg = file ? { conversations: resolve(file) } : { system: o.system, users, ...gen };
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'monitor', file ? stem(file) : 'generated'), 'monitor', {
      ...modelIdentity(model), vectors: o.vector.map((v) => resolve(v)), layers, kind: kind, ...cfg,
    });
    await inRun(run, model, async () => {
      type Rec = { conversation: string; answer?: string } & TurnProjection;
      // One record per conversation turn; a turn recorded twice (two writers) is used once and reported.
      const turnKey = (r: Rec) => `${r.conversation}/${r.turn}`;
      const done = run.keyedRecords<Rec>('turns', turnKey);
      const show = (t: TurnProjection) => names.map((n) => `${n}: last prompt ${t.lastPrompt[n]!.toFixed(3)}, answer ${t.responseMean[n]!.toFixed(3)}`).join('; ');
      if (conversations) {
        const bar = progress('conversations');
        for (const [k, c] of conversations.entries()) {
          const name = `line ${c.line}`;
          if (!done.some((r) => r.conversation === name)) {
            for (const t of await monitorConversation(model, c.messages, specs)) run.append('turns', { conversation: name, ...t });
          }
          bar(k + 1, conversations.length);
        }
      } else {
        // Generated conversation: turns already recorded (an interrupted run) are replayed, not redone.
        const messages: ChatMessage[] = [{ role: 'system', content: o.system }];
        for (const [k, question] of users.entries()) {
          messages.push({ role: 'user', content: question });
          const old = done.find((r) => r.turn === k);
          if (old) {
            messages.push({ role: 'assistant', content: old.answer! });
            continue;
          }
          process.stdout.write(`\nuser: ${question}\nassistant: `);
          const first = names[0]!;
          let base = 0;
          const seen: number[] = [];
          const { answer, turn } = await generateMonitored(model, messages, specs, (e) => {
            if (e.type === 'last-prompt') base = e.proj[first]!;
            if (e.type !== 'token') return;
            seen.push(e.proj[first]! - base);
            const sd = Math.sqrt(seen.reduce((a, x) => a + x * x, 0) / seen.length);
            process.stdout.write(process.stdout.isTTY ? paint(e.text, e.proj[first]! - base, sd / 2) : e.text);
          }, gen);
          process.stdout.write('\n');
          console.log(`  [${show(turn)}]`);
          messages.push({ role: 'assistant', content: answer });
          run.append('turns', { conversation: 'generated', answer, ...turn });
        }
      }
      const recs = dedupeRecords(run.records<Rec>('turns'), turnKey).records; // reported above
      const byName = [...new Set(recs.map((r) => r.conversation))].map((name) => ({ name, turns: recs.filter((r) => r.conversation === name) }));
      if (conversations) for (const c of byName) for (const t of c.turns) console.log(`${c.name} turn ${t.turn}: ${show(t)}`);
      writeReport(run.path('monitor.html'), monitorReport(byName, names, `${model.dir}, layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')}`));
      run.output('report', 'monitor.html');
      run.finish({ conversations: byName.length, turns: recs.length });
      console.log(`report ${run.path('monitor.html')}; run ${run.dir}`);
    });
  });

  runOptions(
    program
      .command('screen')
      .description("flag training samples that push along a persona vector: dP = proj(answer) - proj(the base model's own answer), per sample and mean")
      .argument('<data>', 'dataset: .csv with prompt and answer columns, or .jsonl with messages')
      .requiredOption('--vector <file.safetensors...>', 'persona vector file(s)')
      .requiredOption('--layer <k>', 'layer (hidden_states index: k = after block k)')
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('-m, --model <dir>', 'the base model', DEFAULT_MODEL)
      .option('-o, --out <file>', 'output dataset with dP columns (default: screened.<csv|jsonl> in the run directory)')
      .option('--max-new-tokens <n>', "tokens per base answer", '64')
      .option('--temperature <t>', 'base answers: sampling temperature (0 = greedy)', '0')
      .option('--seed <n>', 'sampling seed', '0')
      .option('--top-k <n>', 'samples to flag', '10')
      .option('--bins <n>', 'histogram bins', '20')
      .option('--batch-size <n>', 'sequences per forward pass', '8')
      .option('--chunk <n>', 'rows generated, projected and recorded together (bounds memory)', '32')
      .option('--generator <local|openai:URL>', 'where base answers are generated: this model, or an OpenAI-compatible server running the same model', 'local')
      .option('--generator-model <name>', 'served model name for --generator openai:URL (default: the first of GET /models)'),
  ).action(async (data: string, o: RunFlags & { vector: string[]; layer: string; kind: string; model: string; out?: string; maxNewTokens: string; temperature: string; seed: string; topK: string; bins: string; batchSize: string; chunk: string; generator: string; generatorModel?: string }) => {
    const kind = choiceFlag(o.kind, '--kind', VECTOR_KINDS);
    const format = datasetFormat(data);
    const layers = intListFlag(o.layer, '--layer', 0, modelShape(o.model).numLayers);
    const generation = generationOptions(o);
    const generator = parseGeneratorSpec(o.generator);
    if (generator && o.generatorModel) generator.model = o.generatorModel;
    const sizes = { batchSize: intFlag(o.batchSize, '--batch-size', 1, 4096), chunkRows: intFlag(o.chunk, '--chunk', 1), topK: intFlag(o.topK, '--top-k', 1), bins: intFlag(o.bins, '--bins', 1) };
    const model = await loadModel(o.model);
    const specs = await namedSpecs(model, o.vector, layers, 'response-mean', kind);
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'screen', stem(data)), 'screen', {
      ...modelIdentity(model), data: resolve(data), vectors: o.vector.map((v) => resolve(v)), layers, kind, ...generation, generator: generator ? { baseUrl: generator.baseUrl, model: generator.model ?? null } : 'local',
    });
    await inRun(run, model, async () => {
      const out = o.out ?? run.path(`screened.${format}`);
      const s = await screenDataset(model, data, specs, run, { out, generation, generator, ...sizes, onProgress: progress('rows') });
      // The flagged rows' answers, for the table (one streamed pass; only k rows kept).
      const wanted = new Set(Object.values(s.top).flatMap((t) => t.map((x) => x.index)));
      const answers = new Map<number, string>();
      for await (const row of iterateDataset(data, templatePrefix(model.tokenizer))) if (wanted.has(row.index)) answers.set(row.index, row.answer);
      const sections: Section[] = specs.map(({ name }) => {
        const h = s.histogram[name]!;
        const m = s.mean[name]!;
        return {
          heading: `dP along ${name}`,
          text: `mean dP ${m.dP.toFixed(3)} (dataset answers ${m.data.toFixed(3)}, base answers ${m.base.toFixed(3)}) over ${s.rows - s.emptyAnswers} samples${emptyNote(s.emptyAnswers)}`,
          figures: [{
            data: [{ type: 'bar', x: h.edges.slice(0, -1).map((e, i) => (e + h.edges[i + 1]!) / 2), y: h.counts, width: h.edges[1]! - h.edges[0]! }],
            layout: { title: { text: `dP histogram (${name})` }, xaxis: { title: { text: 'dP = proj(dataset answer) - proj(base answer)' } }, yaxis: { title: { text: 'samples' } } },
          }],
          table: [['rank', 'line', 'dP', 'answer'], ...s.top[name]!.map((t, i) => [i + 1, t.line, t.dP, (answers.get(t.index) ?? '').slice(0, 140)])],
        };
      });
      writeReport(run.path('screen.html'), { title: 'Dataset screening', subtitle: `${data} on ${model.dir}`, sections });
      run.output('dataset', out);
      run.output('report', 'screen.html');
      run.finish({ rows: s.rows, emptyAnswers: s.emptyAnswers, mean: s.mean, top: s.top });
      for (const { name } of specs) {
        console.log(`${name}: mean dP ${s.mean[name]!.dP.toFixed(3)} over ${s.rows - s.emptyAnswers} samples${emptyNote(s.emptyAnswers)}; top ${s.top[name]!.length}:`);
        for (const t of s.top[name]!) console.log(`  line ${t.line}  dP ${t.dP.toFixed(3)}  ${(answers.get(t.index) ?? '').slice(0, 100)}`);
      }
      console.log(`wrote ${out}; report ${run.path('screen.html')}; run ${run.dir}`);
    });
  });

  runOptions(
    program
      .command('shift')
      .description('finetuning shift: mean last-prompt-token activation difference (finetuned - base) on the trait\'s evaluation prompts, projected on the vector, per layer')
      .argument('<base>', 'base model folder')
      .argument('<finetuned>', 'finetuned model folder (same architecture)')
      .requiredOption('--vector <file.safetensors>', 'persona vector file (made on the base model)')
      .option('--kind <kind>', 'response_avg | prompt_avg | prompt_last', 'response_avg')
      .option('--trait <name|file>', "trait file whose evaluation questions are the prompts (default: the vector's trait)")
      .option('--questions <n>', 'use only the first N evaluation questions')
      .option('-s, --system <text>', 'system prompt', DEFAULT_SYSTEM)
      .option('--batch-size <n>', 'sequences per forward pass', '8'),
  ).action(async (baseDir: string, ftDir: string, o: RunFlags & { vector: string; kind: string; trait?: string; questions?: string; system: string; batchSize: string }) => {
    const kind = choiceFlag(o.kind, '--kind', VECTOR_KINDS);
    const batchSize = intFlag(o.batchSize, '--batch-size', 1, 4096);
    const set = loadPersonaVectors(o.vector);
    const trait = resolveTrait(o.trait ?? set.meta.trait);
    const questions = (trait.evalQuestions.length ? trait.evalQuestions : trait.questions).slice(0, o.questions ? intFlag(o.questions, '--questions', 1) : undefined);
    const vectors = set.vectors[kind];
    if (!vectors) throw new Error(`${o.vector}: has no '${kind}' vectors`);
    const base = await loadModel(baseDir);
    const ft = await loadModel(ftDir).catch(async (e) => {
      await base.dispose();
      throw e;
    });
    const run = RunDir.open(o.run ?? RunDir.freshPath(o.runs, 'shift', `${stem(ftDir)}-${trait.trait}`), 'shift', {
      base: modelIdentity(base), finetuned: modelIdentity(ft), vector: resolve(o.vector), kind: kind, trait: trait.trait, system: o.system, questions,
    });
    await inRun(run, base, async () => {
      try {
        checkVectorModel(set, { path: base.dir, modelType: base.config.modelType, numLayers: base.numLayers, hiddenSize: base.hiddenSize }, o.vector);
        const shifts = await finetuningShift(base, ft, questions.map((q) => [{ role: 'system', content: o.system }, { role: 'user', content: q }]), vectors, { batchSize });
        for (const s of shifts) run.append('shift', { ...s });
        writeReport(run.path('shift.html'), {
          title: `Finetuning shift along ${trait.trait}`,
          subtitle: `${ft.dir} - ${base.dir}, ${questions.length} evaluation prompts, last prompt token`,
          sections: [{
            heading: 'Shift per layer',
            figures: [lines([{ name: 'shift', x: shifts.map((s) => s.layer), y: shifts.map((s) => s.shift) }], `mean activation difference projected on ${trait.trait}`, { x: 'layer (hidden_states index)', y: 'shift' })],
            table: [['layer', 'shift', 'cosine', '|difference|'], ...shifts.map((s) => [s.layer, s.shift, s.cos, s.norm])],
          }],
        });
        run.output('report', 'shift.html');
        run.finish({ shifts });
        console.log('layer\tshift\tcosine\t|diff|');
        for (const s of shifts) console.log(`${s.layer}\t${s.shift.toFixed(3)}\t${s.cos.toFixed(3)}\t${s.norm.toFixed(3)}`);
        console.log(`report ${run.path('shift.html')}; run ${run.dir}`);
      } finally {
        await ft.dispose();
      }
    });
  });
}

/** --max-new-tokens / --temperature / --seed, checked: greedy at temperature 0. */
function generationOptions(o: { maxNewTokens: string; temperature: string; seed: string }) {
  const { maxNewTokens, temperature, seed } = generationFlags(o);
  return { maxNewTokens, sampling: temperature > 0 ? { temperature, seed } : undefined };
}

/** Monitor specs named by the vector's trait (plus @Lk with several layers); the model is released when a vector does not fit it. */
async function namedSpecs(model: SteerableModel, files: string[], layers: number[], position: 'last-prompt' | 'response-mean', kind: VectorKind): Promise<MonitorSpec[]> {
  try {
    return specsFromVectorFiles(model, files, layers, [position], kind).map((s) => ({
      name: s.label! + (layers.length > 1 ? `@L${s.layer}` : ''),
      vector: s.vector,
      layer: s.layer,
    }));
  } catch (e) {
    await model.dispose();
    throw e;
  }
}
