/**
 * An octokit client for the test server, built like production clients (pagination, REST methods, retry and
 * throttling plugins) but with delays in milliseconds instead of seconds, and without the one-write-per-second pace
 * that the throttling plugin imposes (a test makes its writes back to back).
 */
import { Octokit as Core } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { restEndpointMethods } from '@octokit/plugin-rest-endpoint-methods';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { GitHubServer } from './server.ts';
import { TOKENS } from './state.ts';

export const TestOctokit = Core.plugin(paginateRest, restEndpointMethods, retry, throttling);
export type TestOctokit = InstanceType<typeof TestOctokit>;

type LimitHandler = (
  retryAfter: number,
  options: { method: string; url: string },
  octokit: unknown,
  retryCount: number,
) => boolean;

export interface TestOctokitOptions {
  readonly token?: string;
  /** Called on a secondary rate limit; return true to retry (default: retry up to 3 times). */
  readonly onSecondaryRateLimit?: LimitHandler;
  /** Called on a primary rate limit; return true to retry (default: retry up to 3 times). */
  readonly onRateLimit?: LimitHandler;
  /** Milliseconds per second of `retry-after` and backoff (default 1: a `retry-after: 1` waits 1 ms). */
  readonly msPerSecond?: number;
}

/** A throttling group that schedules at once (the plugin's groups wait 1 s between writes). */
const unpaced = {
  key: () => ({
    schedule: (_options: unknown, task: (...args: unknown[]) => unknown, ...args: unknown[]) => task(...args),
  }),
} as never;

export function testOctokit(
  server: Pick<GitHubServer, 'url'>,
  options: TestOctokitOptions = {},
): TestOctokit {
  const msPerSecond = options.msPerSecond ?? 1;
  const retryUpTo3: LimitHandler = (_after, _options, _octokit, retryCount) => retryCount < 3;
  return new TestOctokit({
    auth: options.token ?? TOKENS.write,
    baseUrl: server.url,
    retry: { retryAfterBaseValue: msPerSecond },
    throttle: {
      retryAfterBaseValue: msPerSecond,
      write: unpaced,
      notifications: unpaced,
      onSecondaryRateLimit: options.onSecondaryRateLimit ?? retryUpTo3,
      onRateLimit: options.onRateLimit ?? retryUpTo3,
    },
    log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} },
  });
}
