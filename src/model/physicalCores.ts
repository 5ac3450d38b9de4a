// How many physical cores this process may run on: ONNX Runtime's default intra-op thread count,
// which the reading pool shares out (model/readingPool.ts).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Physical cores this process may run on, as ONNX Runtime counts them for its default thread count
 * (logical CPUs would put two sessions' threads on one core's SMT siblings): distinct (physical id,
 * core id) pairs of /proc/cpuinfo among the CPUs of /proc/self/status's Cpus_allowed_list (a
 * container or taskset may allow fewer than the machine has). Elsewhere the logical count.
 */
export function physicalCores(cpuinfo = readIfThere('/proc/cpuinfo'), status = readIfThere('/proc/self/status')): number {
  const allowed = cpuList(/^Cpus_allowed_list:\s*(.+)$/m.exec(status ?? '')?.[1]);
  const cores = new Set<string>();
  for (const block of cpuinfoBlocks(cpuinfo)) {
    const field = (name: string) => cpuinfoField(block, name);
    const cpu = field('processor');
    const core = field('core id');
    if (cpu === undefined || core === undefined || (allowed && !allowed.has(Number(cpu)))) continue;
    cores.add(`${field('physical id') ?? 0}/${core}`);
  }
  return cores.size || availableParallelism();
}

/** /proc/cpuinfo's blocks, one per logical CPU (none when there is no cpuinfo). */
export function cpuinfoBlocks(cpuinfo: string | undefined): string[] {
  return cpuinfo?.split(/\n\s*\n/).filter((b) => b.trim()) ?? [];
}

/** One "name : value" field of a cpuinfo block, trimmed (undefined when the block has none). */
export function cpuinfoField(block: string, name: string): string | undefined {
  return new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(block)?.[1]?.trim();
}

/** "0-3,8,10-11" as a set of CPU numbers (undefined when absent). */
function cpuList(list: string | undefined): Set<number> | undefined {
  if (!list) return undefined;
  const cpus = new Set<number>();
  for (const part of list.trim().split(',')) {
    const [a, b]: number[] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) cpus.add(c);
  }
  return cpus;
}

/** A text file's contents, or undefined where it cannot be read (not Linux, no /proc). */
export function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
