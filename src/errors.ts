/**
 * The two error families of slmops (see docs/adr and ../design): a `ConfigurationError` is something the user can
 * fix (bad input, a missing file, a malformed budget); everything else is a bug in slmops.
 *
 * Exit codes are part of the contract: 0 success, 1 a gate failed, 2 a usage or input error, 3 an internal error.
 */
export const ExitCode = {
  Success: 0,
  GateFailed: 1,
  UsageOrInput: 2,
  Internal: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ProblemDetails {
  /** The file or input the problem is about (a path, an input name, a URL). */
  subject?: string | undefined;
  /** What to do about it, phrased as an instruction. */
  fix?: string | undefined;
  cause?: unknown;
}

/** A problem the user can fix. Its message names the subject, the problem and the fix in one line. */
export class ConfigurationError extends Error {
  readonly subject: string | undefined;
  readonly fix: string | undefined;
  readonly exitCode: ExitCode = ExitCode.UsageOrInput;

  constructor(problem: string, details: ProblemDetails = {}) {
    super(
      formatProblem(problem, details),
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = 'ConfigurationError';
    this.subject = details.subject;
    this.fix = details.fix;
  }
}

/** The model file cannot be parsed as ONNX (truncated, not ONNX, inconsistent). */
export class ModelFormatError extends ConfigurationError {
  constructor(problem: string, details: ProblemDetails = {}) {
    super(problem, details);
    this.name = 'ModelFormatError';
  }
}

/** A tensor's external data is missing, short, or points outside the model's folder. */
export class ExternalDataError extends ConfigurationError {
  constructor(problem: string, details: ProblemDetails = {}) {
    super(problem, details);
    this.name = 'ExternalDataError';
  }
}

/** A path that is absolute where a relative one is required, or escapes its folder (`..`, a symlink out). */
export class UnsafePathError extends ExternalDataError {
  constructor(problem: string, details: ProblemDetails = {}) {
    super(problem, details);
    this.name = 'UnsafePathError';
  }
}

/**
 * GitHub itself failed (5xx after retries, a rate limit slmops would not wait out, no connection): neither a bug of
 * slmops nor something the user's input can fix; rerunning later usually is. Exit code 2 (nothing slmops can fix).
 */
export class GitHubUnavailableError extends Error {
  readonly exitCode: ExitCode = ExitCode.UsageOrInput;
  constructor(message: string) {
    super(message);
    this.name = 'GitHubUnavailableError';
  }
}

/** A gate failed: not an error of slmops, but the reason for exit code 1. */
export class GateFailedError extends Error {
  readonly exitCode: ExitCode = ExitCode.GateFailed;
  constructor(message: string) {
    super(message);
    this.name = 'GateFailedError';
  }
}

export function formatProblem(problem: string, details: ProblemDetails): string {
  const head = details.subject ? `${details.subject}: ${problem}` : problem;
  return details.fix ? `${head}. ${details.fix}` : head;
}

/** The exit code an error maps to: 2 for user-fixable problems, 1 for a failed gate, 3 for anything else. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof ConfigurationError) return error.exitCode;
  if (error instanceof GateFailedError) return error.exitCode;
  if (error instanceof GitHubUnavailableError) return error.exitCode;
  return ExitCode.Internal;
}
