// prepareModel writes onnx/<stem>.persona.onnx + .persona.json next to the source, reuses them
// while the source is unchanged, and describeModel/formatInspection report what was found.

import * as ort from 'onnxruntime-node';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashFiles, instrumenterFiles, instrumenterHash, MANIFEST_FORMAT, prepareModel, type PrepareProgress } from '../../src/model/instrument/prepare.js';
import { describeModel, formatInspection } from '../../src/model/instrument/inspect.js';
import { cleanupScratch, copyFixture, fixture } from './helpers.js';

afterAll(cleanupScratch);

describe('prepareModel', () => {
  it('writes the instrumented model and manifest next to the source, then reuses them', async () => {
    const dir = copyFixture(await fixture('llama'));
    const stages: string[] = [];
    const onProgress = (p: PrepareProgress) => stages.push(p.stage);
    const a = await prepareModel(dir, { onProgress });
    expect(a.onnxPath).toBe(join(dir, 'onnx', 'model.persona.onnx'));
    expect(stages).toEqual(['read', 'plan', 'edit', 'write', 'done']);
    expect(readdirSync(join(dir, 'onnx')).sort()).toEqual(['model.onnx', 'model.persona.json', 'model.persona.onnx']);
    const m = a.manifest;
    expect(m.format).toBe(MANIFEST_FORMAT);
    expect(m.source.file).toBe(join('onnx', 'model.onnx'));
    expect(m.source.size).toBe(statSync(join(dir, 'onnx', 'model.onnx')).size);
    expect(m.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(m.toolkitVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(m).toMatchObject({ numLayers: 3, hiddenSize: 64, dtype: 'float32', style: 'plain', addsPerLayer: 2, ablation: false });
    expect(m.inputsAdded.map((i) => i.name)).toEqual(['steer.0', 'steer.1', 'steer.2', 'steer.3']);
    expect(m.inputsAdded[0]!.shape).toEqual(['steer_batch', 'steer_seq', 64]);
    expect(m.outputsAdded.map((o) => o.name)).toEqual(['hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3']);
    expect(m.points.map((p) => p.producer.name)).toEqual([
      '/model/embed_tokens/Gather',
      '/model/layers.0/Add_1',
      '/model/layers.1/Add_1',
      '/model/layers.2/Add_1',
    ]);

    const mtime = statSync(a.onnxPath).mtimeMs;
    stages.length = 0;
    const b = await prepareModel(dir, { onProgress });
    expect(stages).toEqual(['cached']);
    expect(b.manifest).toEqual(a.manifest);
    expect(statSync(a.onnxPath).mtimeMs).toBe(mtime);

    // The ablation variant is its own cached pair: switching the flag rebuilds neither.
    stages.length = 0;
    const c = await prepareModel(dir, { ablation: true, onProgress });
    expect(stages[0]).toBe('read');
    expect(c.onnxPath).toBe(join(dir, 'onnx', 'model.persona-ablation.onnx'));
    expect(c.manifest.ablation).toBe(true);
    expect(c.manifest.inputsAdded.filter((i) => i.name.startsWith('ablate.'))).toHaveLength(4);
    expect(c.manifest.inputsAdded.find((i) => i.name === 'ablate.1')!.shape).toEqual(['ablate_batch', 'ablate_rank', 64]);
    stages.length = 0;
    expect((await prepareModel(dir, { onProgress })).onnxPath).toBe(a.onnxPath);
    await prepareModel(dir, { ablation: true, onProgress });
    expect(stages).toEqual(['cached', 'cached']);
    expect(statSync(a.onnxPath).mtimeMs).toBe(mtime);
    // Rebuilt when asked and when the source changes.
    stages.length = 0;
    await prepareModel(dir, { ablation: true, force: true, onProgress });
    expect(stages[0]).toBe('read');
    stages.length = 0;
    const t = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'onnx', 'model.onnx'), t, t);
    await prepareModel(dir, { ablation: true, onProgress });
    expect(stages[0]).toBe('read');
    // No temp files left behind.
    expect(readdirSync(join(dir, 'onnx')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('external data: the instrumented graph sits next to model.onnx_data and references it', async () => {
    const dir = copyFixture(await fixture('llama-external'));
    const p = await prepareModel(dir);
    const dataSize = statSync(join(dir, 'onnx', 'model.onnx_data')).size;
    expect(statSync(p.onnxPath).size).toBeLessThan(dataSize / 4);
    const s = await ort.InferenceSession.create(p.onnxPath);
    expect(s.outputNames).toContain('hidden_states.3');
  });

  it('picks the only onnx/model*.onnx when there is no model.onnx, and names outputs after it', async () => {
    const dir = copyFixture(await fixture('llama-fp16'));
    renameSync(join(dir, 'onnx', 'model.onnx'), join(dir, 'onnx', 'model_fp16.onnx'));
    const p = await prepareModel(dir);
    expect(p.onnxPath).toBe(join(dir, 'onnx', 'model_fp16.persona.onnx'));
    expect(p.manifest.dtype).toBe('float16');
    expect(p.manifest.inputsAdded[0]!.dtype).toBe('float16');
    // Our own output is not a candidate source the next time.
    expect((await prepareModel(dir)).manifest.source.file).toBe(join('onnx', 'model_fp16.onnx'));
  });
});

describe('instrumentation cache', () => {
  it('is keyed by the instrumentation code: a file written by other code is rebuilt, not reused', async () => {
    const dir = copyFixture(await fixture('llama'));
    const a = await prepareModel(dir);
    expect(a.manifest.instrumenter).toBe(instrumenterHash());
    // A stale cache: a file an older instrumenter wrote (here: no steer inputs at all) under a
    // manifest that is current in every other field.
    const manifestPath = join(dir, 'onnx', 'model.persona.json');
    writeFileSync(manifestPath, JSON.stringify({ ...a.manifest, instrumenter: 'f'.repeat(64) }));
    copyFileSync(join(dir, 'onnx', 'model.onnx'), a.onnxPath);
    expect(describeModel(dir).prepared).toEqual([]);
    const stages: string[] = [];
    const b = await prepareModel(dir, { onProgress: (p) => stages.push(p.stage) });
    expect(stages[0]).toBe('read');
    expect(b.manifest.instrumenter).toBe(instrumenterHash());
    const s = await ort.InferenceSession.create(b.onnxPath);
    expect(s.inputNames).toContain('steer.1');
    await s.release();
  });

  it('the hash covers the residual detector, the edit, the cache, the protobuf code and the config and layout readers', () => {
    const names = instrumenterFiles().map((f) => basename(f).replace(/\.[jt]s$/, ''));
    for (const f of ['residual', 'edit', 'graphIndex', 'prepare', 'wire', 'read', 'build', 'config', 'layout']) expect(names).toContain(f);
    expect(instrumenterHash()).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a change to any hashed source (e.g. the config reader) changes the cache key', () => {
    const src = join(import.meta.dirname, '../../src');
    const files = instrumenterFiles();
    expect(hashFiles(files, src)).toBe(instrumenterHash());
    // The same tree copied elsewhere hashes the same; one edited file, or one file fewer, does not.
    const copy = mkdtempSync(join(tmpdir(), 'hash-'));
    const copied = files.map((f) => {
      const to = join(copy, relative(src, f));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(f, to);
      return to;
    });
    expect(hashFiles(copied, copy)).toBe(instrumenterHash());
    for (const name of ['config', 'layout', 'residual']) {
      const f = copied.find((p) => basename(p).replace(/\.[jt]s$/, '') === name)!;
      const text = readFileSync(f, 'utf8');
      writeFileSync(f, text + '\n// changed\n');
      expect(hashFiles(copied, copy), name).not.toBe(instrumenterHash());
      writeFileSync(f, text);
    }
    expect(hashFiles(copied.filter((p) => !p.endsWith(`layout${extname(p)}`)), copy)).not.toBe(instrumenterHash());
  });
});

describe('describeModel / formatInspection', () => {
  it('reports architecture, layers and the residual tensor per layer', async () => {
    const dir = copyFixture(await fixture('llama-fused'));
    const d = describeModel(dir);
    expect(d).toMatchObject({ modelType: 'llama', numLayers: 3, hiddenSize: 64, dtype: 'float32', style: 'fused', prepared: [] });
    expect(d.points).toHaveLength(4);
    expect(d.points[1]).toMatchObject({ producerOp: 'SkipSimplifiedLayerNormalization', outputIndex: 3, steerVia: 'fused-input' });
    const text = formatInspection(d);
    expect(text).toMatch(/arch\s+llama \(LlamaForCausalLM\)/);
    expect(text).toMatch(/layers\s+3, hidden 64, float32, 2 residual add\(s\) per layer/);
    expect(text).toMatch(/^3\s+\S+\s+\S+SkipLayerNorm\s+SkipSimplifiedLayerNormalization:3\s+fused-input/m);
    await prepareModel(dir);
    expect(describeModel(dir).prepared).toEqual([{ path: join(dir, 'onnx', 'model.persona.onnx'), ablation: false }]);
  });

  it('merged models report the If style', async () => {
    const d = describeModel(copyFixture(await fixture('llama-merged')));
    expect(d.style).toBe('merged-if');
    expect(d.inputs.map((i) => i.name)).toContain('use_cache_branch');
  });
});
