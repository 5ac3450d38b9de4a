// Data for `persona inspect`: what the instrumenter sees in a model folder (architecture, layers,
// the residual tensor chosen per layer and the op that makes it), without writing anything.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DTypeName } from '../../onnx/schema.js';
import { type FolderLayout, GENAI_CONFIG, genaiSharedBuffer, resolveModelFolder } from '../layout.js';
import { attentionContract, type AttentionContract } from './attention.js';
import { fingerprint, instrumenterHash, outputPaths, planModel, type Manifest } from './prepare.js';
import type { NameCheck, ResidualDtype, ResidualStyle, SteerVia } from './residual.js';

export interface InspectedPoint {
  layer: number;
  tensor: string;
  producerName: string;
  producerOp: string;
  outputIndex: number;
  steerVia: SteerVia;
  nameCheck: NameCheck;
}

export interface ModelInspection {
  modelDir: string;
  /** The folder layout the model was read from (../layout.ts). */
  layout: FolderLayout;
  /** Relative to modelDir. */
  file: string;
  fileBytes: number;
  modelType: string;
  architectures: string[];
  /** From config.json. */
  numLayers: number;
  hiddenSize: number;
  dtype: ResidualDtype;
  style: ResidualStyle;
  addsPerLayer: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  inputs: { name: string; type: string; shape: string }[];
  outputs: { name: string; type: string; shape: string }[];
  points: InspectedPoint[];
  /** How ragged rows and the cache are fed (attention.ts). */
  attention: AttentionContract;
  /** genai_config.json asks for shared past/present buffers (search.past_present_share_buffer). */
  sharedBufferAsked: boolean;
  warnings: string[];
  /** The cached instrumented files (plain, with ablation inputs) that are there and match the source. */
  prepared: { path: string; ablation: boolean }[];
}

function shapeText(shape?: (number | string | null)[]): string {
  return shape ? `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '?';
}

export function describeModel(modelDir: string, opts: { file?: string } = {}): ModelInspection {
  const folder = resolveModelFolder(modelDir, opts.file);
  const file = folder.file;
  const { plan, dims, model } = planModel(modelDir, file);
  const ports = (list: typeof model.graph.inputs) =>
    list.map((v) => ({ name: v.name, type: DTypeName[v.elemType] ?? String(v.elemType), shape: shapeText(v.shape) }));

  const prepared: ModelInspection['prepared'] = [];
  const src = fingerprint(modelDir, file);
  for (const ablation of [false, true]) {
    const out = outputPaths(file, ablation);
    const manifestPath = join(modelDir, out.manifest);
    if (!existsSync(manifestPath) || !existsSync(join(modelDir, out.onnx))) continue;
    try {
      const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
      if (m.source?.sha256 === src.sha256 && m.source.size === src.size && m.instrumenter === instrumenterHash())
        prepared.push({ path: join(modelDir, out.onnx), ablation });
    } catch {
      /* unreadable manifest: report as not prepared */
    }
  }

  return {
    modelDir,
    layout: folder.layout,
    file,
    fileBytes: statSync(join(modelDir, file)).size,
    modelType: dims.modelType,
    architectures: dims.architectures,
    numLayers: plan.numLayers,
    hiddenSize: plan.hiddenSize,
    dtype: plan.dtype,
    style: plan.style,
    addsPerLayer: plan.addsPerLayer,
    opsets: model.opsets,
    producer: model.producer,
    inputs: ports(model.graph.inputs),
    outputs: ports(model.graph.outputs),
    points: plan.points.map((p) => ({
      layer: p.layer,
      tensor: p.tensor,
      producerName: p.producer.name,
      producerOp: p.producer.opType,
      outputIndex: p.producer.index,
      steerVia: p.steerVia,
      nameCheck: p.nameCheck,
    })),
    attention: attentionContract(model, join(modelDir, file)),
    sharedBufferAsked: folder.genaiConfig ? genaiSharedBuffer(folder.genaiConfig, join(modelDir, GENAI_CONFIG)).share : false,
    warnings: plan.warnings,
    prepared,
  };
}

function attentionLine(d: ModelInspection): string {
  const a = d.attention;
  const rows = { left: 'rows left-padded', right: 'rows right-padded', none: 'rows cannot be padded' }[a.padding];
  const cache = d.sharedBufferAsked
    ? a.sharedBuffer
      ? 'cache: shared past/present buffers (genai_config.json past_present_share_buffer)'
      : 'cache: growing (genai_config.json asks for shared buffers, which this attention cannot use)'
    : 'cache: growing';
  return `${a.ops.join(', ') || 'decomposed'}; ${rows} (${a.reason}); ${cache}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function formatInspection(d: ModelInspection): string {
  const mb = (d.fileBytes / 2 ** 20).toFixed(1);
  const lines = [
    `model      ${d.modelDir}`,
    `layout     ${d.layout}`,
    `file       ${d.file} (${mb} MB, producer ${d.producer || '?'}, opsets ${d.opsets.map((o) => `${o.domain || 'ai.onnx'}:${o.version}`).join(' ')})`,
    `arch       ${d.modelType}${d.architectures.length ? ` (${d.architectures.join(', ')})` : ''}`,
    `layers     ${d.numLayers}, hidden ${d.hiddenSize}, ${d.dtype}, ${d.addsPerLayer} residual add(s) per layer`,
    `style      ${d.style}`,
    `attention  ${attentionLine(d)}`,
    `prepared   ${d.prepared.length ? d.prepared.map((p) => `${p.path}${p.ablation ? ' (with ablation inputs)' : ''}`).join(', ') : 'no'}`,
    '',
    table([
      ['k', 'residual tensor', 'producer', 'op', 'steer via', 'name check'],
      ...d.points.map((p) => [
        String(p.layer),
        p.tensor,
        p.producerName || '(unnamed)',
        `${p.producerOp}${p.outputIndex ? `:${p.outputIndex}` : ''}`,
        p.steerVia,
        p.nameCheck,
      ]),
    ]),
  ];
  if (d.warnings.length) lines.push('', 'warnings:', ...d.warnings.map((w) => `  - ${w}`));
  return lines.join('\n');
}
