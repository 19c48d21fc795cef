/**
 * GitHub's published OpenAPI description (`@octokit/openapi`, `api.github.com.deref.json`) as the contract of the
 * test server: every request and every response the server handles is checked against the operation it matched.
 *
 * The description is 73 MB. It is parsed once per machine and version: the operations the server implements (plus
 * the list of every path of the API and a few webhook payload schemas) are extracted, converted from OpenAPI 3.0
 * schemas to JSON Schema (draft-07: `nullable` becomes a `null` type, documentation keys are dropped) and cached
 * under `.tmp/github-openapi-subset.json`. Later processes read the few hundred KB of the extract.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule.default;

/** Bump when the shape of the extract changes, so stale caches are rebuilt. */
const EXTRACTOR_VERSION = 4;

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const DEFAULT_CACHE_FILE = path.join(repoRoot, '.tmp', 'github-openapi-subset.json');

/** The webhook payloads the fixtures build, by their `x-webhooks` key. */
export const WEBHOOKS = [
  'pull-request-opened',
  'pull-request-synchronize',
  'pull-request-reopened',
  'workflow-run-completed',
  'workflow-run-requested',
] as const;
export type WebhookName = (typeof WEBHOOKS)[number];

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

/** A JSON Schema (draft-07) as stored in the extract. */
export type JsonSchema = { [key: string]: unknown } | boolean;

export interface OperationKey {
  readonly method: HttpMethod;
  readonly path: string;
}

export interface ParameterSpec {
  readonly name: string;
  readonly in: 'path' | 'query' | 'header' | 'cookie';
  readonly required: boolean;
  readonly schema: JsonSchema;
  /** GitHub's `x-multi-segment`: the path parameter may contain `/` (refs, tags). */
  readonly multiSegment: boolean;
}

export interface OperationSpec {
  readonly operationId: string;
  readonly method: HttpMethod;
  readonly path: string;
  /** `uploads` for operations served from `uploads.github.com` (the operation's `servers`). */
  readonly host: 'api' | 'uploads';
  readonly documentationUrl: string;
  readonly parameters: readonly ParameterSpec[];
  readonly requestBody?: {
    readonly required: boolean;
    /** Media type → schema (`null` when the description gives none). */
    readonly content: Readonly<Record<string, JsonSchema | null>>;
  };
  /** Status → documented headers (lower case) and media type → schema. */
  readonly responses: Readonly<
    Record<
      string,
      { readonly headers: readonly string[]; readonly content: Readonly<Record<string, JsonSchema | null>> }
    >
  >;
}

export interface ApiSubset {
  readonly key: string;
  readonly source: string;
  readonly operations: readonly OperationSpec[];
  /** Every path template of the whole API → its methods (upper case) and multi-segment parameters. */
  readonly paths: Readonly<
    Record<string, { readonly methods: readonly string[]; readonly multiSegment: readonly string[] }>
  >;
  /** `basic-error` and `validation-error`, for the errors GitHub may send on any operation. */
  readonly errors: { readonly basic: JsonSchema; readonly validation: JsonSchema };
  readonly webhooks: Readonly<Record<WebhookName, JsonSchema>>;
  /**
   * Subschemas that occur more than once in the responses and webhooks (users, repositories, …), hoisted here and
   * referenced as `{ $ref: 'github#/definitions/dN' }`, so ajv compiles each of them once.
   */
  readonly definitions: Readonly<Record<string, JsonSchema>>;
}

const DEFINITIONS_ID = 'github';

const require = createRequire(import.meta.url);

export function openApiPackage(): { version: string; specFile: string } {
  const packageJson = require.resolve('@octokit/openapi/package.json');
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  return {
    version,
    specFile: path.join(path.dirname(packageJson), 'generated', 'api.github.com.deref.json'),
  };
}

function operationName(op: OperationKey): string {
  return `${op.method} ${op.path}`;
}

const loaded = new Map<string, ApiSubset>();

/**
 * The extract for these operations: from memory (unless `reuse: false`), else from the cache file when its key
 * matches (same `@octokit/openapi` version, extractor version and operation list), else from the full description
 * (a few seconds, once per machine and version). `specFile` replaces the packaged description (tests).
 */
export function loadApiSubset(
  operations: readonly OperationKey[],
  options: { cacheFile?: string; log?: (message: string) => void; reuse?: boolean; specFile?: string } = {},
): ApiSubset {
  const { version, specFile: packagedSpec } = openApiPackage();
  const specFile = options.specFile ?? packagedSpec;
  const names = [...new Set(operations.map(operationName))].sort();
  const key = createHash('sha256')
    .update(JSON.stringify({ version, EXTRACTOR_VERSION, names, WEBHOOKS, spec: options.specFile }))
    .digest('hex')
    .slice(0, 16);
  const inMemory = options.reuse === false ? undefined : loaded.get(key);
  if (inMemory) return inMemory;

  const cacheFile = options.cacheFile ?? DEFAULT_CACHE_FILE;
  if (existsSync(cacheFile)) {
    try {
      const cached = JSON.parse(readFileSync(cacheFile, 'utf8')) as ApiSubset;
      if (cached.key === key) {
        loaded.set(key, cached);
        return cached;
      }
    } catch {
      // A torn or foreign file: rebuild it below.
    }
  }

  const started = performance.now();
  const spec = JSON.parse(readFileSync(specFile, 'utf8')) as OpenApiDocument;
  const subset = extractSubset(spec, names, key, `@octokit/openapi@${version} api.github.com.deref.json`);
  mkdirSync(path.dirname(cacheFile), { recursive: true });
  const temp = `${cacheFile}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(subset));
  renameSync(temp, cacheFile);
  options.log?.(`extracted ${names.length} operations in ${Math.round(performance.now() - started)} ms`);
  loaded.set(key, subset);
  return subset;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
  'x-webhooks': Record<string, { post: RawOperation }>;
}

interface RawOperation {
  operationId: string;
  externalDocs?: { url?: string };
  servers?: { url: string }[];
  parameters?: {
    name: string;
    in: ParameterSpec['in'];
    required?: boolean;
    schema?: unknown;
    'x-multi-segment'?: boolean;
  }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> };
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { schema?: unknown }> }
  >;
}

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'];

function extractSubset(
  spec: OpenApiDocument,
  names: readonly string[],
  key: string,
  source: string,
): ApiSubset {
  const operations: OperationSpec[] = [];
  for (const name of names) {
    const [method, template] = name.split(' ') as [HttpMethod, string];
    const raw = spec.paths[template]?.[method.toLowerCase()] as RawOperation | undefined;
    if (!raw) throw new Error(`${name} is not an operation of GitHub's REST API description (${source})`);
    operations.push(convertOperation(raw, method, template));
  }

  const paths: Record<string, { methods: string[]; multiSegment: string[] }> = {};
  for (const [template, item] of Object.entries(spec.paths)) {
    const methods = METHODS.filter((m) => item[m.toLowerCase()] !== undefined);
    const multiSegment = new Set<string>();
    for (const m of methods) {
      for (const p of (item[m.toLowerCase()] as RawOperation).parameters ?? []) {
        if (p['x-multi-segment']) multiSegment.add(p.name);
      }
    }
    paths[template] = { methods, multiSegment: [...multiSegment] };
  }

  const sample = spec.paths['/repos/{owner}/{repo}/issues/{issue_number}/comments']?.post as RawOperation;
  const errors = {
    basic: toJsonSchema(sample.responses['404']?.content?.['application/json']?.schema),
    validation: toJsonSchema(sample.responses['422']?.content?.['application/json']?.schema),
  };
  const webhooks = Object.fromEntries(
    WEBHOOKS.map((name) => {
      const hook = spec['x-webhooks'][name];
      if (!hook) throw new Error(`webhook ${name} is not in ${source}`);
      return [name, toJsonSchema(hook.post.requestBody?.content?.['application/json']?.schema)];
    }),
  ) as Record<WebhookName, JsonSchema>;

  return hoistSharedSchemas({ key, source, operations, paths, errors, webhooks, definitions: {} });
}

const SUBSCHEMA_ARRAYS = ['allOf', 'anyOf', 'oneOf'] as const;

function forEachSubschema(schema: JsonSchema, visit: (child: JsonSchema) => void): void {
  if (typeof schema === 'boolean') return;
  if (isRecord(schema.properties))
    for (const child of Object.values(schema.properties)) visit(child as JsonSchema);
  for (const keyword of ['items', 'additionalProperties', 'not'] as const) {
    const child = schema[keyword];
    if (isRecord(child)) visit(child);
  }
  for (const keyword of SUBSCHEMA_ARRAYS) {
    const children = schema[keyword];
    if (Array.isArray(children)) for (const child of children) visit(child as JsonSchema);
  }
}

function mapSubschemas(schema: JsonSchema, map: (child: JsonSchema) => JsonSchema): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  const out: Record<string, unknown> = { ...schema };
  if (isRecord(schema.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([name, child]) => [name, map(child as JsonSchema)]),
    );
  }
  for (const keyword of ['items', 'additionalProperties', 'not'] as const) {
    const child = schema[keyword];
    if (isRecord(child)) out[keyword] = map(child);
  }
  for (const keyword of SUBSCHEMA_ARRAYS) {
    const children = schema[keyword];
    if (Array.isArray(children)) out[keyword] = children.map((child: JsonSchema) => map(child));
  }
  return out;
}

/**
 * Moves every subschema of the responses and webhooks that is large (≥ 300 characters) and occurs at least twice
 * into `definitions`, largest first. Request bodies and parameters stay inline (`closeObjects` rewrites them).
 */
function hoistSharedSchemas(subset: ApiSubset): ApiSubset {
  const roots: JsonSchema[] = [];
  for (const op of subset.operations) {
    for (const response of Object.values(op.responses)) {
      for (const schema of Object.values(response.content)) if (schema) roots.push(schema);
    }
  }
  roots.push(...Object.values(subset.webhooks), subset.errors.basic, subset.errors.validation);

  const counts = new Map<string, number>();
  const count = (schema: JsonSchema): void => {
    const key = JSON.stringify(schema);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    forEachSubschema(schema, count);
  };
  roots.forEach(count);

  const definitions: Record<string, JsonSchema> = {};
  const names = new Map<string, string>();
  const rewrite = (schema: JsonSchema, isDefinitionRoot = false): JsonSchema => {
    const key = JSON.stringify(schema);
    if (!isDefinitionRoot && key.length >= 300 && (counts.get(key) ?? 0) >= 2) {
      let name = names.get(key);
      if (!name) {
        name = `d${names.size}`;
        names.set(key, name);
        definitions[name] = rewrite(schema, true);
      }
      return { $ref: `${DEFINITIONS_ID}#/definitions/${name}` };
    }
    return mapSubschemas(schema, (child) => rewrite(child));
  };
  const content = (c: Readonly<Record<string, JsonSchema | null>>) =>
    Object.fromEntries(Object.entries(c).map(([type, schema]) => [type, schema ? rewrite(schema) : null]));

  return {
    ...subset,
    operations: subset.operations.map((op) => ({
      ...op,
      responses: Object.fromEntries(
        Object.entries(op.responses).map(([status, r]) => [
          status,
          { headers: r.headers, content: content(r.content) },
        ]),
      ),
    })),
    errors: { basic: rewrite(subset.errors.basic), validation: rewrite(subset.errors.validation) },
    webhooks: Object.fromEntries(Object.entries(subset.webhooks).map(([n, s]) => [n, rewrite(s)])) as Record<
      WebhookName,
      JsonSchema
    >,
    definitions,
  };
}

function convertOperation(raw: RawOperation, method: HttpMethod, template: string): OperationSpec {
  const uploads = (raw.servers ?? []).some((s) => s.url.includes('uploads.github.com'));
  const parameters: ParameterSpec[] = (raw.parameters ?? []).map((p) => ({
    name: p.name,
    in: p.in,
    required: p.required === true,
    schema: toJsonSchema(p.schema ?? {}),
    multiSegment: p['x-multi-segment'] === true,
  }));
  const content = (c: Record<string, { schema?: unknown }> | undefined): Record<string, JsonSchema | null> =>
    Object.fromEntries(
      Object.entries(c ?? {}).map(([type, media]) => [
        type,
        media.schema ? toJsonSchema(media.schema) : null,
      ]),
    );
  const responses = Object.fromEntries(
    Object.entries(raw.responses).map(([status, r]) => [
      status,
      { headers: Object.keys(r.headers ?? {}).map((h) => h.toLowerCase()), content: content(r.content) },
    ]),
  );
  return {
    operationId: raw.operationId,
    method,
    path: template,
    host: uploads ? 'uploads' : 'api',
    documentationUrl: raw.externalDocs?.url ?? 'https://docs.github.com/rest',
    parameters,
    ...(raw.requestBody
      ? {
          requestBody: {
            required: raw.requestBody.required === true,
            content: content(raw.requestBody.content),
          },
        }
      : {}),
    responses,
  };
}

const DROPPED_KEYWORDS = new Set([
  'description',
  'title',
  'example',
  'examples',
  'externalDocs',
  'nullable',
  'readOnly',
  'writeOnly',
  'deprecated',
  'discriminator',
  'xml',
]);

/**
 * An OpenAPI 3.0 schema object as JSON Schema draft-07: `nullable: true` becomes `type: [t, 'null']` (and `null`
 * joins an `enum`), or `anyOf: [schema, {type: 'null'}]` when the schema composes others; documentation keys and
 * `x-` extensions are dropped. Property names are kept as they are (a property may be called `description`).
 */
export function toJsonSchema(schema: unknown): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  if (!isRecord(schema)) return {};
  const out: Record<string, unknown> = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (DROPPED_KEYWORDS.has(keyword) || keyword.startsWith('x-')) continue;
    switch (keyword) {
      case 'properties':
      case 'patternProperties':
        out[keyword] = Object.fromEntries(
          Object.entries(value as Record<string, unknown>).map(([name, s]) => [name, toJsonSchema(s)]),
        );
        break;
      case 'items':
      case 'additionalProperties':
      case 'not':
        out[keyword] = Array.isArray(value) ? value.map(toJsonSchema) : toJsonSchema(value);
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[keyword] = (value as unknown[]).map(toJsonSchema);
        break;
      default:
        out[keyword] = value;
    }
  }
  if (schema.nullable !== true) return out;
  const composes = 'allOf' in out || 'anyOf' in out || 'oneOf' in out;
  if (typeof out.type === 'string' && !composes) {
    out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    return out;
  }
  return { anyOf: [out, { type: 'null' }] };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The request-body schema with every object that lists `properties` but says nothing of `additionalProperties`
 * closed (`additionalProperties: false`), except the branches of an `allOf` (closing those would reject the
 * properties of their siblings). GitHub ignores unknown body fields; in tests an unknown field is almost always a
 * misspelt one, so the server refuses it unless `strictBodies: false`.
 */
export function closeObjects(schema: JsonSchema, inAllOf = false): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  const out: Record<string, unknown> = { ...schema };
  if (isRecord(out.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties).map(([name, s]) => [name, closeObjects(s as JsonSchema)]),
    );
    if (!('additionalProperties' in out) && !inAllOf) out.additionalProperties = false;
  }
  if (isRecord(out.items)) out.items = closeObjects(out.items);
  for (const keyword of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = out[keyword];
    if (Array.isArray(branches)) {
      out[keyword] = branches.map((b: JsonSchema) => closeObjects(b, keyword === 'allOf'));
    }
  }
  return out;
}

/** A check that failed: what, where, and ajv's errors in one line each. */
export interface SchemaProblem {
  readonly where: string;
  readonly errors: readonly string[];
}

function describeErrors(errors: readonly ErrorObject[] | null | undefined, root: string): string[] {
  return (errors ?? []).slice(0, 12).map((e) => {
    const at = `${root}${e.instancePath}`;
    const extra =
      e.keyword === 'additionalProperties'
        ? ` ('${String((e.params as { additionalProperty?: unknown }).additionalProperty)}')`
        : e.keyword === 'enum'
          ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
          : '';
    return `${at} ${e.message ?? e.keyword}${extra}`;
  });
}

function newAjv(
  definitions: Readonly<Record<string, JsonSchema>>,
  options: { coerceTypes?: boolean; useDefaults?: boolean } = {},
): Ajv {
  const ajv = new Ajv({
    strict: false,
    allErrors: true,
    logger: false,
    validateSchema: false,
    // Each shared definition becomes one function, compiled once; unoptimized code compiles twice as fast.
    inlineRefs: false,
    code: { optimize: false },
    coerceTypes: options.coerceTypes ?? false,
    useDefaults: options.useDefaults ?? false,
  });
  addFormats(ajv);
  // Formats of GitHub's description that JSON Schema does not define: not checked.
  for (const format of ['int32', 'int64', 'double', 'float', 'timestamp', 'repo.nwo', 'binary']) {
    ajv.addFormat(format, true);
  }
  ajv.addSchema({ $id: DEFINITIONS_ID, definitions });
  return ajv;
}

export interface ValidatedParameters {
  readonly path: Record<string, unknown>;
  readonly query: Record<string, unknown>;
}

/**
 * Compiles validators lazily (on the first request to each operation and status) and keeps them for the process.
 */
export class OpenApiValidator {
  readonly subset: ApiSubset;
  readonly strictBodies: boolean;
  private readonly ajv: Ajv;
  private readonly paramAjv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(subset: ApiSubset, options: { strictBodies?: boolean } = {}) {
    this.subset = subset;
    this.strictBodies = options.strictBodies ?? true;
    this.ajv = newAjv(subset.definitions);
    this.paramAjv = newAjv(subset.definitions, { coerceTypes: true, useDefaults: true });
  }

  private compiled(cacheKey: string, ajv: Ajv, schema: () => JsonSchema): ValidateFunction {
    let fn = this.cache.get(cacheKey);
    if (!fn) {
      fn = ajv.compile(schema());
      this.cache.set(cacheKey, fn);
    }
    return fn;
  }

  /**
   * Path and query parameters against their schemas, coerced from strings (`"2"` → 2, `"true"` → true), with the
   * description's defaults filled in. Unknown query parameters are ignored, as GitHub does.
   */
  parameters(
    op: OperationSpec,
    rawPath: Record<string, string>,
    rawQuery: Record<string, string>,
  ): { ok: true; value: ValidatedParameters } | { ok: false; problem: SchemaProblem } {
    const value = {
      path: { ...rawPath } as Record<string, unknown>,
      query: { ...rawQuery } as Record<string, unknown>,
    };
    const errors: string[] = [];
    for (const where of ['path', 'query'] as const) {
      const params = op.parameters.filter((p) => p.in === where);
      const validate = this.compiled(`${op.operationId} ${where}`, this.paramAjv, () => ({
        type: 'object',
        properties: Object.fromEntries(params.map((p) => [p.name, p.schema])),
        required: params.filter((p) => p.required).map((p) => p.name),
      }));
      if (!validate(value[where])) errors.push(...describeErrors(validate.errors, `${where} parameters`));
    }
    return errors.length === 0
      ? { ok: true, value }
      : { ok: false, problem: { where: 'parameters', errors } };
  }

  /** A JSON request body against the operation's `requestBody` (required-ness included). */
  requestBody(op: OperationSpec, body: unknown): SchemaProblem | undefined {
    const spec = op.requestBody;
    if (!spec) return undefined;
    if (body === undefined) {
      return spec.required ? { where: 'request body', errors: ['request body is required'] } : undefined;
    }
    const schema = spec.content['application/json'];
    if (schema === undefined) {
      return {
        where: 'request body',
        errors: [`the operation takes ${Object.keys(spec.content).join(', ')}, not application/json`],
      };
    }
    if (schema === null) return undefined;
    const validate = this.compiled(`${op.operationId} body ${this.strictBodies}`, this.ajv, () =>
      this.strictBodies ? closeObjects(schema) : schema,
    );
    return validate(body)
      ? undefined
      : { where: 'request body', errors: describeErrors(validate.errors, 'body') };
  }

  /**
   * A response: its status documented for the operation (unless `anyOperation`: the errors GitHub sends on every
   * operation, such as 401, 404 or 503), and a JSON body valid against the documented schema, or against
   * GitHub's `basic-error` / `validation-error` for an undocumented error.
   */
  response(
    op: OperationSpec,
    status: number,
    body: unknown,
    anyOperation: boolean,
  ): SchemaProblem | undefined {
    const documented = op.responses[String(status)];
    if (!documented && !anyOperation) {
      return {
        where: 'response',
        errors: [`status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`],
      };
    }
    if (body === undefined) {
      if (documented?.content['application/json']) {
        return { where: 'response', errors: [`status ${status} needs an application/json body`] };
      }
      return undefined;
    }
    if (status === 204 || status === 304) {
      return { where: 'response', errors: [`status ${status} must not have a body`] };
    }
    let schema: JsonSchema | null | undefined = documented?.content['application/json'];
    if (schema === undefined && status >= 400) {
      schema = status === 422 ? this.subset.errors.validation : this.subset.errors.basic;
    }
    if (schema === undefined || schema === null) return undefined;
    const validate = this.compiled(`${op.operationId} ${status}`, this.ajv, () => schema);
    return validate(body)
      ? undefined
      : { where: 'response', errors: describeErrors(validate.errors, 'response') };
  }

  /** A webhook payload against the description's `x-webhooks` schema. */
  webhook(name: WebhookName, payload: unknown): SchemaProblem | undefined {
    const validate = this.compiled(`webhook ${name}`, this.ajv, () => this.subset.webhooks[name]);
    return validate(payload)
      ? undefined
      : { where: `${name} payload`, errors: describeErrors(validate.errors, 'payload') };
  }
}
