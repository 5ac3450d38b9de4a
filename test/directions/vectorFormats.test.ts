import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf, GGMLQuantizationType, GGUFValueType } from '@huggingface/gguf';
import { describe, expect, it } from 'vitest';
import {
  exportControlVectorGguf, exportPersonaVectorsPt, exportSvec, importControlVectorGguf, importPersonaVectorsPt, importSvec,
} from '../../src/directions/formats/index.js';
import { loadPersonaVectors, type PersonaVectorSet } from '../../src/directions/vectorFile.js';
import { decodeGguf, writeGguf } from '../../src/io/gguf.js';
import { ROOT, persona } from '../cli/runCli.js';
import { runPython, skipWithoutPython } from '../helpers/python.js';

const L = 4;
const H = 8;
const model = { path: '/m', modelType: 'llama', numLayers: L, hiddenSize: H };
// value(kind s, layer l, i): distinct per layer so a shifted layer cannot pass.
const row = (s: number, l: number) => Float32Array.from({ length: H }, (_, i) => Math.fround(s * 10 * (l + 1) + i / 8));

function set(): PersonaVectorSet {
  const mk = (s: number) => Array.from({ length: L + 1 }, (_, l) => row(s, l));
  return {
    vectors: { response_avg: mk(1), prompt_avg: mk(2), prompt_last: mk(-3) },
    meta: {
      format: 'persona-steer/persona-vector@1', trait: 'evil', model, layerConvention: '', kinds: ['response_avg', 'prompt_avg', 'prompt_last'],
      counts: { pos: 1, neg: 1 }, norms: { response_avg: [], prompt_avg: [], prompt_last: [] }, createdAt: '',
    },
  };
}
const tmp = () => mkdtempSync(join(tmpdir(), 'fmt-'));

describe('persona_vectors .pt', () => {
  it('writes {trait}_{kind}_diff.pt whose row L is our layer L, and reads them back', () => {
    const dir = tmp();
    const paths = exportPersonaVectorsPt(set(), dir);
    expect(paths.map((p) => p.slice(dir.length + 1))).toEqual(['evil_response_avg_diff.pt', 'evil_prompt_avg_diff.pt', 'evil_prompt_last_diff.pt']);
    const back = importPersonaVectorsPt(dir, model, 'evil');
    expect(back.meta.kinds).toEqual(['response_avg', 'prompt_avg', 'prompt_last']);
    for (let l = 0; l <= L; l++) expect(Array.from(back.vectors.prompt_last[l]!)).toEqual(Array.from(row(-3, l)));
  });

  it.skipIf(skipWithoutPython('torch', 'python3-torch'))('real torch.load(path)[3] is our layer 3', () => {
    const [p] = exportPersonaVectorsPt(set(), tmp());
    const out = JSON.parse(runPython(join(ROOT, 'scripts/fixtures/torch-load.py'), [p!]).trim());
    expect(out.shape).toEqual([L + 1, H]);
    expect(out.values.slice(3 * H, 4 * H)).toEqual(Array.from(row(1, 3)));
  });

  it('imports a file written by real PyTorch and refuses a shape that does not fit the model', () => {
    const fix = join(ROOT, 'test/fixtures/torch/evil_response_avg_diff.pt');
    const s = importPersonaVectorsPt(fix, model);
    expect(s.meta.trait).toBe('evil');
    expect(s.vectors.response_avg[3]![5]).toBe(Math.fround(3.05));
    expect(() => importPersonaVectorsPt(fix, { ...model, numLayers: 5 })).toThrow(/shape \[5,8\], expected \[6, 8\]/);
  });
});

describe('GGUF control vectors', () => {
  it('write direction.(k-1) for our layer k, in the layout llama.cpp reads', () => {
    const p = join(tmp(), 'evil.gguf');
    expect(exportControlVectorGguf(set(), p)).toEqual([1, 2, 3]);
    const bytes = readFileSync(p);
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('GGUF');
    expect(bytes.readUInt32LE(4)).toBe(3);
    expect(Number(bytes.readBigUInt64LE(8))).toBe(3); // tensors
    expect(Number(bytes.readBigUInt64LE(16))).toBe(3); // key/values
    const f = decodeGguf(bytes);
    expect(f.metadata.get('general.architecture')).toBe('controlvector');
    expect(f.metadata.get('controlvector.model_hint')).toBe('llama');
    expect(f.metadata.get('controlvector.layer_count')).toBe(3);
    expect(f.tensors.map((t) => t.name)).toEqual(['direction.1', 'direction.2', 'direction.3']);
    expect(Array.from(f.tensors[0]!.data)).toEqual(Array.from(row(1, 2)));
    // The data section starts 32-byte aligned.
    const at = bytes.indexOf(Buffer.from(row(1, 2).buffer));
    expect(at % 32).toBe(0);
  });

  it('round-trip puts every layer back where it was, and refuses layers llama.cpp cannot hold', () => {
    const dir = tmp();
    const p = join(dir, 'evil.gguf');
    exportControlVectorGguf(set(), p);
    const { set: back, notes } = importControlVectorGguf(p, model, 'evil');
    expect(notes).toEqual([]);
    for (let l = 2; l <= L; l++) expect(Array.from(back.vectors.response_avg[l]!)).toEqual(Array.from(row(1, l)));
    expect(back.vectors.response_avg[1]!.every((x) => x === 0)).toBe(true);
    expect(() => exportControlVectorGguf(set(), join(dir, 'x.gguf'), { layers: [1] })).toThrow(/direction\.0, which llama\.cpp's loader rejects/);
  });

  it('reads repeng-style files (uint32 layer_count, direction.0) and notes what llama.cpp would refuse', () => {
    const p = join(tmp(), 'repeng.gguf');
    writeGguf(p, [
      ['general.architecture', { type: 'string', value: 'controlvector' }],
      ['controlvector.model_hint', { type: 'string', value: 'mistral' }],
      ['controlvector.layer_count', { type: 'uint32', value: 2 }],
    ], [{ name: 'direction.0', dims: [H], data: row(5, 0) }, { name: 'direction.3', dims: [H], data: row(6, 0) }]);
    const { set: s, notes } = importControlVectorGguf(p, model, 'happy');
    expect(Array.from(s.vectors.response_avg[1]!)).toEqual(Array.from(row(5, 0)));
    expect(Array.from(s.vectors.response_avg[4]!)).toEqual(Array.from(row(6, 0)));
    expect(notes.join('\n')).toMatch(/model_hint 'mistral'/);
    expect(notes.join('\n')).toMatch(/direction\.0 .*llama\.cpp itself would reject/);
  });
});

// An independent reader: Hugging Face's GGUF parser (npm @huggingface/gguf) on our exports, and
// our reader on a file written from the spec by a Python stdlib script (scripts/fixtures/make-gguf-fixture.py).
describe('GGUF control vectors, read and written by others', () => {
  async function hfParse(path: string) {
    const r = await gguf(path, { allowLocalFile: true, typedMetadata: true });
    const bytes = readFileSync(path);
    const data = (t: (typeof r.tensorInfos)[number]) => {
      expect(t.dtype).toBe(GGMLQuantizationType.F32);
      const n = Number(t.shape.reduce((a, b) => a * b, 1n));
      const start = Number(r.tensorDataOffset + t.offset);
      return Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + 4 * n)));
    };
    return { ...r, data };
  }

  it('@huggingface/gguf reads our export: keys, value types, tensor names, shapes and F32 data', async () => {
    const p = join(tmp(), 'evil.gguf');
    exportControlVectorGguf(set(), p, { kind: 'prompt_last' });
    const r = await hfParse(p);
    expect(r.metadata.version).toBe(3);
    expect(r.typedMetadata['general.architecture']).toEqual({ value: 'controlvector', type: GGUFValueType.STRING });
    expect(r.typedMetadata['controlvector.model_hint']).toEqual({ value: 'llama', type: GGUFValueType.STRING });
    expect(r.typedMetadata['controlvector.layer_count']).toEqual({ value: 3, type: GGUFValueType.INT32 });
    expect(r.tensorInfos.map((t) => [t.name, t.shape])).toEqual([['direction.1', [8n]], ['direction.2', [8n]], ['direction.3', [8n]]]);
    // direction.N is our layer N + 1.
    r.tensorInfos.forEach((t, i) => expect(r.data(t)).toEqual(Array.from(row(-3, i + 2))));
  });

  it('our reader imports a spec-written file (64-byte alignment, string array, uint32 layer_count) as @huggingface/gguf reads it', async () => {
    const p = join(ROOT, 'test/fixtures/gguf/control_vector.gguf');
    const value = (n: number) => Array.from({ length: H }, (_, i) => (n + 1) * 10 + i / 8);
    const r = await hfParse(p);
    expect(r.tensorInfos.map((t) => t.name)).toEqual(['direction.0', 'direction.1', 'direction.3']);
    expect(r.typedMetadata['general.tags']).toMatchObject({ value: ['persona', 'fixture'] });
    const f = decodeGguf(readFileSync(p));
    expect(f.metadata.get('controlvector.layer_count')).toBe(3);
    expect(f.metadata.get('general.tags')).toEqual(['persona', 'fixture']);
    expect(f.tensors.map((t) => [t.name, t.dims, Array.from(t.data)])).toEqual(r.tensorInfos.map((t) => [t.name, t.shape.map(Number), r.data(t)]));
    const { set: s, notes } = importControlVectorGguf(p, model, 'happy');
    expect(Array.from(s.vectors.response_avg[1]!)).toEqual(value(0));
    expect(Array.from(s.vectors.response_avg[2]!)).toEqual(value(1));
    expect(Array.from(s.vectors.response_avg[4]!)).toEqual(value(3));
    expect(s.vectors.response_avg[3]!.every((x) => x === 0)).toBe(true);
    expect(notes.join('\n')).toMatch(/model_hint 'mistral'.*\n.*direction\.0/);
  });
});

describe('activation-steering .svec', () => {
  it('writes 0-based block ids (our layer - 1) and round-trips', () => {
    const p = join(tmp(), 'evil.svec');
    exportSvec(set(), p, { normalize: true });
    const json = JSON.parse(readFileSync(p, 'utf8'));
    expect(json.model_type).toBe('llama');
    expect(Object.keys(json.directions)).toEqual(['0', '1', '2', '3']);
    expect(Object.keys(json.explained_variances)).toEqual(['0', '1', '2', '3']);
    const v = row(1, 2);
    const n = Math.hypot(...v);
    json.directions['1'].forEach((x: number, i: number) => expect(x).toBeCloseTo(v[i]! / n, 6));
    const { set: back } = importSvec(p, model, 'evil');
    expect(back.vectors.response_avg[2]![3]).toBeCloseTo(v[3]! / n, 6);
  });

  it('resolves negative ids from the end and names bad entries', () => {
    const p = join(tmp(), 'neg.svec');
    writeFileSync(p, JSON.stringify({ model_type: 'llama', directions: { '-1': Array.from(row(7, 0)) }, explained_variances: { '-1': 0.5 } }));
    expect(Array.from(importSvec(p, model, 't').set.vectors.response_avg[L]!)).toEqual(Array.from(row(7, 0)));
    writeFileSync(p, JSON.stringify({ directions: { '0': [1, 2] } }));
    expect(() => importSvec(p, model, 't')).toThrow(/directions\['0'\] has 2 values, but the model .* hidden size 8/);
  });

  it('a JSON syntax error is reported as FILE:LINE:COLUMN', () => {
    const p = join(tmp(), 'broken.svec');
    writeFileSync(p, '{\n  "model_type": "llama",\n  "directions": {"0": [1, 2,]}\n}\n');
    expect(() => importSvec(p, model, 't')).toThrow(new RegExp(`^${p.replace(/[.]/g, '\\.')}:3:29: invalid JSON`));
  });
});

describe('persona vector export / import (CLI)', () => {
  it('exports a GGUF from our file and imports it back against the embedded model', async () => {
    const dir = tmp();
    const H0 = 160;
    const L0 = 4;
    const s = set();
    const big = (sg: number) => Array.from({ length: L0 + 1 }, (_, l) => Float32Array.from({ length: H0 }, (_, i) => sg * (l + 1) + i / 100));
    s.vectors = { response_avg: big(1), prompt_avg: big(2), prompt_last: big(3) };
    s.meta.model = { path: 'models/persona-tiny', modelType: 'llama', numLayers: L0, hiddenSize: H0 };
    const { savePersonaVectors } = await import('../../src/directions/vectorFile.js');
    savePersonaVectors(join(dir, 'evil.safetensors'), s);
    const ex = await persona('vector', 'export', join(dir, 'evil.safetensors'), '-o', join(dir, 'evil.gguf'));
    expect(ex.stderr).toBe('');
    expect(ex.stdout).toMatch(/direction\.1\.\.direction\.3 = our layers 2\.\.4/);
    const im = await persona('vector', 'import', join(dir, 'evil.gguf'), '-o', join(dir, 'back.safetensors'));
    expect(im.stdout).toMatch(/non-zero layers 2,3,4/);
    const back = loadPersonaVectors(join(dir, 'back.safetensors'));
    expect(Array.from(back.vectors.response_avg[3]!)).toEqual(Array.from(s.vectors.response_avg[3]!));
    const bad = await persona('vector', 'import', join(ROOT, 'test/fixtures/torch/evil_response_avg_diff.pt'), '-o', join(dir, 'x.safetensors'));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/evil_response_avg_diff\.pt: tensor has shape \[5,8\], expected \[5, 160\]/);
  });
});
