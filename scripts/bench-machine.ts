// What the bench ran on, printed and saved with its rows. The ratios against the matmul roofline
// move with the CPU's vector units as well as with our code and the VM's state (persona-tiny's
// extraction read 0.47-0.77 of its projections' rate on an AVX-512 EPYC over ten runs, 0.98 and
// 0.69 in two runs on an AVX2-only Zen 1 EPYC, same code), so a run compares with runs on the same
// kind of CPU.

import { cpus } from 'node:os';
import { cpuinfoBlocks, cpuinfoField, physicalCores, readIfThere } from '../src/model/physicalCores.js';

export interface Machine {
  /** /proc/cpuinfo "model name" (os.cpus() elsewhere). */
  cpu: string;
  /** x86 "cpu family" / "model" (which core generation an unhelpful model name hides). */
  family?: number;
  model?: number;
  /** The widest vector extension the first CPU reports. */
  simd: 'avx512' | 'avx2' | 'avx' | 'sse' | 'neon' | 'unknown';
  physicalCores: number;
  logicalCpus: number;
}

/**
 * The machine as /proc/cpuinfo (its first CPU's block) describes it, cores as physicalCores counts
 * those `status` (/proc/self/status) allows; os.cpus() where there is no cpuinfo.
 */
export function describeMachine(cpuinfo = readIfThere('/proc/cpuinfo'), status = readIfThere('/proc/self/status')): Machine {
  const blocks = cpuinfoBlocks(cpuinfo);
  const field = (name: string) => cpuinfoField(blocks[0] ?? '', name);
  const flags = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/));
  const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  const simd: Machine['simd'] = flags.has('avx512f') ? 'avx512' : flags.has('avx2') ? 'avx2' : flags.has('avx') ? 'avx' : flags.has('sse2') ? 'sse' : flags.has('asimd') || flags.has('neon') ? 'neon' : 'unknown';
  const family = int(field('cpu family'));
  const model = int(field('model'));
  return {
    cpu: field('model name') ?? cpus()[0]?.model ?? 'unknown',
    ...(family === undefined ? {} : { family }),
    ...(model === undefined ? {} : { model }),
    simd,
    physicalCores: physicalCores(cpuinfo, status),
    logicalCpus: blocks.filter((b) => cpuinfoField(b, 'processor') !== undefined).length || cpus().length,
  };
}

/** One line for the bench's header. */
export function machineLine(m: Machine): string {
  const gen = m.family !== undefined ? ` (family ${m.family}, model ${m.model ?? '?'})` : '';
  return `machine: ${m.cpu}${gen}, ${m.simd.toUpperCase()}, ${m.physicalCores} physical cores / ${m.logicalCpus} logical CPUs`;
}

