// The reading pool's default thread count: physical cores the process may run on, as ONNX
// Runtime's default counts them, from /proc/cpuinfo and the process's allowed CPUs.

import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { physicalCores } from '../../src/model/physicalCores.js';

/** /proc/cpuinfo blocks for (processor, physical id, core id) triples. */
const cpuinfo = (cpus: [number, number, number][]) =>
  cpus.map(([p, s, c]) => `processor\t: ${p}\nvendor_id\t: AuthenticAMD\nphysical id\t: ${s}\nsiblings\t: 4\ncore id\t\t: ${c}\ncpu cores\t: 2\n`).join('\n');
const status = (list: string) => `Name:\tnode\nCpus_allowed:\tf\nCpus_allowed_list:\t${list}\nMems_allowed:\t1\n`;

describe('physicalCores', () => {
  // Two cores with two SMT siblings each: CPUs 0 and 2 are core 0, 1 and 3 core 1 (Linux's usual order).
  const smt = cpuinfo([[0, 0, 0], [1, 0, 1], [2, 0, 0], [3, 0, 1]]);

  it('counts cores, not SMT siblings, among the CPUs the process may use', () => {
    expect(physicalCores(smt, status('0-3'))).toBe(2);
    expect(physicalCores(smt, status('0,2'))).toBe(1); // both siblings of core 0
    expect(physicalCores(smt, status('0-1'))).toBe(2);
    expect(physicalCores(smt, status('3'))).toBe(1);
    expect(physicalCores(smt, undefined)).toBe(2); // no allowed list: every CPU listed
  });

  it('tells sockets apart (core ids repeat on each)', () => {
    expect(physicalCores(cpuinfo([[0, 0, 0], [1, 0, 1], [2, 1, 0], [3, 1, 1]]), status('0-3'))).toBe(4);
  });

  it('falls back to the logical count without /proc/cpuinfo core ids', () => {
    expect(physicalCores(undefined, undefined)).toBe(availableParallelism());
    expect(physicalCores('processor\t: 0\nmodel name\t: ARMv8\n', status('0'))).toBe(availableParallelism());
  });

  it("agrees with lscpu on this machine, and with taskset's limit", () => {
    const lscpu = spawnSync('lscpu', ['-p=cpu,core,socket'], { encoding: 'utf8' });
    if (lscpu.status !== 0) return; // no util-linux here: the cases above stand
    const allowed = /^Cpus_allowed_list:\s*(.+)$/m.exec(execFileSync('cat', ['/proc/self/status'], { encoding: 'utf8' }))?.[1] ?? '';
    const inList = (cpu: number) => allowed.split(',').some((r) => { const [a, b] = r.split('-').map(Number); return cpu >= a! && cpu <= (b ?? a!); });
    const cores = new Set(lscpu.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(',')).filter(([cpu]) => inList(Number(cpu))).map(([, core, socket]) => `${socket}/${core}`));
    expect(physicalCores()).toBe(cores.size);
    const one = spawnSync('taskset', ['-c', '0', process.execPath, '--import', 'tsx', '-e', "import('./src/model/physicalCores.ts').then((m) => console.log(m.physicalCores()))"], { encoding: 'utf8' });
    if (one.status === 0) expect(one.stdout.trim()).toBe('1');
  });
});
