// Memory of `persona project` and `persona screen` against dataset size: each runs in a fresh
// process on a dataset of n and of 8n rows (4n with --quick; world chats, the embedded model, a random vector), and
// the peak resident set and the JS heap retained after each chunk are compared. Streaming in chunks should make the ratio
// ~1 (goal <= 1.15x); holding the dataset or its results in memory would make it grow with n.
// Used by scripts/bench.ts; run alone: npx tsx scripts/bench-memory.ts [--quick]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODEL = 'models/persona-tiny';

async function child(kind: string, data: string, dir: string): Promise<void> {
  const { loadModel } = await import('../src/model/load.js');
  const { RunDir } = await import('../src/logs/runDir.js');
  const { projectDataset } = await import('../src/monitoring/projectDataset.js');
  const { screenDataset } = await import('../src/monitoring/screening.js');
  // The JS heap that stays after each chunk (collected): what a dataset could make grow. A peak
  // sampled between collections measured up to a chunk's garbage as well, by chance, and varied by
  // ±30% once the heap was small (~10 MB retained).
  let heap = 0;
  const model = await loadModel(MODEL, { threads: 1 });
  const vector = Float32Array.from({ length: model.hiddenSize }, (_, i) => Math.sin(i));
  const run = RunDir.open(dir, kind, {});
  // A collection after each chunk: the RSS peak then measures what is retained plus one chunk's
  // working set, not how lazily V8 happened to free the runtime's buffers (which made RSS noisy by ±15%).
  const onProgress = () => {
    (globalThis as { gc?: () => void }).gc?.();
    heap = Math.max(heap, process.memoryUsage().heapUsed);
  };
  if (kind === 'project') await projectDataset(model, data, [{ name: 'v', vector, layer: 3, position: 'response-mean' }, { name: 't', vector, layer: 3, position: 'per-token' }], run, { out: join(dir, 'out.jsonl'), onProgress });
  else await screenDataset(model, data, [{ name: 'v', vector, layer: 3 }], run, { out: join(dir, 'out.jsonl'), generation: { maxNewTokens: 32 }, onProgress });
  await model.dispose();
  console.log(JSON.stringify({ rssKb: peakRssKb(), heap }));
}

/**
 * This process's peak resident set (VmHWM). Not resourceUsage().maxRSS: Linux carries ru_maxrss
 * across exec, so a child spawned by a large parent reported the parent's peak (5.9 GB for both
 * sizes once the bench had loaded the 135M model and PyTorch's baseline).
 */
function peakRssKb(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : process.resourceUsage().maxRSS;
}

/**
 * n world chats, repeated `times` times: the large dataset has the same sequence lengths in the same
 * chunks as the small one, so only the dataset's size differs (not the largest batch shape, which
 * sets the runtime's buffer sizes).
 */
async function dataset(n: number, times: number, dir: string): Promise<string> {
  const { generateConversation, childSeed } = await import('../src/world/index.js');
  const file = join(dir, `data-${n}x${times}.jsonl`);
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ messages: generateConversation(childSeed(3, i), { turns: 1 }).messages }));
  writeFileSync(file, Array.from({ length: times }, () => lines.join('\n')).join('\n') + '\n');
  return file;
}

export interface MemoryRow {
  metric: string;
  a: number;
  b: number;
  ratio: number;
  goal: string;
  ok: boolean;
}

/** Peak RSS and heap at 8n (quick: 4n) rows over n rows, for project and screen. */
export async function benchMemory(quick: boolean, log: (s: string) => void = () => {}): Promise<MemoryRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  try {
    return await measureMemory(quick, dir, log);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measureMemory(quick: boolean, dir: string, log: (s: string) => void): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  // Four chunks already in the small run (project: 64 rows a chunk, screen: 32): the first chunks
  // warm the runtime's arenas and the allocator, which is start-up cost, not growth with size.
  const times = quick ? 4 : 8;
  for (const [kind, n] of [['project', 256], ['screen', 128]] as const) {
    const measure = async (times: number) => {
      const data = await dataset(n, times, dir);
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--child', kind, data, join(dir, `${kind}-${times}`)], { encoding: 'utf8' });
      return JSON.parse(out.trim().split('\n').pop()!) as { rssKb: number; heap: number };
    };
    log(`memory: ${kind} on ${n} and ${times * n} rows ...`);
    const [small, large] = [await measure(1), await measure(times)];
    rows.push({ metric: `${kind}: peak RSS MB at ${times * n} / ${n} rows`, a: large.rssKb / 1024, b: small.rssKb / 1024, ratio: large.rssKb / small.rssKb, goal: '<= 1.15', ok: large.rssKb / small.rssKb <= 1.15 });
    rows.push({ metric: `${kind}: retained JS heap MB at ${times * n} / ${n} rows`, a: large.heap / 2 ** 20, b: small.heap / 2 ** 20, ratio: large.heap / small.heap, goal: '<= 1.15', ok: large.heap / small.heap <= 1.15 });
  }
  return rows;
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv[1]!, argv[2]!, argv[3]!);
else if (import.meta.filename === process.argv[1]) {
  for (const r of await benchMemory(argv.includes('--quick'), (s) => process.stderr.write(s + '\n'))) console.log(`${r.metric.padEnd(48)} ${r.a.toFixed(1).padStart(8)} ${r.b.toFixed(1).padStart(8)} ${r.ratio.toFixed(3).padStart(7)} ${r.goal} ${r.ok ? 'yes' : 'NO'}`);
}
