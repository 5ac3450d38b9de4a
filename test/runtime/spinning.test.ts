// ONNX Runtime's intra-op workers spin after a run unless told otherwise (~30 ms of a core here),
// which on few cores steals the next run's core from any other session or process. Reading
// sessions spin only while a run lasts (model/session.ts); generation sessions spin on, as a
// decode loop's next step follows within a millisecond. What is measured: this process's CPU time
// in the idle window right after a run, at 2 intra-op threads (one worker).

import { describe, expect, it } from 'vitest';
import { extractActivations } from '../../src/activations/extract.js';
import { loadModel } from '../../src/model/load.js';
import { median } from '../../scripts/bench-pairs.js';

const WINDOW_MS = 80;

/** CPU ms this process spends while its JavaScript sleeps WINDOW_MS right after `run`. */
async function cpuAfter(run: () => Promise<unknown>): Promise<number> {
  await run();
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

describe('intra-op spinning', () => {
  it('a reading run leaves no worker spinning; a generation run does', async () => {
    const model = await loadModel('models/persona-tiny', { threads: 2 });
    try {
      const V = model.config.vocabSize;
      const rows = Array.from({ length: 8 }, (_, b) => Array.from({ length: 64 }, (_, t) => 3 + ((b * 131 + t * 17) % (V - 3))));
      const read = () => extractActivations(model, rows.map((r) => ({ promptIds: r.slice(0, 1), responseIds: r.slice(1) })), { positions: ['response-mean'], batchSize: 8 });
      const step = () => model.forward({ inputIds: rows });
      await read(); // opens and checks the reading variant
      await step();
      await new Promise((r) => setTimeout(r, 200)); // the generation session's spin from that run ends
      const reading = [await cpuAfter(read), await cpuAfter(read), await cpuAfter(read)];
      const generation = [await cpuAfter(step), await cpuAfter(step), await cpuAfter(step)];
      // The control shows the window catches a spinning worker (~25-30 ms of CPU here, whatever the
      // load: the spin is counted in iterations); the reading runs leave ~0.3 ms.
      expect(median(generation), `generation: ${generation.map((x) => x.toFixed(1))} ms`).toBeGreaterThan(10);
      expect(median(reading), `reading: ${reading.map((x) => x.toFixed(1))} ms`).toBeLessThan(5);
    } finally {
      await model.dispose();
    }
  });
});
