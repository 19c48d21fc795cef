/**
 * The test server for one test file: started before the tests, closed after; before each test the state is fresh,
 * and after each test the test fails if any request or response broke GitHub's OpenAPI description (a test that
 * provokes a violation on purpose takes it with `server.takeViolations()`).
 *
 *   const github = useGitHubServer();
 *   it('…', async () => { seedPullRequest(github.server, …); … });
 */
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type GitHubServer, type GitHubServerOptions, startGitHubServer } from './server.ts';

export interface UseGitHubServerOptions extends GitHubServerOptions {
  /** Keep the state from one test to the next (default false: `reset()` before each test). */
  readonly keepState?: boolean;
  /** Do not fail a test that left violations (default false). */
  readonly allowViolations?: boolean;
}

export function useGitHubServer(options: UseGitHubServerOptions = {}): { readonly server: GitHubServer } {
  let current: GitHubServer | undefined;
  beforeAll(async () => {
    current = await startGitHubServer(options);
  });
  beforeEach(() => {
    if (!options.keepState) current?.reset();
  });
  afterEach(() => {
    if (!options.allowViolations) current?.assertNoViolations();
  });
  afterAll(async () => {
    await current?.close();
  });
  return {
    get server(): GitHubServer {
      if (!current)
        throw new Error('the GitHub test server starts in beforeAll; use it inside a test or hook');
      return current;
    },
  };
}
