/** What a route handler receives and returns, and the replies GitHub shares across operations. */
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpMethod, OperationSpec } from '../openapi.ts';
import type { Urls } from '../representations.ts';
import type { Account, GitHubState, Repo, TokenInfo } from '../state.ts';

export interface RawBody {
  readonly bytes: Buffer;
  /** Hex SHA-256, computed while the body streamed in. */
  readonly sha256: string;
}

export interface RouteContext {
  readonly state: GitHubState;
  readonly urls: Urls;
  readonly op: OperationSpec;
  /** The repository named by `{owner}/{repo}` (the server answers 404 before the handler when it does not exist). */
  readonly repo: Repo;
  /** Path parameters, validated and coerced to their schema types (`issue_number` is a number). */
  readonly params: Readonly<Record<string, unknown>>;
  /** Query parameters, validated, coerced, with the description's defaults. */
  readonly query: Readonly<Record<string, unknown>>;
  /** The JSON body, validated against the operation's request body schema. */
  readonly body: unknown;
  readonly headers: IncomingHttpHeaders;
  readonly token: TokenInfo;
  readonly actor: Account;
  /** Whether the token may write (it sees drafts). */
  readonly canWrite: boolean;
  /** The request URL on the API host (pagination links are built from it). */
  readonly requestUrl: URL;
  /** For `rawBody` routes: the declared `Content-Length` and a reader that streams the body into memory. */
  readonly declaredLength: number;
  readRawBody(): Promise<RawBody>;
  /** A signed URL on the server's object store (what GitHub redirects downloads to). */
  objectUrl(kind: 'release-assets' | 'artifacts', id: number, name: string): string;
}

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: HttpMethod;
  /** The path template exactly as in the OpenAPI description. */
  readonly path: string;
  /** The permission GitHub names in `x-accepted-github-permissions` when the token lacks it. */
  readonly permission: string;
  /** Default: every method but GET writes. */
  readonly write?: boolean;
  /** The body is binary (release assets): not parsed, streamed on demand with `readRawBody()`. */
  readonly rawBody?: boolean;
  handle(ctx: RouteContext): Reply | Promise<Reply>;
}

export function errorBody(
  message: string,
  documentationUrl: string,
  status: number,
): Record<string, unknown> {
  return { message, documentation_url: documentationUrl, status: String(status) };
}

export function notFound(ctx: Pick<RouteContext, 'op'>, message = 'Not Found'): Reply {
  return { status: 404, body: errorBody(message, ctx.op.documentationUrl, 404) };
}

export interface FieldError {
  readonly resource: string;
  readonly code: 'missing' | 'missing_field' | 'invalid' | 'already_exists' | 'unprocessable' | 'custom';
  readonly field?: string;
  readonly message?: string;
}

/** GitHub's 422 for a semantically invalid request: `Validation Failed` and the errors per field. */
export function validationFailed(ctx: Pick<RouteContext, 'op'>, errors: readonly FieldError[]): Reply {
  return {
    status: 422,
    body: { ...errorBody('Validation Failed', ctx.op.documentationUrl, 422), errors },
  };
}

/** GitHub's 422 with a message of its own (`No commit found for SHA: …`, `Reference already exists`). */
export function unprocessable(ctx: Pick<RouteContext, 'op'>, message: string): Reply {
  return { status: 422, body: errorBody(message, ctx.op.documentationUrl, 422) };
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return headers ? { status, body, headers } : { status, body };
}

export function intParam(ctx: Pick<RouteContext, 'params'>, name: string): number {
  const value = ctx.params[name];
  if (typeof value !== 'number') throw new Error(`path parameter ${name} is ${typeof value}, not a number`);
  return value;
}

export function stringParam(ctx: Pick<RouteContext, 'params'>, name: string): string {
  const value = ctx.params[name];
  if (typeof value !== 'string') throw new Error(`path parameter ${name} is ${typeof value}, not a string`);
  return value;
}

export function optionalString(record: unknown, name: string): string | undefined {
  const value = (record as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

export function optionalBoolean(record: unknown, name: string): boolean | undefined {
  const value = (record as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'boolean' ? value : undefined;
}

/**
 * One page of `items` as GitHub pages lists: `per_page` (default 30, at most 100), `page` (from 1), and a `Link`
 * header with `prev`, `next`, `last` and `first` relations built on the request URL.
 */
export function paginate<T>(
  ctx: Pick<RouteContext, 'query' | 'requestUrl'>,
  items: readonly T[],
): { items: T[]; headers: Record<string, string> } {
  const requested = typeof ctx.query.per_page === 'number' ? ctx.query.per_page : 30;
  const perPage = requested < 1 ? 30 : Math.min(requested, 100);
  const page = Math.max(1, typeof ctx.query.page === 'number' ? ctx.query.page : 1);
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  const link = (n: number): string => {
    const url = new URL(ctx.requestUrl);
    url.searchParams.set('page', String(n));
    return url.toString();
  };
  const relations: string[] = [];
  if (page > 1) relations.push(`<${link(Math.min(page - 1, lastPage))}>; rel="prev"`);
  if (page < lastPage) {
    relations.push(`<${link(page + 1)}>; rel="next"`, `<${link(lastPage)}>; rel="last"`);
  }
  if (page > 1) relations.push(`<${link(1)}>; rel="first"`);
  const headers: Record<string, string> = relations.length > 0 ? { link: relations.join(', ') } : {};
  return { items: items.slice((page - 1) * perPage, page * perPage), headers };
}
