/** What the publish commands share on the command line: the repository, the token, and a logger to stderr. */
import type { Logger } from '../action-kit/logger.ts';
import { ConfigurationError } from '../errors.ts';
import { createGitHubClient } from '../github/client.ts';
import type { ReleasePort } from '../github/ports.ts';
import { releasePort } from './github-releases.ts';

/** `owner/name` → its parts; refused when it is not that shape. */
export function parseRepository(
  text: string | undefined,
  subject = '--repo',
): { owner: string; repo: string } {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\/([A-Za-z0-9._-]+)$/.exec(text ?? '');
  if (!m) {
    throw new ConfigurationError(text ? `'${text}' is not owner/name` : 'no repository given', {
      subject,
      fix: 'Pass --repo owner/name (or set GITHUB_REPOSITORY)',
    });
  }
  return { owner: m[1] as string, repo: m[2] as string };
}

/**
 * The releases of a repository through the GitHub API (`GITHUB_API_URL`, default api.github.com), with the token
 * from `GITHUB_TOKEN` or `GH_TOKEN` (never a command-line flag: it would show in process lists). Without a token,
 * public repositories can still be read.
 */
export function connectReleases(
  repository: { owner: string; repo: string },
  env: NodeJS.ProcessEnv,
  log: Logger,
  options: { write?: boolean } = {},
): ReleasePort {
  const token = env.GITHUB_TOKEN || env.GH_TOKEN || '';
  if (options.write && token === '') {
    throw new ConfigurationError('no token to write releases with', {
      subject: 'GITHUB_TOKEN',
      fix: 'Set GITHUB_TOKEN (or GH_TOKEN) to a token with contents: write on the repository',
    });
  }
  const client = createGitHubClient({
    token,
    ...(env.GITHUB_API_URL ? { baseUrl: env.GITHUB_API_URL } : {}),
    log,
  });
  return releasePort(client, repository);
}

/** A logger writing progress to a line sink (the CLI's standard error); debug lines only when asked. */
export function lineLogger(
  write: (line: string) => void,
  options: { quiet?: boolean; debug?: boolean } = {},
): Logger {
  return {
    info: (m) => {
      if (!options.quiet) write(m);
    },
    warning: (m) => write(`warning: ${m}`),
    error: (m) => write(`error: ${m}`),
    debug: (m) => {
      if (options.debug) write(`debug: ${m}`);
    },
    group: (_name, fn) => fn(),
  };
}
