import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FailureReporter, runAction } from '../../src/action-kit/run.ts';
import { ConfigurationError, GateFailedError } from '../../src/errors.ts';

function recordingReporter(): FailureReporter & { failures: string[]; debugs: string[] } {
  const failures: string[] = [];
  const debugs: string[] = [];
  return { failures, debugs, fail: (m) => failures.push(m), debug: (m) => debugs.push(m) };
}

describe('runAction', () => {
  let saved: typeof process.exitCode;
  beforeEach(() => {
    saved = process.exitCode;
    process.exitCode = undefined;
  });
  afterEach(() => {
    process.exitCode = saved;
  });

  it('leaves the exit code alone and reports nothing when the body succeeds', async () => {
    const reporter = recordingReporter();
    let ran = false;
    await runAction(
      'inspect',
      async () => {
        ran = true;
      },
      reporter,
    );
    expect(ran).toBe(true);
    expect(reporter.failures).toEqual([]);
    expect(process.exitCode).toBeUndefined();
  });

  it('reports a configuration error as its message only, with exit code 2', async () => {
    const reporter = recordingReporter();
    await runAction(
      'inspect',
      async () => {
        throw new ConfigurationError('is required', { subject: "input 'model'", fix: 'Set it' });
      },
      reporter,
      { RUNNER_DEBUG: '1' },
    );
    expect(reporter.failures).toEqual(["input 'model': is required. Set it"]);
    expect(reporter.debugs).toEqual([]);
    expect(process.exitCode).toBe(2);
  });

  it('reports a failed gate with exit code 1', async () => {
    const reporter = recordingReporter();
    await runAction(
      'gate',
      async () => {
        throw new GateFailedError('latency budget exceeded');
      },
      reporter,
    );
    expect(reporter.failures).toEqual(['latency budget exceeded']);
    expect(process.exitCode).toBe(1);
  });

  it('reports a bug in one line with exit code 3, and its stack only with debug logging', async () => {
    const quiet = recordingReporter();
    const bug = async () => {
      throw new TypeError('x is undefined');
    };
    await runAction('inspect', bug, quiet, {});
    expect(quiet.failures).toHaveLength(1);
    expect(quiet.failures[0]).toMatch(
      /^the inspect action failed unexpectedly: TypeError: x is undefined\. This is a bug/,
    );
    expect(quiet.failures[0]).not.toContain('\n');
    expect(quiet.debugs).toEqual([]);
    expect(process.exitCode).toBe(3);

    const debug = recordingReporter();
    await runAction('inspect', bug, debug, { RUNNER_DEBUG: '1' });
    expect(debug.debugs).toHaveLength(1);
    expect(debug.debugs[0]).toMatch(/^TypeError: x is undefined\n\s+at /);
  });

  it('reports a thrown non-Error value as text', async () => {
    const reporter = recordingReporter();
    await runAction('inspect', () => Promise.reject('plain string'), reporter);
    expect(reporter.failures[0]).toContain('failed unexpectedly: plain string.');
    expect(process.exitCode).toBe(3);
  });
});
