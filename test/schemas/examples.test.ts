import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseDocumentText, validateDocument } from '../../src/config/load.ts';
import { DOCUMENT_KINDS, SCHEMA_VERSIONS, SCHEMAS, validatorFor } from '../../src/config/schemas.ts';
import type { DocumentKind } from '../../src/config/types.ts';
import { ConfigurationError } from '../../src/errors.ts';

const schemasDir = fileURLToPath(new URL('../../schemas/', import.meta.url));
const examplesDir = `${schemasDir}examples/`;
const exampleFiles = readdirSync(examplesDir).filter((f) => /\.example\.(json|yml)$/.test(f));

function example(name: string): Record<string, unknown> {
  return parseDocumentText(readFileSync(examplesDir + name, 'utf8'), name) as Record<string, unknown>;
}

function problemsOf(kind: DocumentKind, value: unknown): string {
  try {
    validateDocument(kind, value, `${kind}.example`);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    return (error as Error).message;
  }
  throw new Error(`expected the mutated ${kind} example to be rejected`);
}

describe('schemas', () => {
  it('has one schema file per document kind, each with its $id and version', () => {
    const files = readdirSync(schemasDir).filter((f) => f.endsWith('.schema.json'));
    expect(files.sort()).toEqual(DOCUMENT_KINDS.map((k) => `${k}.schema.json`).sort());
    for (const kind of DOCUMENT_KINDS) {
      const schema = JSON.parse(readFileSync(`${schemasDir}${kind}.schema.json`, 'utf8'));
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toBe(`https://slmops.dev/schemas/${kind}.schema.json`);
      expect(schema.properties.schema.const).toBe(SCHEMA_VERSIONS[kind]);
      expect(schema.required).toContain('schema');
      expect(SCHEMAS[kind]).toEqual(schema);
    }
  });

  it.each(DOCUMENT_KINDS)('compiles the %s schema in strict mode', (kind) => {
    expect(typeof validatorFor(kind)).toBe('function');
  });

  it('has a JSON example of every kind and YAML examples of the user-written files', () => {
    for (const kind of DOCUMENT_KINDS) expect(exampleFiles).toContain(`${kind}.example.json`);
    for (const kind of ['budgets', 'recipe', 'config']) expect(exampleFiles).toContain(`${kind}.example.yml`);
  });

  it.each(exampleFiles)('validates the example %s', (file) => {
    const kind = file.split('.')[0] as DocumentKind;
    const value = example(file);
    expect(value.schema).toBe(SCHEMA_VERSIONS[kind]);
    expect(validateDocument(kind, value, file)).toBe(value);
  });

  it('rejects user files with a misspelt property, as additionalProperties: false', () => {
    for (const kind of ['budgets', 'recipe', 'config', 'profile'] as const) {
      const value = { ...example(`${kind}.example.json`), extra: 1 };
      expect(problemsOf(kind, value)).toContain('  - extra: unknown property');
    }
  });
});

const DELETE = Symbol('delete');
type Edit = [pointer: string, value: unknown];

/** Applies `value` at a JSON pointer (`/rules/0/latency`); DELETE removes the property. */
function edit(document: unknown, [pointer, value]: Edit): void {
  const keys = pointer.slice(1).split('/');
  const last = keys.pop()!;
  let node = document as Record<string, unknown>;
  for (const key of keys) node = node[key] as Record<string, unknown>;
  if (value === DELETE) delete node[last];
  else node[last] = value;
}

describe('a mutated example', () => {
  const cases: [string, DocumentKind, Edit[], string][] = [
    [
      'a string latency limit',
      'budgets',
      [['/rules/0/latency/p90Ms', 'fast']],
      'rules[0].latency.p90Ms: must be a number (got "fast")',
    ],
    [
      'a wildcard profile written wrongly',
      'budgets',
      [['/rules/1/profile', 'All']],
      'rules[1].profile: must be "*" or a profile id',
    ],
    [
      'an int4 block size that does not exist',
      'recipe',
      [['/passes/0/options/block', 48]],
      'passes[0].options.block: must be one of 16, 32, 64, 128 (got 48)',
    ],
    [
      'an int8 option given to int4',
      'recipe',
      [['/passes/0/options/perChannel', true]],
      'passes[0].options.perChannel: unknown property; valid properties: block, symmetric, accuracyLevel',
    ],
    [
      'a misspelt recipes list',
      'config',
      [
        ['/recipe', ['int8']],
        ['/recipes', DELETE],
      ],
      'recipe: unknown property; did you mean "recipes"?',
    ],
    ['an upper-case profile id', 'profile', [['/id', 'RPi5']], 'id: must be a profile id: lowercase letters'],
    [
      'a skipped fidelity check without a reason',
      'compress',
      [['/fidelity', { status: 'skipped' }]],
      'fidelity.reason: required property is missing',
    ],
    [
      'a missing median',
      'bench',
      [['/latencyMs/p50', DELETE]],
      'latencyMs.p50: required property is missing',
    ],
    [
      'an emulation mode that does not exist',
      'bench',
      [['/profile/mode', 'simulated']],
      'profile.mode: must be one of "native", "emulated" (got "simulated")',
    ],
    [
      'an unknown rule verdict',
      'verdict',
      [['/rules/1/verdict', 'failed']],
      'rules[1].verdict: must be one of "pass", "fail", "inconclusive", "acknowledged" (got "failed")',
    ],
    [
      'a two-part version',
      'manifest',
      [['/version', 'v1.2']],
      'version: must be a semantic version such as 1.2.0',
    ],
    [
      'a short sha256',
      'manifest',
      [['/files/1/parts/0/sha256', 'abc']],
      'files[1].parts[0].sha256: must be a sha256 digest',
    ],
  ];

  it.each(cases)('fails with its path: %s', (_name, kind, edits, expected) => {
    const document = structuredClone(example(`${kind}.example.json`));
    for (const e of edits) edit(document, e);
    expect(problemsOf(kind, document)).toContain(expected);
  });
});
