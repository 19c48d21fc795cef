/**
 * The JSON schemas of every document slmops reads or writes, compiled once with ajv (draft 2020-12). The schema files
 * live in `schemas/` (published for editors); importing them here lets the bundler inline them.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import benchSchema from '../../schemas/bench.schema.json' with { type: 'json' };
import budgetsSchema from '../../schemas/budgets.schema.json' with { type: 'json' };
import compressSchema from '../../schemas/compress.schema.json' with { type: 'json' };
import configSchema from '../../schemas/config.schema.json' with { type: 'json' };
import manifestSchema from '../../schemas/manifest.schema.json' with { type: 'json' };
import profileSchema from '../../schemas/profile.schema.json' with { type: 'json' };
import recipeSchema from '../../schemas/recipe.schema.json' with { type: 'json' };
import verdictSchema from '../../schemas/verdict.schema.json' with { type: 'json' };
import type { DocumentKind } from './types.ts';

/** The `schema` value each document kind carries. */
export const SCHEMA_VERSIONS = {
  budgets: 'slmops.budgets/v1',
  recipe: 'slmops.recipe/v1',
  config: 'slmops.config/v1',
  profile: 'slmops.profile/v1',
  compress: 'slmops.compress/v1',
  bench: 'slmops.bench/v1',
  verdict: 'slmops.verdict/v1',
  manifest: 'slmops.manifest/v1',
} as const satisfies Record<DocumentKind, string>;

export const DOCUMENT_KINDS = Object.keys(SCHEMA_VERSIONS) as DocumentKind[];

/** How messages name each kind ("not a valid budgets file"). */
export const DOCUMENT_LABELS: Record<DocumentKind, string> = {
  budgets: 'budgets file',
  recipe: 'recipe file',
  config: 'slmops config file',
  profile: 'device profile',
  compress: 'compress report',
  bench: 'benchmark result',
  verdict: 'verdict',
  manifest: 'bundle manifest',
};

/** The schema objects, keyed by kind; each has `$id` https://slmops.dev/schemas/<kind>.schema.json. */
export const SCHEMAS: Record<DocumentKind, Record<string, unknown>> = {
  budgets: budgetsSchema,
  recipe: recipeSchema,
  config: configSchema,
  profile: profileSchema,
  compress: compressSchema,
  bench: benchSchema,
  verdict: verdictSchema,
  manifest: manifestSchema,
};

// ajv-formats is CommonJS; its function carries itself as `.default` too, which works under Node and bundlers alike.
const addFormats = addFormatsModule.default;

let ajv: Ajv2020 | undefined;
const compiled = new Map<DocumentKind, ValidateFunction>();

/** A fresh ajv instance configured as slmops validates: every error, with the failing schema and data attached. */
export function createAjv(): Ajv2020 {
  const instance = new Ajv2020({
    allErrors: true,
    verbose: true,
    strict: true,
    allowUnionTypes: true,
    logger: false,
  });
  addFormats(instance);
  return instance;
}

/** The compiled validator of one kind (compiled on first use, then cached). */
export function validatorFor(kind: DocumentKind): ValidateFunction {
  let validate = compiled.get(kind);
  if (validate === undefined) {
    ajv ??= createAjv();
    validate = ajv.compile(SCHEMAS[kind]);
    compiled.set(kind, validate);
  }
  return validate;
}
