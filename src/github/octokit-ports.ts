/** The ports of ./ports.ts over octokit, with GitHub's errors turned into slmops errors. */
import { ConfigurationError } from '../errors.ts';
import { type GitHubClient, GitHubUnavailableError, statusOf, unlessGone } from './client.ts';
import type { CheckPort, CheckRunInput, CommentPort, PullRequestPort } from './ports.ts';
import { WriteRefusedError } from './ports.ts';

export interface Repo {
  owner: string;
  repo: string;
}

/** Node's codes for a connection that could not be made or was lost. */
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE']);

/**
 * Maps GitHub's refusals: 401 → a bad token (user fixes it); 403 on a write → a read-only token; 5xx (after the
 * client's retries), a rate limit not waited out, no connection → GitHub unavailable.
 */
export async function guard<T>(what: string, write: boolean, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const status = statusOf(error);
    const message = error instanceof Error ? error.message : String(error);
    if (status === 401) {
      throw new ConfigurationError(`GitHub refused the token while trying to ${what} (401: ${message})`, {
        subject: 'github-token',
        fix: 'The token is expired, revoked or malformed: pass a valid token (the default ${{ github.token }} works)',
      });
    }
    if (
      write &&
      (status === 403 || status === 404) &&
      /not accessible|forbidden|permission|not found/i.test(message)
    ) {
      throw new WriteRefusedError(`GitHub refused to let this token ${what} (${status}: ${message})`);
    }
    const code = (error as { code?: unknown }).code;
    const unreachable = typeof code === 'string' && NETWORK_CODES.has(code);
    if (
      unreachable ||
      (status !== undefined &&
        (status >= 500 || status === 429 || (status === 403 && /rate limit/i.test(message))))
    ) {
      throw new GitHubUnavailableError(
        `GitHub did not answer while slmops tried to ${what} (${status ?? code}: ${message})`,
      );
    }
    throw error;
  }
}

export function commentPort(client: GitHubClient, repo: Repo): CommentPort {
  return {
    listComments: (issue) =>
      guard('read the pull request comments', false, async () => {
        const all = await client.paginate(client.rest.issues.listComments, {
          ...repo,
          issue_number: issue,
          per_page: 100,
        });
        return all.map((c) => ({ id: c.id, body: c.body ?? '' }));
      }),
    createComment: (issue, body) =>
      guard('comment on the pull request', true, async () => {
        const { data } = await client.rest.issues.createComment({ ...repo, issue_number: issue, body });
        return { id: data.id, body: data.body ?? '' };
      }),
    updateComment: (id, body) =>
      guard('update its pull request comment', true, async () => {
        // Deleted since it was listed: undefined, and the caller creates one.
        const updated = await unlessGone(() =>
          client.rest.issues.updateComment({ ...repo, comment_id: id, body }),
        );
        return updated && { id: updated.data.id, body: updated.data.body ?? '' };
      }),
    deleteComment: (id) =>
      guard('delete a duplicate pull request comment', true, async () => {
        await unlessGone(() => client.rest.issues.deleteComment({ ...repo, comment_id: id }));
      }),
  };
}

/** GitHub takes at most 50 annotations per request: the rest are added by updates of the same check run. */
const ANNOTATIONS_PER_REQUEST = 50;

export function checkPort(client: GitHubClient, repo: Repo): CheckPort {
  return {
    createCheckRun: (input: CheckRunInput) =>
      guard('create a check run', true, async () => {
        const annotations = input.annotations.map((a) => ({
          path: a.path,
          start_line: a.startLine,
          end_line: a.endLine,
          annotation_level: a.level,
          title: a.title,
          message: a.message,
        }));
        const output = (batch: typeof annotations) => ({
          title: input.title,
          summary: input.summary.slice(0, 65_535),
          annotations: batch,
        });
        const { data } = await client.rest.checks.create({
          ...repo,
          name: input.name,
          head_sha: input.headSha,
          status: 'completed',
          conclusion: input.conclusion,
          ...(input.detailsUrl ? { details_url: input.detailsUrl } : {}),
          output: output(annotations.slice(0, ANNOTATIONS_PER_REQUEST)),
        });
        for (let i = ANNOTATIONS_PER_REQUEST; i < annotations.length; i += ANNOTATIONS_PER_REQUEST) {
          await client.rest.checks.update({
            ...repo,
            check_run_id: data.id,
            output: output(annotations.slice(i, i + ANNOTATIONS_PER_REQUEST)),
          });
        }
        return data.id;
      }),
  };
}

export function pullRequestPort(client: GitHubClient, repo: Repo): PullRequestPort {
  return {
    labels: (issue) =>
      guard('read the pull request labels', false, async () => {
        const all = await client.paginate(client.rest.issues.listLabelsOnIssue, {
          ...repo,
          issue_number: issue,
          per_page: 100,
        });
        return all.map((l) => l.name);
      }),
    head: (issue) =>
      guard('read the pull request', false, async () => {
        const { data } = await client.rest.pulls.get({ ...repo, pull_number: issue });
        return { sha: data.head.sha, repository: data.head.repo?.full_name ?? '' };
      }),
  };
}
