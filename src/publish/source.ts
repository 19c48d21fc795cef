/**
 * Where a bundle was built from: repository, commit, ref, and the commit's time (the bundle's `createdAt`, so the
 * same commit gives the same manifest). The runner's `GITHUB_*` variables come first, then `git` in the folder;
 * `SOURCE_DATE_EPOCH` (reproducible-builds.org) overrides the time.
 */
import { execFileSync } from 'node:child_process';
import { ConfigurationError } from '../errors.ts';

export interface SourceInfo {
  /** `owner/name`. */
  readonly repository: string;
  /** Full commit SHA (40 or 64 hex digits). */
  readonly commit: string;
  /** `refs/tags/v1.2.0`, `refs/heads/main`, or the commit when detached. */
  readonly ref: string;
  /** ISO 8601 time in UTC, whole seconds. */
  readonly time: string;
}

export interface ResolveSourceOptions {
  /** A folder inside the checkout (git runs there). */
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Asks GitHub for a commit's time when git cannot tell (a runner without the history). */
  readonly commitTime?: (sha: string) => Promise<string | undefined>;
}

function git(dir: string, args: readonly string[]): string | undefined {
  try {
    const out = execFileSync('git', ['-C', dir, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
    return out === '' ? undefined : out;
  } catch {
    return undefined;
  }
}

/** `owner/name` from a GitHub remote URL (https, ssh, or scp-like), if it is one. */
export function repositoryFromRemote(url: string): string | undefined {
  const m = /^(?:[a-z+]+:\/\/(?:[^@/]+@)?[^/]+\/|[^@\s]+@[^:\s]+:)([^/\s]+)\/([^/\s]+?)(?:\.git)?\/?$/.exec(
    url.trim(),
  );
  return m ? `${m[1]}/${m[2]}` : undefined;
}

/** ISO 8601 in UTC with whole seconds (`2026-11-29T12:00:00Z`). */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `SOURCE_DATE_EPOCH` as a time, undefined when unset; refused when it is not a whole number of seconds. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env.SOURCE_DATE_EPOCH?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw) * 1000)) {
    throw new ConfigurationError(`'${raw}' is not a number of seconds since 1970`, {
      subject: 'SOURCE_DATE_EPOCH',
      fix: 'Set it to the commit time, e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)',
    });
  }
  return isoSeconds(new Date(Number(raw) * 1000));
}

export async function resolveSource(options: ResolveSourceOptions): Promise<SourceInfo> {
  const { dir, env } = options;
  const remote = git(dir, ['remote', 'get-url', 'origin']);
  const repository = env.GITHUB_REPOSITORY || (remote ? repositoryFromRemote(remote) : undefined);
  const commit = (env.GITHUB_SHA || git(dir, ['rev-parse', 'HEAD']))?.toLowerCase();
  const missing: string[] = [];
  if (!repository) missing.push('the repository (GITHUB_REPOSITORY, or a git remote "origin" on GitHub)');
  if (!commit || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit))
    missing.push('the commit (GITHUB_SHA, or a git checkout)');
  if (!repository || !commit || missing.length > 0) {
    throw new ConfigurationError(
      `cannot tell which source the bundle is built from: no ${missing.join(', no ')}`,
      {
        subject: dir,
        fix: 'Run inside the git checkout of the model repository (actions/checkout on a runner), or set GITHUB_REPOSITORY and GITHUB_SHA',
      },
    );
  }
  let ref = env.GITHUB_REF || git(dir, ['symbolic-ref', '-q', 'HEAD']);
  if (!ref) {
    const tag = git(dir, ['describe', '--tags', '--exact-match', 'HEAD']);
    ref = tag ? `refs/tags/${tag}` : commit;
  }
  let time = sourceDateEpoch(env);
  if (time === undefined) {
    const seconds = git(dir, ['show', '-s', '--format=%ct', commit]);
    if (seconds && /^\d+$/.test(seconds)) time = isoSeconds(new Date(Number(seconds) * 1000));
  }
  if (time === undefined && options.commitTime) {
    const fromApi = await options.commitTime(commit);
    if (fromApi) time = isoSeconds(new Date(fromApi));
  }
  if (time === undefined) {
    throw new ConfigurationError(`cannot find the time of commit ${commit}`, {
      subject: 'createdAt',
      fix: 'Run inside a git checkout that has the commit, or set SOURCE_DATE_EPOCH to its time in seconds',
    });
  }
  return { repository, commit, ref, time };
}
