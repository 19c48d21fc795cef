/**
 * Failures to inject, as GitHub produces them: server errors, the secondary rate limit (403 + `retry-after`) and
 * the primary rate limit (`x-ratelimit-remaining: 0` + `x-ratelimit-reset`). Each fault answers the next `count`
 * requests that match its route, in the order the faults were added, before authentication or validation.
 */

/**
 * Which requests a fault answers: a string `[METHOD ]path`, where `{name}` stands for one path segment and `*` for
 * anything (`POST /repos/{owner}/{repo}/issues/{issue_number}/comments`, `/repos/*`), or a RegExp tested against
 * `METHOD /path`. Paths on the uploads host are matched without their `/uploads` prefix. Default: every request.
 */
export type RoutePattern = string | RegExp;

export type FaultKind = 'server-error' | 'secondary-rate-limit' | 'primary-rate-limit';

export interface Fault {
  readonly kind: FaultKind;
  readonly status: number;
  readonly route: RoutePattern | undefined;
  /** Requests still to answer; the fault is done at 0. */
  remaining: number;
  /** Requests answered so far. */
  hits: number;
  /** `retry-after` seconds (secondary) or seconds until `x-ratelimit-reset` (primary). */
  readonly seconds: number;
}

export const SECONDARY_RATE_LIMIT_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. ' +
  'If you reach out to GitHub Support for help, please include the request ID';

function compile(route: RoutePattern | undefined): (method: string, path: string) => boolean {
  if (route === undefined) return () => true;
  if (route instanceof RegExp) return (method, path) => route.test(`${method} ${path}`);
  const spaced = /^([A-Z]+)\s+(.*)$/.exec(route.trim());
  const method = spaced?.[1];
  const pattern = spaced?.[2] ?? route.trim();
  const source = pattern
    .split(/(\{[^}]+\}|\*)/)
    .map((part) => {
      if (part === '*') return '.*';
      if (/^\{[^}]+\}$/.test(part)) return '[^/]+';
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  const regex = new RegExp(`^${source}$`);
  return (m, path) => (method === undefined || method === m) && regex.test(path);
}

export class Faults {
  private readonly queue: { fault: Fault; matches: (method: string, path: string) => boolean }[] = [];

  private add(
    kind: FaultKind,
    status: number,
    count: number,
    route: RoutePattern | undefined,
    seconds: number,
  ): Fault {
    if (!Number.isInteger(count) || count < 1)
      throw new Error(`fault count must be a positive integer, got ${count}`);
    const fault: Fault = { kind, status, route, remaining: count, hits: 0, seconds };
    this.queue.push({ fault, matches: compile(route) });
    return fault;
  }

  /** The next `count` matching requests answer 500, 502 or 503 (default 503, once). */
  serverError(options: { status?: 500 | 502 | 503; count?: number; route?: RoutePattern } = {}): Fault {
    return this.add('server-error', options.status ?? 503, options.count ?? 1, options.route, 0);
  }

  /**
   * The next `count` matching requests hit the secondary rate limit: 403 (or 429), `retry-after` (default 1 s), and
   * GitHub's message, which octokit's throttling plugin recognizes.
   */
  secondaryRateLimit(
    options: { count?: number; route?: RoutePattern; retryAfter?: number; status?: 403 | 429 } = {},
  ): Fault {
    return this.add(
      'secondary-rate-limit',
      options.status ?? 403,
      options.count ?? 1,
      options.route,
      options.retryAfter ?? 1,
    );
  }

  /**
   * The next `count` matching requests find the primary rate limit spent: 403 (or 429) with
   * `x-ratelimit-remaining: 0` and `x-ratelimit-reset` `resetAfter` seconds ahead (default 1).
   */
  primaryRateLimit(
    options: { count?: number; route?: RoutePattern; resetAfter?: number; status?: 403 | 429 } = {},
  ): Fault {
    return this.add(
      'primary-rate-limit',
      options.status ?? 403,
      options.count ?? 1,
      options.route,
      options.resetAfter ?? 1,
    );
  }

  /** Faults that have requests left to answer. */
  get pending(): readonly Fault[] {
    return this.queue.map((q) => q.fault).filter((f) => f.remaining > 0);
  }

  clear(): void {
    this.queue.length = 0;
  }

  /** The fault that answers this request, if any (its count goes down by one). */
  take(method: string, path: string): Fault | undefined {
    const entry = this.queue.find((q) => q.fault.remaining > 0 && q.matches(method, path));
    if (!entry) return undefined;
    entry.fault.remaining--;
    entry.fault.hits++;
    return entry.fault;
  }
}
