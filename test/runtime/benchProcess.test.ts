// The bench's baselines (PyTorch, scikit-learn) run as child processes answering one JSON line per
// request (scripts/bench-process.ts). A baseline that dies, prints garbage or never starts must end
// the wait with a message naming it, not hang the bench or crash it with an unhandled EPIPE.

import { describe, expect, it } from 'vitest';
import { JsonLineProcess } from '../../scripts/bench-process.js';

// A real child: answers {"echo": n} to {"op": "ping", "n": n}, garbage to "garble", dies on "die", exits on "quit".
const CHILD = String.raw`
const rl = require('node:readline').createInterface({ input: process.stdin });
console.log(JSON.stringify({ ready: true }));
rl.on('line', (line) => {
  const req = JSON.parse(line);
  if (req.op === 'ping') console.log(JSON.stringify({ echo: req.n }));
  else if (req.op === 'garble') console.log('not json');
  else if (req.op === 'null') console.log('null');
  else if (req.op === 'fail') console.log(JSON.stringify({ error: 'no such workload' }));
  else if (req.op === 'die') { process.stderr.write('out of memory\n'); process.exit(3); }
  else process.exit(0);
});
`;

const start = () => JsonLineProcess.start(process.execPath, ['-e', CHILD], 'the test baseline');

describe('JsonLineProcess', () => {
  it('answers requests in order, and rejects error answers and lines that are not JSON objects by name', async () => {
    const p = start();
    try {
      expect(await p.next()).toEqual({ ready: true });
      const answers = await Promise.all([p.ask({ op: 'ping', n: 1 }), p.ask({ op: 'ping', n: 2 })]);
      expect(answers).toEqual([{ echo: 1 }, { echo: 2 }]);
      await expect(p.ask({ op: 'fail' })).rejects.toThrow('no such workload');
      await expect(p.ask({ op: 'garble' })).rejects.toThrow(/the test baseline printed a line that is not JSON: not json/);
      await expect(p.ask({ op: 'null' })).rejects.toThrow(/the test baseline printed null, not a JSON object/);
      expect(await p.ask({ op: 'ping', n: 3 })).toEqual({ echo: 3 });
    } finally {
      await p.close();
    }
  });

  it('a process that dies fails the pending request and every later one with its exit code and stderr', async () => {
    const p = start();
    await p.next();
    await expect(p.ask({ op: 'die' })).rejects.toThrow(/the test baseline exited \(3\): out of memory/);
    // Asked again after the exit: answered at once, no write to the dead pipe.
    await expect(p.ask({ op: 'ping', n: 1 })).rejects.toThrow(/exited \(3\)/);
    await p.close();
  });

  it('a command that cannot start fails the first wait, and close returns', async () => {
    const p = JsonLineProcess.start('/nonexistent/python3', [], 'the missing baseline');
    await expect(p.next()).rejects.toThrow(/the missing baseline failed \(spawn \/nonexistent\/python3 ENOENT\)/);
    await p.close();
  });
});
