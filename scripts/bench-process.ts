// A baseline of `npm run bench` as a running process that answers one JSON line per request, so
// that the bench can interleave its timed runs with ours (a shared machine's load then falls on
// both sides alike). Used for PyTorch (bench-torch.ts) and scikit-learn (bench-probes.ts).

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export class JsonLineProcess {
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';
  /** Set once the process has exited or failed: every wait from then on gets it at once. */
  private ended: string | null = null;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly name: string,
  ) {
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    const end = (why: string) => {
      this.ended ??= JSON.stringify({ error: `${name} ${why}: ${this.stderr.trim().split('\n').slice(-5).join('\n')}` });
      for (const w of this.waiting.splice(0)) w(this.ended);
    };
    child.on('exit', (code, signal) => end(`exited (${signal ?? code})`));
    // A failed start (ENOENT) or a write to a process that has gone (EPIPE) ends it, not the bench.
    child.on('error', (e) => end(`failed (${e.message})`));
    child.stdin.on('error', (e) => end(`stopped reading (${e.message})`));
  }

  /** Starts `command args`; `name` is what errors call it. */
  static start(command: string, args: string[], name: string): JsonLineProcess {
    return new JsonLineProcess(spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] }), name);
  }

  /** The next line the process prints, parsed; a line with an `error` field rejects. */
  next(): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const answer = (line: string) => {
        let v: unknown;
        try {
          v = JSON.parse(line);
        } catch {
          return reject(new Error(`${this.name} printed a line that is not JSON: ${line.slice(0, 200)}`));
        }
        if (typeof v !== 'object' || v === null) reject(new Error(`${this.name} printed ${line.slice(0, 200)}, not a JSON object`));
        else if ('error' in v && v.error) reject(new Error(String(v.error)));
        else resolve(v);
      };
      if (this.ended) answer(this.ended);
      else this.waiting.push(answer);
    });
  }

  /** Sends one request line and waits for its answer. */
  ask(req: object): Promise<unknown> {
    const answer = this.next();
    if (!this.ended) this.child.stdin.write(JSON.stringify(req) + '\n');
    return answer;
  }

  /** Sends {op: 'quit'} and waits for the process to exit; kills it if it has not after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    // No pid: it never started (the 'error' event said why), so there is no exit to wait for.
    if (this.child.pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    if (!this.ended) this.child.stdin.end(JSON.stringify({ op: 'quit' }) + '\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
  }
}
