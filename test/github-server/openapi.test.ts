import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/fixtures.ts';
import {
  closeObjects,
  loadApiSubset,
  OpenApiValidator,
  type OperationSpec,
  openApiPackage,
  toJsonSchema,
  WEBHOOKS,
} from './openapi.ts';
import { routes } from './routes/index.ts';
import { startGitHubServer } from './server.ts';

const operations = routes.map((r) => ({ method: r.method, path: r.path }));

function operation(validator: OpenApiValidator, operationId: string): OperationSpec {
  const op = validator.subset.operations.find((o) => o.operationId === operationId);
  if (!op) throw new Error(`${operationId} is not in the extract`);
  return op;
}

describe('OpenAPI 3.0 schemas as JSON Schema', () => {
  it('turns nullable into a null type, null into the enum, and wraps composed schemas', () => {
    expect(toJsonSchema({ type: 'string', nullable: true, enum: ['success', 'failure'] })).toEqual({
      type: ['string', 'null'],
      enum: ['success', 'failure', null],
    });
    expect(toJsonSchema({ nullable: true, allOf: [{ type: 'object' }] })).toEqual({
      anyOf: [{ allOf: [{ type: 'object' }] }, { type: 'null' }],
    });
    expect(toJsonSchema({ type: 'integer', nullable: false })).toEqual({ type: 'integer' });
  });

  it('drops documentation keys and extensions but keeps properties named like them', () => {
    const converted = toJsonSchema({
      title: 'Label',
      description: 'A label',
      'x-github': {},
      example: { name: 'bug' },
      properties: {
        description: { type: 'string', description: 'its description' },
        title: { type: 'string' },
      },
    });
    expect(converted).toEqual({ properties: { description: { type: 'string' }, title: { type: 'string' } } });
  });

  it('closes request-body objects, except allOf branches and objects that say otherwise', () => {
    const closed = closeObjects({
      type: 'object',
      properties: { output: { type: 'object', properties: { title: { type: 'string' } } } },
      anyOf: [{ properties: { status: { enum: ['completed'] } }, additionalProperties: true }],
      allOf: [{ properties: { a: {} } }],
    });
    expect(closed).toEqual({
      type: 'object',
      properties: {
        output: { type: 'object', properties: { title: { type: 'string' } }, additionalProperties: false },
      },
      anyOf: [{ properties: { status: { enum: ['completed'] } }, additionalProperties: true }],
      allOf: [{ properties: { a: {} } }],
      additionalProperties: false,
    });
  });
});

describe('the extract of the description', () => {
  it('loads from the cache in under 200 ms, keyed by the @octokit/openapi version', () => {
    loadApiSubset(operations);
    const started = performance.now();
    const subset = loadApiSubset(operations, { reuse: false });
    const elapsed = performance.now() - started;

    expect(elapsed).toBeLessThan(200);
    expect(subset.source).toBe(`@octokit/openapi@${openApiPackage().version} api.github.com.deref.json`);
    expect(subset.operations.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      operations.map((o) => `${o.method} ${o.path}`).sort(),
    );
    expect(subset.operations.find((o) => o.operationId === 'repos/upload-release-asset')?.host).toBe(
      'uploads',
    );
  });

  it('rebuilds a cache file written for another version or operation list, converting as it extracts', () => {
    const dir = tempDir('slmops-openapi-');
    try {
      const error = { type: 'object', properties: { message: { type: 'string' } } };
      const hook = {
        post: { requestBody: { content: { 'application/json': { schema: { type: 'object' } } } } },
      };
      const spec = {
        paths: {
          '/repos/{owner}/{repo}/pulls/{pull_number}': {
            get: {
              operationId: 'pulls/get',
              parameters: [{ name: 'pull_number', in: 'path', required: true, schema: { type: 'integer' } }],
              responses: {
                '200': {
                  description: 'Response',
                  content: {
                    'application/json': { schema: { type: 'string', nullable: true, description: 'x' } },
                  },
                },
              },
            },
          },
          '/repos/{owner}/{repo}/issues/{issue_number}/comments': {
            post: {
              operationId: 'issues/create-comment',
              responses: {
                '404': { content: { 'application/json': { schema: error } } },
                '422': { content: { 'application/json': { schema: error } } },
              },
            },
          },
        },
        'x-webhooks': Object.fromEntries(WEBHOOKS.map((name) => [name, hook])),
      };
      const specFile = join(dir.path, 'spec.json');
      const cacheFile = join(dir.path, 'subset.json');
      writeFileSync(specFile, JSON.stringify(spec));
      writeFileSync(cacheFile, JSON.stringify({ key: 'stale', operations: [] }));
      const few = [{ method: 'GET' as const, path: '/repos/{owner}/{repo}/pulls/{pull_number}' }];

      const subset = loadApiSubset(few, { cacheFile, specFile, reuse: false });

      expect(subset.operations).toEqual([
        expect.objectContaining({
          operationId: 'pulls/get',
          host: 'api',
          responses: {
            '200': { headers: [], content: { 'application/json': { type: ['string', 'null'] } } },
          },
        }),
      ]);
      expect(Object.keys(subset.paths)).toEqual(Object.keys(spec.paths));
      expect((JSON.parse(readFileSync(cacheFile, 'utf8')) as { key: string }).key).toBe(subset.key);
      expect(loadApiSubset(few, { cacheFile, specFile, reuse: false })).toEqual(subset);
    } finally {
      dir.remove();
    }
  });

  it('starts a second server in the same process in under 100 ms', async () => {
    await (await startGitHubServer()).close();
    const started = performance.now();
    const server = await startGitHubServer();
    const elapsed = performance.now() - started;
    await server.close();
    expect(elapsed).toBeLessThan(100);
  });
});

describe('the validator', () => {
  const validator = new OpenApiValidator(loadApiSubset(operations));
  const label = {
    id: 1,
    node_id: 'LA_1',
    url: 'https://api.github.com/repos/o/r/labels/perf',
    name: 'perf',
    description: null,
    color: 'ededed',
    default: false,
  };

  it('accepts null where the description says nullable, and nothing else there', () => {
    const op = operation(validator, 'issues/list-labels-on-issue');
    expect(validator.response(op, 200, [label], false)).toBeUndefined();
    expect(validator.response(op, 200, [{ ...label, description: 5 }], false)?.errors).toEqual([
      'response/0/description must be string,null',
    ]);
  });

  it('flags a response status the operation does not document, unless GitHub sends it anywhere', () => {
    const op = operation(validator, 'issues/create-comment');
    expect(validator.response(op, 200, {}, false)?.errors[0]).toMatch(
      /^status 200 is not documented \(documented: 201/,
    );
    expect(validator.response(op, 503, { message: 'Service Unavailable' }, true)).toBeUndefined();
  });

  it('flags a response body that misses a required field', () => {
    const op = operation(validator, 'issues/list-labels-on-issue');
    const { color: _color, ...withoutColor } = label;
    expect(validator.response(op, 200, [withoutColor], false)?.errors).toEqual([
      "response/0 must have required property 'color'",
    ]);
  });

  it('coerces path and query parameters from strings and fills defaults', () => {
    const op = operation(validator, 'issues/list-comments');
    const result = validator.parameters(
      op,
      { owner: 'o', repo: 'r', issue_number: '7' },
      { page: '2', extra: 'x' },
    );
    expect(result).toEqual({
      ok: true,
      value: {
        path: { owner: 'o', repo: 'r', issue_number: 7 },
        query: { page: 2, per_page: 30, extra: 'x' },
      },
    });
  });

  it('accepts unknown body fields when strictBodies is off, as GitHub itself does', () => {
    const lenient = new OpenApiValidator(validator.subset, { strictBodies: false });
    const op = operation(validator, 'issues/create-comment');
    expect(lenient.requestBody(op, { body: 'x', extra: 1 })).toBeUndefined();
    expect(validator.requestBody(op, { body: 'x', extra: 1 })?.errors).toEqual([
      "body must NOT have additional properties ('extra')",
    ]);
  });
});
