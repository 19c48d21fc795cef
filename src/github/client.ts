/**
 * The one way slmops talks to GitHub: octokit with retry (5xx bursts), throttling (primary and secondary rate
 * limits) and pagination. Only this folder imports octokit; domain code uses the ports in ./ports.ts.
 */
import { Octokit } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { restEndpointMethods } from '@octokit/plugin-rest-endpoint-methods';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { VERSION } from '../version.ts';

const SlmopsOctokit = Octokit.plugin(paginateRest, restEndpointMethods, retry, throttling);
export type GitHubClient = InstanceType<typeof SlmopsOctokit>;

export interface ClientOptions {
  token: string;
  /** REST API base URL: GITHUB_API_URL on a runner (GitHub Enterprise Server too). */
  baseUrl?: string;
  log?: { warning(message: string): void; debug(message: string): void };
  /** Retries of a request refused by a rate limit (secondary or primary). */
  rateLimitRetries?: number;
  /** Base of the retry backoff for 5xx answers, ms (default 1000; tests set it low). */
  retryBaseMs?: number;
}

/** The longest rate-limit wait slmops sits out before a retry. */
const MAX_WAIT_S = 120;

export function createGitHubClient(options: ClientOptions): GitHubClient {
  const retries = options.rateLimitRetries ?? 3;
  const baseMs = options.retryBaseMs ?? (Number(process.env.SLMOPS_GITHUB_RETRY_BASE_MS) || 1000);
  const log = options.log;
  /**
   * Retries a request a rate limit refused, up to `retries` times, after GitHub's retry-after, unless that is more
   * than `MAX_WAIT_S` away (a spent hourly limit): a job should fail and say so rather than sleep for an hour.
   */
  const onLimit =
    (what: string) =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const where = `GitHub ${what} on ${request.method} ${request.url}`;
      if (retryCount >= retries) {
        log?.warning(`${where}; giving up after ${retries} retries`);
        return false;
      }
      if (retryAfter > MAX_WAIT_S) {
        log?.warning(`${where}; it resets in ${retryAfter} s, longer than slmops waits (${MAX_WAIT_S} s)`);
        return false;
      }
      log?.warning(`${where}; retrying in ${retryAfter} s (${retryCount + 1}/${retries})`);
      return true;
    };
  return new SlmopsOctokit({
    auth: options.token,
    baseUrl: options.baseUrl ?? process.env.GITHUB_API_URL ?? 'https://api.github.com',
    userAgent: `slmops/${VERSION}`,
    log: {
      debug: () => {},
      info: () => {},
      warn: (m: string) => log?.debug(m),
      error: (m: string) => log?.debug(m),
    },
    retry: { retries: 3, retryAfterBaseValue: baseMs, doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451] },
    throttle: {
      fallbackSecondaryRateRetryAfter: 60,
      onRateLimit: onLimit('rate limit'),
      onSecondaryRateLimit: onLimit('secondary rate limit'),
    },
  });
}

export { GitHubUnavailableError } from '../errors.ts';

/** `call`'s result, or undefined when GitHub answers 404: the thing was never there or is gone already. */
export async function unlessGone<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

/** An HTTP status from a failed octokit request, if it is one. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}
