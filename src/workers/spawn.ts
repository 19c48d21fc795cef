/**
 * Work that runs in a child process (measurements that must not share a process: fidelity, timing processes,
 * peak RSS). The child is the same entry script (CLI or action bundle) started with SLMOPS_CHILD=<kind> and the
 * job in SLMOPS_CHILD_SPEC; it prints one JSON line as its result. Every entry calls `runChildIfRequested()`
 * (./dispatch.ts) before anything else.
 */
import { spawn } from 'node:child_process';

export type ChildKind = 'fidelity' | 'bench' | 'rss' | 'profile';

/** The script a child runs: SLMOPS_CHILD_ENTRY (tests point it at a built bundle), else this process's entry. */
export function childEntry(): string | undefined {
  return process.env.SLMOPS_CHILD_ENTRY || process.argv[1];
}

export class ChildProcessError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChildProcessError';
  }
}

/** Runs `kind` with `spec` in a child process and returns what it printed as its last JSON line. */
export function runInChild<T>(kind: ChildKind, spec: unknown, entry = childEntry()): Promise<T> {
  return new Promise((resolve, reject) => {
    if (!entry) {
      reject(new ChildProcessError(`no entry script to start the ${kind} child process from`));
      return;
    }
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, SLMOPS_CHILD: kind, SLMOPS_CHILD_SPEC: JSON.stringify(spec) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) {
        resolve(JSON.parse(line) as T);
        return;
      }
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = stderr.trim().split('\n').slice(-3).join(' ') || line;
      reject(new ChildProcessError(`the ${kind} child process ${why}${detail ? `: ${detail}` : ''}`));
    });
  });
}

/** The spec a child was started with (in the child). */
export function childSpec<T>(): T {
  return JSON.parse(process.env.SLMOPS_CHILD_SPEC ?? '{}') as T;
}
