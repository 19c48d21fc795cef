import * as core from '@actions/core';
import { ConfigurationError, exitCodeOf, GateFailedError, GitHubUnavailableError } from '../errors.ts';

/** Where `runAction` reports a failure (the runner through @actions/core, or a recording in tests). */
export interface FailureReporter {
  /** One `::error::` line that fails the step. */
  fail(message: string): void;
  /** Extra detail shown in debug logs. */
  debug(message: string): void;
}

export const coreReporter: FailureReporter = {
  fail: (message) => core.setFailed(message),
  debug: (message) => core.debug(message),
};

/**
 * Runs an action's body and fails the step the same way for every action (like codeql-action's `runWrapper`):
 * one clear error line, and the exit code of the error family (2 a configuration error the user can fix,
 * 1 a failed gate, 3 a bug). A bug's stack trace is shown only with debug logging (`RUNNER_DEBUG=1`).
 * Never rejects.
 */
export async function runAction(
  name: string,
  fn: () => Promise<void>,
  reporter: FailureReporter = coreReporter,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  try {
    await fn();
  } catch (error) {
    reporter.fail(failureMessage(name, error));
    const stack = error instanceof Error ? error.stack : undefined;
    if (!(error instanceof ConfigurationError) && env.RUNNER_DEBUG === '1' && stack) reporter.debug(stack);
    process.exitCode = exitCodeOf(error);
  }
}

/** The one line a failure is reported with. */
export function failureMessage(name: string, error: unknown): string {
  if (error instanceof ConfigurationError) return error.message;
  if (error instanceof GateFailedError) return error.message;
  if (error instanceof GitHubUnavailableError)
    return `${error.message}. GitHub may be down or rate-limited: rerun the job later`;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return (
    `the ${name} action failed unexpectedly: ${message}. This is a bug in slmops; ` +
    'rerun with debug logging enabled to see the stack trace, and report it'
  );
}
