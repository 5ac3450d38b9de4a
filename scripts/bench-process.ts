// A baseline of `npm run bench` as a running process that answers one JSON line per request, so
// that the bench can interleave its timed runs with ours (a shared machine's load then falls on
// both sides alike). Used for PyTorch (bench-torch.ts) and scikit-learn (bench-probes.ts).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export class JsonLineProcess {
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly name: string,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    child.on('exit', (code) => {
      for (const w of this.waiting.splice(0)) w(JSON.stringify({ error: `${name} exited (${code}): ${this.stderr.trim().split('\n').slice(-5).join('\n')}` }));
    });
  }

  /** Starts `command args`; `name` is what errors call it. */
  static start(command: string, args: string[], name: string): JsonLineProcess {
    return new JsonLineProcess(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }), name);
  }

  /** The next line the process prints, parsed; a line with an `error` field rejects. */
  next(): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.waiting.push((line) => {
        let v: { error?: string };
        try {
          v = JSON.parse(line) as { error?: string };
        } catch {
          return reject(new Error(`${this.name} printed a line that is not JSON: ${line.slice(0, 200)}`));
        }
        if (v.error) reject(new Error(v.error));
        else resolve(v);
      }),
    );
  }

  /** Sends one request line and waits for its answer. */
  ask(req: object): Promise<unknown> {
    const answer = this.next();
    this.child.stdin.write(JSON.stringify(req) + '\n');
    return answer;
  }

  /** Sends {op: 'quit'} and waits for the process to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
    await done;
  }
}
