import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTorchFile, readTorchFile, TorchFileError, writeTorchTensor, type TorchTensor } from '../../src/io/torchFile.js';
import { decodeZip, encodeZip } from '../../src/io/zip.js';
import { ROOT } from '../cli/runCli.js';
import { runPython, skipWithoutPython } from '../helpers/python.js';

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

  it('reads the torch 2.x layout (byteorder, .format_version, .storage_alignment, .data/serialization_id, ZIP64 end records)', () => {
    // Written by hand from the 2.x format with the Python stdlib (scripts/fixtures/make-torch2-fixture.py).
    const path = join(FIX, 'torch2_layout.pt');
    expect([...decodeZip(readFileSync(path)).keys()]).toEqual(
      ['data.pkl', '.format_version', '.storage_alignment', 'byteorder', 'data/0', 'version', '.data/serialization_id'].map((n) => `torch2_layout/${n}`),
    );
    const t = tensor(readTorchFile(path));
    expect(t.shape).toEqual([L + 1, H]);
    for (let l = 0; l <= L; l++) for (let i = 0; i < H; i++) expect(t.data[l * H + i]).toBe(expected(l, i));
  });

  it('refuses non-torch input clearly', () => {
    expect(() => decodeTorchFile(new Uint8Array([1, 2, 3]), 'x.pt')).toThrow(/x\.pt: not a ZIP archive/);
    const zip = Buffer.concat(encodeZip([{ name: 'a/other.txt', data: Buffer.from('hi') }]));
    expect(() => decodeTorchFile(zip, 'y.pt')).toThrow(/y\.pt: no <archive>\/data\.pkl/);
  });
});

describe('tensors that describe more than their storage holds', () => {
  const refuses = (name: string, message: RegExp) => {
    const before = process.memoryUsage().arrayBuffers;
    let err: unknown;
    try {
      readTorchFile(join(FIX, name));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TorchFileError);
    expect((err as Error).message).toMatch(message);
    // Refused before the tensor's memory was allocated: nothing near its size appeared.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
  };

  it('caps the elements a file materialises: a 780-byte file expanding one float to 3e8, or to 1e10, is refused naming the tensor', () => {
    expect(readFileSync(join(FIX, 'hostile-expand-3e8.pt')).length).toBeLessThan(1000);
    refuses('hostile-expand-3e8.pt', /hostile-expand-3e8\.pt: .*tensor \(top level\) has 300000000 elements \(shape \[300000000\], strides \[0\], offset 0\), over the 134217728 this reader materialises per file; its storage holds 1/);
    refuses('hostile-expand-1e10.pt', /hostile-expand-1e10\.pt: .*tensor 'layers\.3' has 10000000000 elements/);
  });

  it('checks size, offset and stride against the storage, and the storage against its declared size', () => {
    refuses('hostile-size.pt', /hostile-size\.pt: .*tensor \(top level\) reaches element 63 of storage '0', which has 4 \(shape \[64\]/);
    refuses('hostile-offset.pt', /tensor \(top level\) reaches element 6 of storage '0', which has 4 \(shape \[4\], strides \[1\], offset 3\)/);
    refuses('hostile-stride.pt', /tensor \(top level\) has a size, stride or offset that is not a non-negative integer \(shape \[4\], strides \[-1\]/);
    refuses('hostile-storage.pt', /tensor \(top level\) uses storage '0', which declares 4 float32 elements \(16 bytes\) but holds 8 bytes/);
  });

  it('counts the cap over all tensors of a file', () => {
    const bytes = readFileSync(join(FIX, 'state_dict.pt'));
    expect(Object.keys(decodeTorchFile(bytes, 'sd.pt', 16) as object)).toEqual(['a', 'b']);
    expect(() => decodeTorchFile(bytes, 'sd.pt', 15)).toThrow(/sd\.pt: .*tensor 'b' has 8 elements .*over the 15 this reader materialises per file \(8 already read\)/);
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

  it.skipIf(skipWithoutPython('torch', 'python3-torch'))('is read by the real torch.load, weights_only too, as is the hand-made torch 2.x fixture', () => {
    const out = JSON.parse(runPython(join(ROOT, 'scripts/fixtures/torch-load.py'), [path]).trim());
    expect(out.shape).toEqual([L + 1, H]);
    expect(out.dtype).toBe('torch.float32');
    expect(out.values).toEqual(Array.from(data));
    expect(out.weights_only_equal).toBe(true);
    const t2 = JSON.parse(runPython(join(ROOT, 'scripts/fixtures/torch-load.py'), [join(FIX, 'torch2_layout.pt')]).trim());
    expect(t2.shape).toEqual([L + 1, H]);
    expect(t2.values).toEqual(Array.from(tensor(readTorchFile(join(FIX, 'torch2_layout.pt'))).data));
    expect(t2.weights_only_equal).toBe(true);
  });
});
