/**
 * Reading action inputs into typed values. Every helper takes an `InputSource` (default: the runner's `INPUT_*`
 * variables through @actions/core), so an action's `parseInputs()` is a pure function a test feeds a record.
 * Errors are `ConfigurationError`s naming the input, the value received and what is allowed.
 */
import * as core from '@actions/core';
import { ConfigurationError } from '../errors.ts';

export interface InputSource {
  /** The trimmed value of an input, '' when unset (as `core.getInput`). */
  get(name: string): string;
  /** Hides a secret value in the logs. */
  mask(secret: string): void;
}

/** The runner's inputs (`INPUT_<NAME>` environment variables). */
export const coreInputs: InputSource = {
  get: (name) => core.getInput(name),
  mask: (secret) => core.setSecret(secret),
};

/** Inputs from a plain record, for tests and the CLI; records masked secrets in `masked`. */
export function recordInputs(values: Record<string, string | undefined>): InputSource & { masked: string[] } {
  const masked: string[] = [];
  return {
    masked,
    get: (name) => (values[name] ?? '').trim(),
    mask: (secret) => {
      masked.push(secret);
    },
  };
}

/** The environment variable the runner passes an input in: uppercased, spaces as `_`, hyphens kept. */
export function inputEnvName(name: string): string {
  return `INPUT_${name.replace(/ /g, '_').toUpperCase()}`;
}

function invalid(name: string, value: string, allowed: string): ConfigurationError {
  return new ConfigurationError(`'${value}' is not valid`, {
    subject: `input '${name}'`,
    fix: `Use ${allowed}`,
  });
}

/** The input's value, or undefined when it is empty. */
export function getOptionalInput(name: string, source: InputSource = coreInputs): string | undefined {
  const value = source.get(name);
  return value === '' ? undefined : value;
}

/** The input's value; a ConfigurationError when it is empty. */
export function getRequiredInput(name: string, source: InputSource = coreInputs): string {
  const value = getOptionalInput(name, source);
  if (value === undefined) {
    throw new ConfigurationError('is required and was not given', {
      subject: `input '${name}'`,
      fix: `Set it in the step's \`with:\` block`,
    });
  }
  return value;
}

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];

/** A YAML 1.2 core-schema boolean (as `core.getBooleanInput`); `fallback` when empty. */
export function getBooleanInput(name: string, fallback: boolean, source: InputSource = coreInputs): boolean {
  const value = getOptionalInput(name, source);
  if (value === undefined) return fallback;
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw invalid(name, value, 'true or false');
}

/**
 * A newline-separated list: each line trimmed; blank lines and lines starting with `#` dropped.
 * Empty when the input is empty.
 */
export function getListInput(name: string, source: InputSource = coreInputs): string[] {
  return source
    .get(name)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** A newline-separated list (as `getListInput`) in which no entry appears twice. */
export function getUniqueListInput(name: string, source: InputSource = coreInputs): string[] {
  const values = getListInput(name, source);
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) {
      throw new ConfigurationError(`lists '${value}' twice`, {
        subject: `input '${name}'`,
        fix: 'Remove the duplicate line',
      });
    }
    seen.add(value);
  }
  return values;
}

/** One of `allowed`; `fallback` when empty. */
export function getEnumInput<const T extends string>(
  name: string,
  allowed: readonly T[],
  fallback: T,
  source: InputSource = coreInputs,
): T {
  const value = getOptionalInput(name, source);
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw invalid(name, value, `one of ${allowed.join(', ')}`);
}

/** A positive integer (decimal digits only); undefined when empty. */
export function getOptionalPositiveIntInput(
  name: string,
  source: InputSource = coreInputs,
): number | undefined {
  const value = getOptionalInput(name, source);
  if (value === undefined) return undefined;
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw invalid(name, value, 'a positive whole number such as 4');
  return parsed;
}

/** A positive integer; `fallback` when empty. */
export function getPositiveIntInput(
  name: string,
  fallback: number,
  source: InputSource = coreInputs,
): number {
  return getOptionalPositiveIntInput(name, source) ?? fallback;
}

/**
 * A secret (a token): masked in the logs as soon as it is read. Undefined when empty, so a parser can decide
 * whether the secret is needed.
 */
export function getSecretInput(name: string, source: InputSource = coreInputs): string | undefined {
  const value = getOptionalInput(name, source);
  if (value !== undefined) source.mask(value);
  return value;
}
