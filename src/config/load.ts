/**
 * Loading of every file slmops reads: YAML or JSON text → plain value → ajv validation against `schemas/` → typed
 * object. All schema problems of a file become ONE `ConfigurationError` that lists each problem with its path
 * (`rules[2].latency.p90Ms: must be a number (got "fast")`), names the file and says how to fix it.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import type { ErrorObject } from 'ajv/dist/2020.js';
import { parseDocument } from 'yaml';
import manifestSchema from '../../schemas/manifest.schema.json' with { type: 'json' };
import { ConfigurationError } from '../errors.ts';
import { DOCUMENT_KINDS, DOCUMENT_LABELS, SCHEMA_VERSIONS, validatorFor } from './schemas.ts';
import { didYouMean } from './suggest.ts';
import type {
  BudgetsDocument,
  ConfigDocument,
  DocumentKind,
  DocumentTypes,
  ProfileDocument,
  RecipeDocument,
} from './types.ts';

export { SCHEMA_VERSIONS } from './schemas.ts';
export type * from './types.ts';

/** At most this many problems are listed; the rest are counted. */
const MAX_LISTED_PROBLEMS = 50;

/**
 * Checks `value` against the schema of `kind` and returns it typed. Throws one `ConfigurationError` naming `subject`
 * (a file path or a description such as `bench result from artifact x`) when the `schema` field is missing or names
 * another version, or listing every schema problem otherwise.
 */
export function validateDocument<K extends DocumentKind>(
  kind: K,
  value: unknown,
  subject: string,
): DocumentTypes[K] {
  checkSchemaField(kind, value, subject);
  const validate = validatorFor(kind);
  if (validate(value)) return value as DocumentTypes[K];
  throw new InvalidDocumentError(kind, subject, describeErrors(validate.errors ?? [], value));
}

/**
 * A document that does not match its schema. `problems` holds one `path: message` line per problem; the message lists
 * them one per line under the file name, then says how to fix them.
 */
export class InvalidDocumentError extends ConfigurationError {
  readonly kind: DocumentKind;
  readonly problems: readonly string[];

  constructor(kind: DocumentKind, subject: string, problems: readonly string[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    const problem = `not a valid ${DOCUMENT_LABELS[kind]} (${count})`;
    const fix = `Fix the fields listed above; the format is schemas/${kind}.schema.json (see docs/contracts.md)`;
    super(problem, { subject, fix });
    this.name = 'InvalidDocumentError';
    this.kind = kind;
    this.problems = problems;
    const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((line) => `  - ${line}`);
    if (problems.length > MAX_LISTED_PROBLEMS)
      listed.push(`  - … and ${problems.length - MAX_LISTED_PROBLEMS} more`);
    this.message = `${subject}: ${problem}:\n${listed.join('\n')}\n${fix}.`;
  }
}

/** Reads a file, parses it (YAML or JSON by extension, else by content) and validates it as `kind`. */
export async function loadDocument<K extends DocumentKind>(kind: K, path: string): Promise<DocumentTypes[K]> {
  const text = await readUserFile(path);
  const value = parseDocumentText(text, path);
  if (value === null || value === undefined) {
    throw new ConfigurationError(`the file is empty`, {
      subject: path,
      fix: `Write a ${DOCUMENT_LABELS[kind]} starting with \`schema: ${SCHEMA_VERSIONS[kind]}\``,
    });
  }
  return validateDocument(kind, value, path);
}

/** Loads a budgets file (`slmops.budgets/v1`). */
export function loadBudgets(path: string): Promise<BudgetsDocument> {
  return loadDocument('budgets', path);
}

/** Loads a recipe file (`slmops.recipe/v1`), options as written; `recipeFromDocument` fills the defaults. */
export function loadRecipeFile(path: string): Promise<RecipeDocument> {
  return loadDocument('recipe', path);
}

/** Loads an slmops config file (`slmops.config/v1`). */
export function loadConfig(path: string): Promise<ConfigDocument> {
  return loadDocument('config', path);
}

/** Loads a device profile (`slmops.profile/v1`). */
export function loadProfile(path: string): Promise<ProfileDocument> {
  return loadDocument('profile', path);
}

/**
 * Parses YAML or JSON text. The format comes from the extension of `subject` (.json, .yml, .yaml) and otherwise from
 * the content (JSON when it starts with `{` or `[`). Syntax errors name the line and column.
 */
export function parseDocumentText(text: string, subject: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const extension = extname(subject).toLowerCase();
  const isJson =
    extension === '.json' || (extension !== '.yml' && extension !== '.yaml' && /^\s*[[{]/.test(body));
  return isJson ? parseJson(body, subject) : parseYaml(body, subject);
}

function parseJson(text: string, subject: string): unknown {
  try {
    const value = JSON.parse(text);
    // JSON.parse keeps the last of two equal keys: a budget written twice would apply its later value silently.
    const duplicate = parseDocument(text, { uniqueKeys: true }).errors.find(
      (e) => e.code === 'DUPLICATE_KEY',
    );
    if (duplicate) {
      const position = duplicate.linePos?.[0];
      throw new ConfigurationError(
        `a key appears twice in one object${position ? ` at line ${position.line}, column ${position.col}` : ''}`,
        { subject, fix: 'Keep one of the two (JSON would silently take the last)' },
      );
    }
    return value;
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    const where = position ? ` at ${lineAndColumn(text, Number(position[1]))}` : '';
    const detail = message.replace(/ in JSON at position \d+.*$/s, '');
    throw new ConfigurationError(`JSON syntax error${where}: ${detail}`, {
      subject,
      fix: 'Fix the syntax (a trailing comma or a missing quote is the usual cause)',
      cause: error,
    });
  }
}

function parseYaml(text: string, subject: string): unknown {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [first, ...rest] = document.errors;
  if (first !== undefined) {
    const position = first.linePos?.[0];
    const where = position ? ` at line ${position.line}, column ${position.col}` : '';
    const detail = first.message.split(/ at line \d+, column \d+/)[0] ?? first.message;
    const others =
      rest.length > 0 ? ` (and ${rest.length} more syntax error${rest.length === 1 ? '' : 's'})` : '';
    throw new ConfigurationError(`YAML syntax error${where}: ${detail}${others}`, {
      subject,
      fix: 'Fix the syntax; check the indentation and the quotes around values that contain ":" or "#"',
      cause: first,
    });
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigurationError(`YAML cannot be read: ${(error as Error).message}`, {
      subject,
      fix: 'Write the values out instead of nesting aliases of aliases',
      cause: error,
    });
  }
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

async function readUserFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const absolute = resolve(path);
    if (code === 'ENOENT') {
      throw new ConfigurationError(`file not found (looked for ${absolute})`, {
        subject: path,
        fix: `Check the path; relative paths are resolved against ${process.cwd()}`,
        cause: error,
      });
    }
    if (code === 'EISDIR') {
      throw new ConfigurationError(`is a directory, expected a file`, {
        subject: path,
        fix: 'Name the file itself',
      });
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ConfigurationError(`cannot be read (permission denied)`, {
        subject: path,
        fix: `Make ${absolute} readable by the user running slmops`,
        cause: error,
      });
    }
    throw error;
  }
}

// -----------------------------------------------------------------------------------------------------------------
// The `schema` field

function checkSchemaField(kind: DocumentKind, value: unknown, subject: string): void {
  if (!isRecord(value)) return; // the schema reports "must be an object"
  const expected = SCHEMA_VERSIONS[kind];
  const actual = value.schema;
  if (actual === expected) return;
  if (actual === undefined) {
    throw new ConfigurationError(`the "schema" field is missing; expected "${expected}"`, {
      subject,
      fix: `Add \`schema: ${expected}\` at the top of the file`,
    });
  }
  const shown = JSON.stringify(actual);
  const otherKind = DOCUMENT_KINDS.find(
    (k) => typeof actual === 'string' && actual.startsWith(`slmops.${k}/`),
  );
  if (otherKind === kind) {
    throw new ConfigurationError(
      `declares schema ${shown}, but this version of slmops reads "${expected}" ${DOCUMENT_LABELS[kind]}s`,
      {
        subject,
        fix: `Rewrite the file as "${expected}" (see docs/contracts.md) or use the slmops release that wrote it`,
      },
    );
  }
  if (otherKind !== undefined) {
    throw new ConfigurationError(
      `is a ${DOCUMENT_LABELS[otherKind]} (schema ${shown}), expected a ${DOCUMENT_LABELS[kind]} ("${expected}")`,
      { subject, fix: `Pass a ${DOCUMENT_LABELS[kind]} here` },
    );
  }
  throw new ConfigurationError(`declares schema ${shown}, expected "${expected}"`, {
    subject,
    fix: `Set \`schema: ${expected}\``,
  });
}

// -----------------------------------------------------------------------------------------------------------------
// ajv errors → one line per problem

/** Turns ajv errors into `path: message` lines, without duplicates or `if`/`then` noise. */
export function describeErrors(errors: readonly ErrorObject[], root: unknown): string[] {
  const lines: string[] = [];
  for (const error of errors) {
    const line = describeError(error, root);
    if (line !== undefined && !lines.includes(line)) lines.push(line);
  }
  return lines;
}

function describeError(error: ErrorObject, root: unknown): string | undefined {
  const segments = pointerSegments(error.instancePath);
  const at = (extra?: string) => formatPath(extra === undefined ? segments : [...segments, extra], root);
  const params = error.params as Record<string, unknown>;
  const got = ` (got ${describeValue(error.data)})`;
  switch (error.keyword) {
    case 'if':
      return undefined; // the failing `then` branch reports the real problem
    case 'required':
      return `${at(String(params.missingProperty))}: required property is missing`;
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const valid = propertyNames(error.parentSchema);
      const hint = didYouMean(name, valid);
      const list = valid.length > 0 ? `; valid properties: ${valid.join(', ')}` : '';
      return `${at(name)}: unknown property${hint || list}`;
    }
    case 'type':
      return `${at()}: must be ${typePhrase(String(params.type))}${got}`;
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]) ?? [];
      const hint = typeof error.data === 'string' ? didYouMean(error.data, allowed.map(String)) : '';
      return `${at()}: must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}${got}${hint}`;
    }
    case 'const':
      return `${at()}: must be ${JSON.stringify(params.allowedValue)}${got}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${at()}: must be ${String(params.comparison)} ${String(params.limit)}${got}`;
    case 'pattern':
      return `${at()}: must be ${PATTERN_HINTS[String(params.pattern)] ?? `a string matching ${String(params.pattern)}`}${got}`;
    case 'format':
      return `${at()}: must be ${FORMAT_HINTS[String(params.format)] ?? `a ${String(params.format)}`}${got}`;
    case 'minLength':
      return params.limit === 1
        ? `${at()}: must not be empty`
        : `${at()}: must be at least ${String(params.limit)} characters long${got}`;
    case 'maxLength':
      return `${at()}: must be at most ${String(params.limit)} characters long${got}`;
    case 'minItems':
      return `${at()}: must have at least ${plural(Number(params.limit), 'item')}`;
    case 'maxItems':
      return `${at()}: must have at most ${plural(Number(params.limit), 'item')}`;
    case 'uniqueItems':
      return `${at()}: items ${String(params.j)} and ${String(params.i)} are the same; list each value once`;
    case 'minProperties': {
      const valid = propertyNames(error.parentSchema);
      const list = valid.length > 0 ? ` (${valid.join(', ')})` : '';
      return `${at()}: must set at least ${plural(Number(params.limit), 'field')}${list}`;
    }
    default:
      return `${at()}: ${error.message ?? `fails ${error.keyword}`}`;
  }
}

const PATTERN_HINTS: Record<string, string> = {
  '^[a-z0-9][a-z0-9._-]*$':
    "a profile id: lowercase letters, digits, '-', '.' and '_', starting with a letter or digit",
  '^(\\*|[a-z0-9][a-z0-9._-]*)$': "\"*\" or a profile id (lowercase letters, digits, '-', '.' and '_')",
  '^[0-9a-f]{64}$': 'a sha256 digest (64 lowercase hex digits)',
  '^[0-9a-f]{40}([0-9a-f]{24})?$': 'a full commit sha (40 or 64 lowercase hex digits)',
  '^[^@\\s]+$': "a model id without '@' or whitespace",
  [manifestSchema.properties.version.pattern]: 'a semantic version such as 1.2.0 (no leading "v")',
};

const FORMAT_HINTS: Record<string, string> = {
  'date-time': 'a date-time such as 2026-01-31T12:00:00Z',
  uri: 'an absolute URI',
};

function typePhrase(types: string): string {
  const phrases: Record<string, string> = {
    number: 'a number',
    integer: 'an integer',
    string: 'a string',
    boolean: 'true or false',
    array: 'a list',
    object: 'an object (a mapping of names to values)',
    null: 'null',
  };
  return types
    .split(',')
    .map((t) => phrases[t] ?? t)
    .join(' or ');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (isRecord(value)) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function propertyNames(schema: unknown): string[] {
  if (!isRecord(schema) || !isRecord(schema.properties)) return [];
  return Object.keys(schema.properties).filter((name) => name !== '$schema');
}

/** Splits a JSON pointer (`/rules/2/latency`) into its unescaped segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Renders a path the way users write it: `rules[2].latency.p90Ms`. A segment is an index when the value at that
 * point of `root` is an array; names that are not identifiers are quoted (`calibration["byThreads 4"]`). The empty
 * path is `(root)`.
 */
export function formatPath(segments: readonly string[], root?: unknown): string {
  let out = '';
  let node: unknown = root;
  for (const segment of segments) {
    if ((Array.isArray(node) || node === undefined) && /^\d+$/.test(segment)) {
      out += `[${segment}]`;
      node = Array.isArray(node) ? node[Number(segment)] : undefined;
      continue;
    }
    out += /^[A-Za-z_$][\w$-]*$/.test(segment)
      ? `${out === '' ? '' : '.'}${segment}`
      : `[${JSON.stringify(segment)}]`;
    node = isRecord(node) ? node[segment] : undefined;
  }
  return out === '' ? '(root)' : out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
