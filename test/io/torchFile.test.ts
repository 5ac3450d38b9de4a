import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTorchFile, readTorchFile, writeTorchTensor, type TorchTensor } from '../../src/io/torchFile.js';
import { decodeZip, encodeZip } from '../../src/io/zip.js';
import { ROOT } from '../cli/runCli.js';
import { hasPythonModule, runPython } from '../helpers/python.js';

const FIX = join(ROOT, 'test/fixtures/torch');
const L = 4;
const H = 8;
const expected = (l: number, i: number) => Math.fround(l + i / 100);

function tensor(v: unknown): TorchTensor {
  expect((v as TorchTensor).kind).toBe('tensor');
  return v as TorchTensor;
}

describe('torch .pt files written by real PyTorch (test/fixtures/torch, scripts/fixtures/make-torch-fixtures.py)', () => {
  it('reads a [L+1, H] float32 tensor exactly', () => {
    const t = tensor(readTorchFile(join(FIX, 'evil_response_avg_diff.pt')));
    expect(t.shape).toEqual([L + 1, H]);
    expect(t.dtype).toBe('float32');
    for (let l = 0; l <= L; l++) for (let i = 0; i < H; i++) expect(t.data[l * H + i]).toBe(expected(l, i));
  });

  it('follows strides and storage offsets (a transposed view, a slice)', () => {
    const tr = tensor(readTorchFile(join(FIX, 'transposed.pt')));
    expect(tr.shape).toEqual([H, L + 1]);
    expect(tr.data[3 * (L + 1) + 2]).toBe(expected(2, 3));
    const sl = tensor(readTorchFile(join(FIX, 'slice.pt')));
    expect(sl.shape).toEqual([2, H]);
    expect(sl.data[H + 5]).toBe(expected(3, 5));
  });

  it('converts float16 and reads dicts of tensors', () => {
    const h = tensor(readTorchFile(join(FIX, 'half.pt')));
    expect(h.dtype).toBe('float16');
    expect(h.data[2 * H + 7]).toBeCloseTo(2.07, 2);
    const sd = readTorchFile(join(FIX, 'state_dict.pt')) as Record<string, TorchTensor>;
    expect(Object.keys(sd)).toEqual(['a', 'b']);
    expect(sd.b!.data[4]).toBe(expected(1, 4));
  });

  it('refuses a pickle that would call os.system, and numpy arrays, naming the global', () => {
    expect(() => readTorchFile(join(FIX, 'hostile.pt'))).toThrow(/refusing to load global '(posix|os)\.system'/);
    expect(() => readTorchFile(join(FIX, 'numpy.pt'))).toThrow(/refusing to load global 'numpy\./);
  });

  it('refuses non-torch input clearly', () => {
    expect(() => decodeTorchFile(new Uint8Array([1, 2, 3]), 'x.pt')).toThrow(/x\.pt: not a ZIP archive/);
    const zip = Buffer.concat(encodeZip([{ name: 'a/other.txt', data: Buffer.from('hi') }]));
    expect(() => decodeTorchFile(zip, 'y.pt')).toThrow(/y\.pt: no <archive>\/data\.pkl/);
  });
});

describe('our .pt writer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-'));
  const data = Float32Array.from({ length: (L + 1) * H }, (_, k) => Math.fround(Math.sin(k) * 3));
  const path = join(dir, 'evil_response_avg_diff.pt');
  writeTorchTensor(path, data, [L + 1, H]);

  it('round-trips through our reader, with 64-byte aligned storage', () => {
    const t = tensor(readTorchFile(path));
    expect(t.shape).toEqual([L + 1, H]);
    expect(Array.from(t.data)).toEqual(Array.from(data));
    const bytes = readFileSync(path);
    const entries = decodeZip(bytes);
    expect([...entries.keys()]).toEqual(['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/version']);
    const at = bytes.indexOf(Buffer.from(new Uint8Array(data.buffer)));
    expect(at % 64).toBe(0);
  });

  it.skipIf(!hasPythonModule('torch'))('is read by the real torch.load, weights_only too', () => {
    const out = JSON.parse(runPython(join(ROOT, 'scripts/fixtures/torch-load.py'), [path]).trim());
    expect(out.shape).toEqual([L + 1, H]);
    expect(out.dtype).toBe('torch.float32');
    expect(out.values).toEqual(Array.from(data));
    expect(out.weights_only_equal).toBe(true);
  });
});
