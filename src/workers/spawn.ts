/**
 * Work that runs in a child process (measurements that must not share a process: fidelity, timing processes,
 * peak RSS). The child is the same entry script (CLI or action bundle) started with SLMOPS_CHILD=<kind> and the
 * job in SLMOPS_CHILD_SPEC; it prints one JSON line as its result. Every entry calls `runChildIfRequested()`
 * (./dispatch.ts) before anything else.
 */
import { spawn } from 'node:child_process';
import { ConfigurationError } from '../errors.ts';

export type ChildKind = 'fidelity' | 'bench' | 'rss' | 'profile';

/** The script a child runs: SLMOPS_CHILD_ENTRY (tests point it at a built bundle), else this process's entry. */
export function childEntry(): string | undefined {
  return process.env.SLMOPS_CHILD_ENTRY || process.argv[1];
}

/** What a child prints when its work throws: the error's message, and whether the user can fix it. */
export interface ChildFailure {
  message: string;
  configuration: boolean;
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
      const parsed = parseLine(line);
      const failure = (parsed as { childFailure?: ChildFailure } | undefined)?.childFailure;
      if (failure) {
        reject(
          failure.configuration
            ? new ConfigurationError(failure.message)
            : new ChildProcessError(`the ${kind} child process failed: ${failure.message}`),
        );
        return;
      }
      if (code === 0 && parsed !== undefined) {
        resolve(parsed as T);
        return;
      }
      const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const detail = errorLines(stderr) || line;
      reject(new ChildProcessError(`the ${kind} child process ${why}${detail ? `: ${detail}` : ''}`));
    });
  });
}

function parseLine(line: string): unknown {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** The lines of a crashed child's stderr that say what happened: not its stack frames or Node's version banner. */
function errorLines(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^at\s/.test(l) && !/^Node\.js v\d/.test(l) && !/^\^+$/.test(l));
  return lines.slice(-3).join(' ');
}

/** The spec a child was started with (in the child). */
export function childSpec<T>(): T {
  return JSON.parse(process.env.SLMOPS_CHILD_SPEC ?? '{}') as T;
}
