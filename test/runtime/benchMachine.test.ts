// The bench names the machine it ran on (scripts/bench-machine.ts): its roofline ratios differ by
// CPU kind with the same code, so the kind must be read right from /proc/cpuinfo.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeMachine, machineLine } from '../../scripts/bench-machine.js';

const block = (cpu: number, family: number, model: number, name: string, flags: string) =>
  `processor\t: ${cpu}\nvendor_id\t: AuthenticAMD\ncpu family\t: ${family}\nmodel\t\t: ${model}\nmodel name\t: ${name}\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: ${cpu}\ncpu cores\t: 2\nflags\t\t: ${flags}\n\n`;
const base = 'fpu vme de pse tsc msr sse sse2 ht syscall nx lm';

describe('bench machine description', () => {
  it('tells an AVX2-only EPYC from an AVX-512 one, with family and model', () => {
    const zen1 = describeMachine(block(0, 23, 1, 'AMD EPYC', `${base} avx fma avx2 sha_ni`) + block(1, 23, 1, 'AMD EPYC', `${base} avx fma avx2`), '');
    expect(zen1).toMatchObject({ cpu: 'AMD EPYC', family: 23, model: 1, simd: 'avx2', physicalCores: 2, logicalCpus: 2 });
    expect(machineLine(zen1)).toBe('machine: AMD EPYC (family 23, model 1), AVX2, 2 physical cores / 2 logical CPUs');
    const zen4 = describeMachine(block(0, 25, 17, 'AMD EPYC 9R14', `${base} avx avx2 avx512f avx512bw`), '');
    expect(zen4).toMatchObject({ family: 25, model: 17, simd: 'avx512', physicalCores: 1, logicalCpus: 1 });
  });

  it('counts SMT siblings once and only the CPUs this process may use', () => {
    // Two logical CPUs on one core (same core id), a third on another; status allows 0-1 only.
    const info = block(0, 25, 1, 'X', `${base} avx2`) + block(1, 25, 1, 'X', `${base} avx2`).replace('core id\t\t: 1', 'core id\t\t: 0') + block(2, 25, 1, 'X', `${base} avx2`);
    expect(describeMachine(info, '')).toMatchObject({ physicalCores: 2, logicalCpus: 3 });
    expect(describeMachine(info, 'Name:\tnode\nCpus_allowed_list:\t0-1\n').physicalCores).toBe(1);
  });

  it('reads an aarch64 cpuinfo (no model name, Features for flags)', () => {
    const arm = 'processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes crc32\nCPU implementer\t: 0x41\n\n';
    const m = describeMachine(arm, '');
    expect(m.simd).toBe('neon');
    expect(m.family).toBeUndefined();
    expect(m.cpu.length).toBeGreaterThan(0); // os.cpus()'s model
  });

  it.runIf(existsSync('/proc/cpuinfo'))('describes this machine', () => {
    const m = describeMachine();
    expect(m.simd).not.toBe('unknown');
    expect(m.physicalCores).toBeGreaterThanOrEqual(1);
    expect(m.logicalCpus).toBeGreaterThanOrEqual(m.physicalCores);
  });
});
