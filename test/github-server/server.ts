/**
 * A local HTTP server that behaves as GitHub's REST API for tests: the operations the gate and publish actions
 * use, backed by in-memory state, with every request and response checked against GitHub's OpenAPI description.
 * A request the real API would reject fails (422 `OpenAPI validation failed: …`) and is recorded in `violations`.
 *
 * Hosts, all on one port: the API at the root (`url`, like https://api.github.com), the uploads host under
 * `/uploads` (`uploadsUrl`, like https://uploads.github.com), web URLs under `/_web` (`webUrl`, like
 * https://github.com: `html_url`s and release downloads) and signed download URLs under `/_objects` (what GitHub
 * redirects asset and artifact downloads to).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Faults, SECONDARY_RATE_LIMIT_MESSAGE } from './faults.ts';
import {
  type ApiSubset,
  loadApiSubset,
  OpenApiValidator,
  type OperationSpec,
  type SchemaProblem,
} from './openapi.ts';
import { releaseWebTag, type Urls } from './representations.ts';
import { bySpecificity, type CompiledTemplate, compileTemplate, matchTemplate } from './router.ts';
import type { RawBody, Reply, Route, RouteContext } from './routes/common.ts';
import { errorBody } from './routes/common.ts';
import { routes } from './routes/index.ts';
import {
  account,
  createState,
  findRepo,
  GITHUB_ACTIONS_BOT,
  type GitHubState,
  type TokenInfo,
} from './state.ts';

export interface GitHubServerOptions {
  /** Check requests and responses against the OpenAPI description (default true). */
  readonly validate?: boolean;
  /**
   * Refuse unknown fields in JSON request bodies (default true). GitHub's description leaves most bodies open and
   * GitHub ignores unknown fields, but in a test an unknown field is a misspelt one.
   */
  readonly strictBodies?: boolean;
  /** Tokens to add to the defaults (`TOKENS.write`, `TOKENS.read`, `TOKENS.expired`). */
  readonly tokens?: Readonly<Record<string, TokenInfo>>;
  /** Where the OpenAPI extract is cached (default `.tmp/github-openapi-subset.json`). */
  readonly cacheFile?: string;
}

export interface RequestRecord {
  readonly method: string;
  /** The path as requested (on the uploads host, with its `/uploads` prefix). */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The parsed JSON body, if any. */
  readonly body: unknown;
  /** The size of a binary body (release asset uploads). */
  readonly bytes?: number;
  readonly headers: http.IncomingHttpHeaders;
  /** `operationId` of the matched operation (`issues/create-comment`). */
  readonly operationId?: string;
  status: number;
  /** `Date.now()` when the request arrived. */
  readonly time: number;
}

export interface Violation {
  /** `route`: no such operation; `request`: parameters or body refused; `response`: the server broke the contract. */
  readonly kind: 'route' | 'request' | 'response';
  readonly method: string;
  readonly path: string;
  readonly operationId?: string;
  readonly message: string;
}

export interface GitHubServer {
  /** API base URL (`GITHUB_API_URL`), e.g. `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The uploads host (`uploads.github.com`); release `upload_url`s point here. */
  readonly uploadsUrl: string;
  /** The web host (`GITHUB_SERVER_URL`). */
  readonly webUrl: string;
  /** The in-memory GitHub (replaced by `reset()`). */
  readonly state: GitHubState;
  /** Every request, in order. */
  readonly requests: RequestRecord[];
  /** Requests and responses that broke GitHub's OpenAPI description. */
  readonly violations: Violation[];
  readonly faults: Faults;
  readonly validator: OpenApiValidator;
  /** Returns the violations so far and forgets them (for tests that provoke one on purpose). */
  takeViolations(): Violation[];
  /** Throws, listing them, when there were violations (and forgets them). */
  assertNoViolations(): void;
  /** A fresh state; requests, violations and faults cleared. */
  reset(): void;
  close(): Promise<void>;
}

/** Statuses GitHub may answer on any operation, whether or not the description documents them. */
const ANY_OPERATION_STATUSES = new Set([401, 403, 404, 422, 429, 500, 502, 503]);
const RATE_LIMIT = 5000;
const VALIDATION_PREFIX = 'OpenAPI validation failed:';

interface CompiledRoute {
  readonly route: Route;
  readonly op: OperationSpec;
  readonly template: CompiledTemplate;
}

const validators = new Map<string, OpenApiValidator>();
let compiledRoutes: { subset: ApiSubset; routes: CompiledRoute[] } | undefined;
let apiTemplates: { template: CompiledTemplate; methods: readonly string[] }[] | undefined;

function prepare(options: GitHubServerOptions): { validator: OpenApiValidator; routes: CompiledRoute[] } {
  const subset = loadApiSubset(
    routes.map((r) => ({ method: r.method, path: r.path })),
    options.cacheFile ? { cacheFile: options.cacheFile } : {},
  );
  if (compiledRoutes?.subset !== subset) {
    const compiled = routes.map((route) => {
      const op = subset.operations.find((o) => o.method === route.method && o.path === route.path);
      if (!op) throw new Error(`${route.method} ${route.path} is missing from the OpenAPI extract`);
      const multi = new Set(op.parameters.filter((p) => p.multiSegment).map((p) => p.name));
      return { route, op, template: compileTemplate(route.path, multi) };
    });
    compiled.sort((a, b) => bySpecificity(a.template, b.template));
    compiledRoutes = { subset, routes: compiled };
  }
  const strictBodies = options.strictBodies ?? true;
  const key = `${subset.key}:${strictBodies}`;
  let validator = validators.get(key);
  if (!validator) {
    validator = new OpenApiValidator(subset, { strictBodies });
    validators.set(key, validator);
  }
  return { validator, routes: compiledRoutes.routes };
}

/** The operation of the whole API with this method and path, if any (to tell unknown from unimplemented). */
function apiOperation(subset: ApiSubset, method: string, path: string): string | undefined {
  apiTemplates ??= Object.entries(subset.paths)
    .map(([template, info]) => ({
      template: compileTemplate(template, new Set(info.multiSegment)),
      methods: info.methods,
    }))
    .sort((a, b) => bySpecificity(a.template, b.template));
  const found = apiTemplates.find((t) => t.methods.includes(method) && matchTemplate(t.template, path));
  return found?.template.template;
}

function requestId(): string {
  const hex = (n: number) => randomBytes(n).toString('hex').toUpperCase();
  return `${hex(2)}:${hex(2)}:${hex(3)}:${hex(4)}:${hex(4)}`;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Outcome extends Reply {
  /** Skip the response check: a fault, an unknown route, or a validation failure. */
  readonly unchecked?: boolean;
  readonly op?: OperationSpec;
}

export async function startGitHubServer(options: GitHubServerOptions = {}): Promise<GitHubServer> {
  const { validator, routes: compiled } = prepare(options);
  const validate = options.validate ?? true;
  const secret = randomBytes(16);
  const faults = new Faults();
  const requests: RequestRecord[] = [];
  const violations: Violation[] = [];
  const usedByToken = new Map<string, number>();
  let resetAt = Math.floor(Date.now() / 1000) + 3600;
  let state = freshState();
  let urls: Urls = { api: '', uploads: '', web: '' };

  function freshState(): GitHubState {
    const s = createState();
    for (const [token, info] of Object.entries(options.tokens ?? {})) s.tokens.set(token, info);
    return s;
  }

  function sign(kind: string, id: number): string {
    return createHmac('sha256', secret).update(`${kind}/${id}`).digest('hex').slice(0, 32);
  }

  function objectUrl(kind: 'release-assets' | 'artifacts', id: number, name: string): string {
    return `${urls.api}/_objects/${kind}/${id}/${encodeURIComponent(name)}?sig=${sign(kind, id)}`;
  }

  function violation(v: Violation): Outcome {
    violations.push(v);
    return {
      status: 422,
      body: {
        message: `${VALIDATION_PREFIX} ${v.message}`,
        documentation_url: 'https://docs.github.com/rest',
        status: '422',
      },
      unchecked: true,
    };
  }

  function describe(op: OperationSpec, problem: SchemaProblem): string {
    return `${op.method} ${op.path} (${op.operationId}): ${problem.errors.join('; ')}`;
  }

  function rateLimitHeaders(token: string | undefined): Record<string, string> {
    if (Date.now() / 1000 >= resetAt) {
      usedByToken.clear();
      resetAt = Math.floor(Date.now() / 1000) + 3600;
    }
    const used = token === undefined ? 0 : (usedByToken.get(token) ?? 0);
    return {
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(Math.max(0, RATE_LIMIT - used)),
      'x-ratelimit-reset': String(resetAt),
      'x-ratelimit-used': String(used),
      'x-ratelimit-resource': 'core',
    };
  }

  function faultReply(fault: NonNullable<ReturnType<Faults['take']>>, id: string): Outcome {
    if (fault.kind === 'server-error') {
      const message = fault.status === 503 ? 'Service Unavailable' : 'Server Error';
      return {
        status: fault.status,
        body: errorBody(message, 'https://docs.github.com/rest', fault.status),
        unchecked: true,
      };
    }
    if (fault.kind === 'secondary-rate-limit') {
      return {
        status: fault.status,
        headers: { 'retry-after': String(fault.seconds) },
        body: errorBody(
          `${SECONDARY_RATE_LIMIT_MESSAGE} ${id}.`,
          'https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          fault.status,
        ),
        unchecked: true,
      };
    }
    return {
      status: fault.status,
      headers: {
        'x-ratelimit-limit': String(RATE_LIMIT),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-used': String(RATE_LIMIT),
        'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000 + fault.seconds)),
        'x-ratelimit-resource': 'core',
      },
      body: errorBody(
        'API rate limit exceeded for installation ID 1.',
        'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits',
        fault.status,
      ),
      unchecked: true,
    };
  }

  async function handleApi(
    req: IncomingMessage,
    host: 'api' | 'uploads',
    method: string,
    apiPath: string,
    url: URL,
    record: { body?: unknown; bytes?: number; operationId?: string; token?: string },
    id: string,
  ): Promise<Outcome> {
    const target = compiled
      .map((c) => ({
        c,
        params:
          c.op.host === host && c.route.method === method ? matchTemplate(c.template, apiPath) : undefined,
      }))
      .find((m) => m.params !== undefined);
    const route = target?.c;
    if (route) record.operationId = route.op.operationId;
    let bodyBuffer: Buffer | undefined;
    if (!route?.route.rawBody) bodyBuffer = await readAll(req);

    const drain = async () => {
      if (!req.readableEnded) await readAll(req);
    };
    const fault = faults.take(method, apiPath);
    if (fault) {
      await drain();
      return faultReply(fault, id);
    }

    if (!route || !target?.params) {
      await drain();
      const notFound: Outcome = {
        status: 404,
        body: errorBody('Not Found', 'https://docs.github.com/rest', 404),
        unchecked: true,
      };
      if (!validate) return notFound;
      const known = apiOperation(validator.subset, method, apiPath);
      const implemented = compiled.find((c) => c.route.method === method && c.route.path === known);
      const message = implemented
        ? `${method} ${apiPath} belongs on the ${implemented.op.host} host, not ${host}`
        : known
          ? `${method} ${known} is part of GitHub's REST API but the test server does not implement it (docs/testing-github.md says how to add it)`
          : `${method} ${apiPath} is not an operation of GitHub's REST API`;
      violations.push({ kind: 'route', method, path: url.pathname, message });
      return notFound;
    }
    const { op } = route;

    const authorization = req.headers.authorization;
    if (!authorization)
      return { status: 401, body: errorBody('Requires authentication', op.documentationUrl, 401), op };
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(authorization)?.[1];
    const info = token === undefined ? undefined : state.tokens.get(token);
    if (token === undefined || !info || info.expired) {
      return { status: 401, body: errorBody('Bad credentials', 'https://docs.github.com/rest', 401), op };
    }
    record.token = token;
    usedByToken.set(token, (usedByToken.get(token) ?? 0) + 1);

    const params = validator.parameters(op, target.params, Object.fromEntries(url.searchParams));
    if (!params.ok && validate) {
      await drain();
      return violation({
        kind: 'request',
        method,
        path: url.pathname,
        operationId: op.operationId,
        message: describe(op, params.problem),
      });
    }
    const values = params.ok
      ? params.value
      : { path: { ...target.params }, query: Object.fromEntries(url.searchParams) };

    let body: unknown;
    const declaredLength = Number(req.headers['content-length'] ?? Number.NaN);
    if (route.route.rawBody) {
      const missing = [
        req.headers['content-type'] ? undefined : 'Content-Type',
        Number.isFinite(declaredLength) ? undefined : 'Content-Length',
      ].filter((h) => h !== undefined);
      if (missing.length > 0) {
        await drain();
        return violation({
          kind: 'request',
          method,
          path: url.pathname,
          operationId: op.operationId,
          message: `${op.method} ${op.path} (${op.operationId}): the ${missing.join(' and ')} header${missing.length > 1 ? 's are' : ' is'} required for a release asset upload`,
        });
      }
    } else if (bodyBuffer && bodyBuffer.length > 0) {
      try {
        body = JSON.parse(bodyBuffer.toString('utf8'));
      } catch {
        violations.push({
          kind: 'request',
          method,
          path: url.pathname,
          operationId: op.operationId,
          message: 'the body is not JSON',
        });
        return {
          status: 400,
          body: errorBody('Problems parsing JSON', op.documentationUrl, 400),
          unchecked: true,
          op,
        };
      }
      record.body = body;
    }
    if (!route.route.rawBody && validate) {
      const problem = validator.requestBody(op, body);
      if (problem) {
        return violation({
          kind: 'request',
          method,
          path: url.pathname,
          operationId: op.operationId,
          message: describe(op, problem),
        });
      }
    }

    const owner = values.path.owner;
    const name = values.path.repo;
    const repo =
      typeof owner === 'string' && typeof name === 'string' ? findRepo(state, owner, name) : undefined;
    if (!repo) {
      await drain();
      return { status: 404, body: errorBody('Not Found', op.documentationUrl, 404), op };
    }
    const writes = route.route.write ?? method !== 'GET';
    if (writes && info.scopes !== 'write') {
      await drain();
      return {
        status: 403,
        headers: { 'x-accepted-github-permissions': route.route.permission },
        body: errorBody('Resource not accessible by integration', op.documentationUrl, 403),
        op,
      };
    }

    let raw: Promise<RawBody> | undefined;
    const context: RouteContext = {
      state,
      urls,
      op,
      repo,
      params: values.path,
      query: values.query,
      body,
      headers: req.headers,
      token: info,
      actor: info.login ? account(state, info.login) : GITHUB_ACTIONS_BOT,
      canWrite: info.scopes === 'write',
      requestUrl: new URL(`${urls.api}${apiPath}${url.search}`),
      declaredLength,
      readRawBody() {
        raw ??= (async () => {
          const hash = createHash('sha256');
          const chunks: Buffer[] = [];
          for await (const chunk of req) {
            hash.update(chunk as Buffer);
            chunks.push(chunk as Buffer);
          }
          const bytes = Buffer.concat(chunks);
          record.bytes = bytes.length;
          return { bytes, sha256: hash.digest('hex') };
        })();
        return raw;
      },
      objectUrl,
    };
    const reply = await route.route.handle(context);
    await drain();
    return { ...reply, op };
  }

  async function serveObject(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    await readAll(req);
    const match = /^\/_objects\/(release-assets|artifacts)\/(\d+)\/[^/]+$/.exec(url.pathname);
    const kind = match?.[1];
    const id = Number(match?.[2]);
    if (!kind || url.searchParams.get('sig') !== sign(kind, id)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('AuthenticationFailed');
      return;
    }
    for (const repo of state.repos.values()) {
      if (kind === 'artifacts') {
        const artifact = repo.artifacts.get(id);
        if (artifact) {
          res
            .writeHead(200, { 'content-type': 'application/zip', 'content-length': artifact.zip.length })
            .end(artifact.zip);
          return;
        }
        continue;
      }
      for (const release of repo.releases.values()) {
        const asset = release.assets.get(id);
        if (asset) {
          asset.downloadCount++;
          res
            .writeHead(200, {
              'content-type': 'application/octet-stream',
              'content-length': asset.size,
              'content-disposition': `attachment; filename=${asset.name}`,
            })
            .end(asset.content);
          return;
        }
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('BlobNotFound');
  }

  /** `/_web/{owner}/{repo}/releases/download/{tag}/{name}` (browser_download_url): a redirect to the bytes. */
  async function serveWeb(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    await readAll(req);
    const match = /^\/_web\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    const repo = match
      ? findRepo(state, decodeURIComponent(match[1] as string), decodeURIComponent(match[2] as string))
      : undefined;
    const token = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const info = token === undefined ? undefined : state.tokens.get(token);
    const canSeeDrafts = info !== undefined && !info.expired && info.scopes === 'write';
    if (match && repo) {
      const tag = decodeURIComponent(match[3] as string);
      const name = decodeURIComponent(match[4] as string);
      for (const release of repo.releases.values()) {
        if (releaseWebTag(release) !== tag || (release.draft && !canSeeDrafts)) continue;
        const asset = [...release.assets.values()].find((a) => a.name === name);
        if (asset) {
          res
            .writeHead(302, {
              location: objectUrl('release-assets', asset.id, asset.name),
              'content-length': 0,
            })
            .end();
          return;
        }
      }
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', urls.api);
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname.startsWith('/_objects/')) return serveObject(req, res, url);
    if (url.pathname.startsWith('/_web/')) return serveWeb(req, res, url);

    const host = url.pathname.startsWith('/uploads/') ? 'uploads' : 'api';
    const apiPath = host === 'uploads' ? url.pathname.slice('/uploads'.length) : url.pathname;
    const id = requestId();
    const collected: { body?: unknown; bytes?: number; operationId?: string; token?: string } = {};
    const time = Date.now();
    let outcome: Outcome;
    try {
      outcome = await handleApi(req, host, method, apiPath, url, collected, id);
    } catch (error) {
      outcome = {
        status: 500,
        body: errorBody(
          `test server error: ${(error as Error).stack ?? String(error)}`,
          'https://docs.github.com/rest',
          500,
        ),
        unchecked: true,
      };
      violations.push({
        kind: 'response',
        method,
        path: url.pathname,
        message: `the handler threw: ${String(error)}`,
      });
    }

    if (validate && !outcome.unchecked && outcome.op) {
      const problem = validator.response(
        outcome.op,
        outcome.status,
        outcome.body,
        ANY_OPERATION_STATUSES.has(outcome.status),
      );
      if (problem) {
        outcome = violation({
          kind: 'response',
          method,
          path: url.pathname,
          operationId: outcome.op.operationId,
          message: `the test server's ${outcome.status} response: ${describe(outcome.op, problem)}`,
        });
      }
    }

    const payload = outcome.body === undefined ? undefined : Buffer.from(JSON.stringify(outcome.body));
    const headers: Record<string, string | number> = {
      server: 'github.com',
      'x-github-request-id': id,
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      ...rateLimitHeaders(collected.token),
      ...outcome.headers,
      'content-length': payload?.length ?? 0,
    };
    if (payload) headers['content-type'] = 'application/json; charset=utf-8';
    requests.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body: collected.body,
      ...(collected.bytes !== undefined ? { bytes: collected.bytes } : {}),
      headers: req.headers,
      ...(collected.operationId ? { operationId: collected.operationId } : {}),
      status: outcome.status,
      time,
    });
    res.writeHead(outcome.status, headers).end(payload);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  urls = { api: base, uploads: `${base}/uploads`, web: `${base}/_web` };

  return {
    url: urls.api,
    uploadsUrl: urls.uploads,
    webUrl: urls.web,
    get state() {
      return state;
    },
    requests,
    violations,
    faults,
    validator,
    takeViolations() {
      return violations.splice(0, violations.length);
    },
    assertNoViolations() {
      const found = violations.splice(0, violations.length);
      if (found.length > 0) {
        throw new Error(
          `the GitHub test server saw ${found.length} request(s) or response(s) GitHub's OpenAPI description refuses:\n` +
            found.map((v) => `- [${v.kind}] ${v.method} ${v.path}: ${v.message}`).join('\n'),
        );
      }
    },
    reset() {
      state = freshState();
      requests.length = 0;
      violations.length = 0;
      usedByToken.clear();
      faults.clear();
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  } satisfies GitHubServer;
}
