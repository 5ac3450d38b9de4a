import { mkdtempSync, statSync, truncateSync, appendFileSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActivationStore } from '../../src/activations/store.js';

const row = (i: number, layers: number, H: number) => Array.from({ length: layers }, (_, l) => Float32Array.from({ length: H }, (_, h) => i * 100 + l * 10 + h));

describe('ActivationStore', () => {
  it('appends rows per layer and reads one layer back as [rows, H]', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'store-')), 's');
    const s = ActivationStore.open(dir, [0, 2], 3, { suffix: 'x' });
    s.append([row(0, 2, 3), row(1, 2, 3)]);
    s.append([row(2, 2, 3)]);
    expect(s.rows).toBe(3);
    expect([...s.readLayer(2)]).toEqual([10, 11, 12, 110, 111, 112, 210, 211, 212]);
    expect([...ActivationStore.read(dir).readLayer(0)]).toEqual([0, 1, 2, 100, 101, 102, 200, 201, 202]);
    expect(() => s.readLayer(1)).toThrow('no layer 1');
  });

  it('reopening cuts rows written after the last commit (an interrupted batch)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'store-')), 's');
    const s = ActivationStore.open(dir, [0, 1], 2);
    s.append([row(0, 2, 2)]);
    // A crash after writing layer 0's bytes but before the count was committed.
    appendFileSync(s.layerPath(0), Buffer.from(new Float32Array([9, 9]).buffer));
    const again = ActivationStore.open(dir, [0, 1], 2);
    expect(again.rows).toBe(1);
    expect(statSync(again.layerPath(0)).size).toBe(8);
    again.append([row(1, 2, 2)]);
    expect([...again.readLayer(0)]).toEqual([0, 1, 100, 101]);
  });

  it('refuses to mix datasets and names a short file', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'store-')), 's');
    ActivationStore.open(dir, [0], 2, { suffix: 'a' }).append([row(0, 1, 2), row(1, 1, 2)]);
    expect(() => ActivationStore.open(dir, [0], 2, { suffix: 'b' })).toThrow('holds other activations');
    expect(() => ActivationStore.open(dir, [0], 4, { suffix: 'a' })).toThrow('holds other activations');
    truncateSync(join(dir, 'layer-0.f32'), 4);
    expect(() => ActivationStore.open(dir, [0], 2, { suffix: 'a' })).toThrow(/layer-0\.f32: 4 bytes, fewer than the 2 rows/);
    const h = JSON.parse(readFileSync(join(dir, 'store.json'), 'utf8'));
    writeFileSync(join(dir, 'store.json'), JSON.stringify({ ...h, format: 'other' }));
    expect(() => ActivationStore.read(dir)).toThrow("field 'format'");
  });
});
