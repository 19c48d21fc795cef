/**
 * Seeding the test server's state (repositories, pull requests with comments and labels, releases, workflow runs
 * with artifacts) and building the event payloads a runner hands an action (`GITHUB_EVENT_PATH`), shaped like
 * GitHub's webhook payloads and checked against their `x-webhooks` schemas in the OpenAPI description.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { pullJson, repoJson, userJson, workflowRunJson } from './representations.ts';
import { ensureLabel } from './routes/issues.ts';
import type { GitHubServer } from './server.ts';
import {
  type Account,
  type Artifact,
  account,
  type Commit,
  ensureRepo,
  findRepo,
  type Issue,
  type PullRequest,
  type Release,
  type Repo,
  type RepoIdentity,
  TOKENS,
  type WorkflowRun,
} from './state.ts';

export interface RepoRef {
  readonly owner: string;
  readonly repo: string;
}

/** A deterministic 40-hex SHA for a seed string (`fakeSha('head')`). */
export function fakeSha(seed: string): string {
  return createHash('sha1').update(seed).digest('hex');
}

function repoOf(server: GitHubServer, ref: RepoRef): Repo {
  const repo = findRepo(server.state, ref.owner, ref.repo);
  if (!repo) throw new Error(`${ref.owner}/${ref.repo} is not seeded`);
  return repo;
}

/** A commit in the repository (and, with `branch`, that branch pointing at it). */
export function seedCommit(
  server: GitHubServer,
  options: RepoRef & { sha?: string; message?: string; parents?: readonly string[]; branch?: string },
): Commit {
  const repo = ensureRepo(server.state, options.owner, options.repo);
  const sha = (options.sha ?? fakeSha(`${options.owner}/${options.repo}:${repo.commits.size}`)).toLowerCase();
  const existing = repo.commits.get(sha);
  const commit: Commit = existing ?? {
    sha,
    treeSha: fakeSha(`tree:${sha}`),
    message: options.message ?? `commit ${sha.slice(0, 7)}`,
    parents: options.parents ?? [],
    author: { name: 'Octo Cat', email: 'octocat@example.com', date: server.state.now() },
  };
  repo.commits.set(sha, commit);
  if (options.branch) repo.refs.set(`refs/heads/${options.branch}`, sha);
  return commit;
}

/** A repository with one commit on its default branch (`main`). */
export function seedRepo(
  server: GitHubServer,
  options: RepoRef & { defaultBranch?: string; private?: boolean; headSha?: string },
): Repo {
  const repo = ensureRepo(server.state, options.owner, options.repo, {
    ...(options.defaultBranch ? { defaultBranch: options.defaultBranch } : {}),
    ...(options.private !== undefined ? { private: options.private } : {}),
  });
  if (!repo.refs.has(`refs/heads/${repo.defaultBranch}`)) {
    seedCommit(server, {
      ...options,
      sha: options.headSha ?? fakeSha(`${options.owner}/${options.repo}:${repo.defaultBranch}`),
      message: 'Initial commit',
      branch: repo.defaultBranch,
    });
  }
  return repo;
}

const OTHER_USERS = ['octocat', 'hubot', 'monalisa'] as const;

export interface SeedPullRequestOptions extends RepoRef {
  readonly number: number;
  readonly headSha: string;
  readonly baseSha: string;
  /** The head branch lives in a fork (`<forkOwner>/<repo>`); its token is read-only. */
  readonly fork?: boolean;
  /** Owner of the fork; default `contributor`. */
  readonly forkOwner?: string;
  readonly headRef?: string;
  readonly baseRef?: string;
  readonly title?: string;
  readonly author?: string;
  /** Comments already on the pull request: a count (written by other users) or the comments themselves. */
  readonly comments?: number | readonly { body: string; user?: string }[];
  readonly labels?: readonly string[];
  readonly draft?: boolean;
}

/**
 * A pull request with its head, base and test-merge commits and refs (`refs/pull/N/head`, `refs/pull/N/merge`),
 * pre-existing comments by other users, and labels.
 */
export function seedPullRequest(server: GitHubServer, options: SeedPullRequestOptions): PullRequest {
  const { state } = server;
  const repo = seedRepo(server, options);
  const baseRef = options.baseRef ?? repo.defaultBranch;
  const headRef = options.headRef ?? `feature-${options.number}`;
  if (repo.issues.has(options.number))
    throw new Error(`#${options.number} already exists in ${options.owner}/${options.repo}`);

  seedCommit(server, { ...options, sha: options.baseSha, message: 'Base commit' });
  seedCommit(server, {
    ...options,
    sha: options.headSha,
    message: 'Head commit',
    parents: [options.baseSha],
  });
  const merge = seedCommit(server, {
    ...options,
    sha: fakeSha(
      `merge:${options.owner}/${options.repo}#${options.number}:${options.headSha}:${options.baseSha}`,
    ),
    message: `Merge ${options.headSha} into ${options.baseSha}`,
    parents: [options.baseSha, options.headSha],
  });
  repo.refs.set(`refs/pull/${options.number}/head`, options.headSha.toLowerCase());
  repo.refs.set(`refs/pull/${options.number}/merge`, merge.sha);
  if (!repo.refs.has(`refs/heads/${baseRef}`))
    repo.refs.set(`refs/heads/${baseRef}`, options.baseSha.toLowerCase());

  const headRepo: RepoIdentity = options.fork
    ? {
        owner: account(state, options.forkOwner ?? 'contributor'),
        name: repo.name,
        id: state.nextId(),
        fork: true,
        private: false,
        defaultBranch: repo.defaultBranch,
        createdAt: state.now(),
      }
    : repo;
  if (!options.fork) repo.refs.set(`refs/heads/${headRef}`, options.headSha.toLowerCase());

  const now = state.now();
  const author = account(
    state,
    options.author ?? (options.fork ? (options.forkOwner ?? 'contributor') : 'octocat'),
  );
  const issue: Issue = {
    number: options.number,
    id: state.nextId(),
    title: options.title ?? `Pull request #${options.number}`,
    body: null,
    user: author,
    state: 'open',
    labels: [],
    isPullRequest: true,
    createdAt: now,
    updatedAt: now,
  };
  repo.issues.set(issue.number, issue);
  repo.nextIssueNumber = Math.max(repo.nextIssueNumber, options.number + 1);
  for (const name of options.labels ?? []) issue.labels.push(ensureLabel(server, repo, name).name);

  const comments =
    typeof options.comments === 'number'
      ? Array.from({ length: options.comments }, (_, i) => ({
          body: `Comment ${i + 1}`,
          user: OTHER_USERS[i % OTHER_USERS.length] as string,
        }))
      : (options.comments ?? []);
  for (const c of comments) {
    const id = state.nextId();
    repo.comments.set(id, {
      id,
      issueNumber: issue.number,
      body: c.body,
      user: account(state, c.user ?? 'octocat'),
      createdAt: now,
      updatedAt: now,
    });
  }

  const pull: PullRequest = {
    number: options.number,
    id: state.nextId(),
    headSha: options.headSha.toLowerCase(),
    baseSha: options.baseSha.toLowerCase(),
    headRef,
    baseRef,
    headRepo,
    mergeCommitSha: merge.sha,
    draft: options.draft ?? false,
    merged: false,
  };
  repo.pulls.set(pull.number, pull);
  return pull;
}

/** A release already on the repository (published unless `draft`), with assets. */
export function seedRelease(
  server: GitHubServer,
  options: RepoRef & {
    tag: string;
    draft?: boolean;
    prerelease?: boolean;
    name?: string;
    assets?: Readonly<Record<string, string | Uint8Array>>;
  },
): Release {
  const { state } = server;
  const repo = seedRepo(server, options);
  const now = state.now();
  const release: Release = {
    id: state.nextId(),
    tagName: options.tag,
    targetCommitish: repo.defaultBranch,
    name: options.name ?? options.tag,
    body: null,
    draft: options.draft ?? false,
    prerelease: options.prerelease ?? false,
    createdAt: now,
    publishedAt: options.draft ? null : now,
    updatedAt: now,
    author: account(state, 'octocat'),
    assets: new Map(),
    untaggedName: `untagged-${fakeSha(`release:${options.tag}:${now}:${repo.releases.size}`).slice(0, 20)}`,
  };
  for (const [name, data] of Object.entries(options.assets ?? {})) {
    const content = Buffer.from(data);
    const id = state.nextId();
    release.assets.set(id, {
      id,
      name,
      label: null,
      contentType: 'application/octet-stream',
      size: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
      content,
      uploader: release.author,
      downloadCount: 0,
      createdAt: now,
      updatedAt: now,
    });
  }
  repo.releases.set(release.id, release);
  if (!release.draft) {
    const tagRef = `refs/tags/${options.tag}`;
    const main = repo.refs.get(`refs/heads/${repo.defaultBranch}`);
    if (!repo.refs.has(tagRef) && main) repo.refs.set(tagRef, main);
    if (!release.prerelease) repo.latestReleaseId = release.id;
  }
  return release;
}

/** A zip archive (stored, not compressed) of the files, as GitHub serves an artifact. */
export function zipFiles(files: Readonly<Record<string, string | Uint8Array>>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const content = Buffer.from(data);
    const fileName = Buffer.from(name, 'utf8');
    const crc = crc32(content);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(0, 8);
    local.writeUInt16LE(0, 10);
    local.writeUInt16LE(33, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(content.length, 18);
    local.writeUInt32LE(content.length, 22);
    local.writeUInt16LE(fileName.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(33, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(content.length, 20);
    central.writeUInt32LE(content.length, 24);
    central.writeUInt16LE(fileName.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fileName, content);
    centrals.push(central, fileName);
    offset += local.length + fileName.length + content.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export interface SeedWorkflowRunOptions extends RepoRef {
  readonly id?: number;
  /** Default `pull_request` when `pullRequest` is given, else `push`. */
  readonly event?: string;
  readonly name?: string;
  readonly path?: string;
  /** The pull request the run measured (seeded first). For a fork, GitHub lists no pull requests on the run. */
  readonly pullRequest?: number;
  readonly headSha?: string;
  readonly headBranch?: string;
  readonly conclusion?: 'success' | 'failure' | 'cancelled' | null;
  /** Artifact name → its files (zipped) or the zip itself. */
  readonly artifacts?: Readonly<Record<string, Readonly<Record<string, string | Uint8Array>> | Buffer>>;
}

/** A completed workflow run with its artifacts. */
export function seedWorkflowRun(server: GitHubServer, options: SeedWorkflowRunOptions): WorkflowRun {
  const { state } = server;
  const repo = seedRepo(server, options);
  const pull = options.pullRequest === undefined ? undefined : repo.pulls.get(options.pullRequest);
  if (options.pullRequest !== undefined && !pull)
    throw new Error(`seed pull request #${options.pullRequest} first`);
  const headSha = options.headSha ?? pull?.headSha ?? repo.refs.get(`refs/heads/${repo.defaultBranch}`);
  if (!headSha) throw new Error('a workflow run needs a head SHA');
  if (!repo.commits.has(headSha)) seedCommit(server, { ...options, sha: headSha });
  const now = state.now();
  const run: WorkflowRun = {
    id: options.id ?? state.nextId(),
    name: options.name ?? 'benchmark',
    path: options.path ?? '.github/workflows/benchmark.yml',
    workflowId: 7001,
    runNumber: repo.workflowRuns.size + 1,
    runAttempt: 1,
    event: options.event ?? (pull ? 'pull_request' : 'push'),
    status: 'completed',
    conclusion: options.conclusion === undefined ? 'success' : options.conclusion,
    headSha,
    headBranch: options.headBranch ?? pull?.headRef ?? repo.defaultBranch,
    headRepo: pull?.headRepo ?? repo,
    pullRequests: pull && !pull.headRepo.fork ? [pull.number] : [],
    actor: pull
      ? (repo.issues.get(pull.number)?.user ?? account(state, 'octocat'))
      : account(state, 'octocat'),
    createdAt: now,
    updatedAt: now,
  };
  repo.workflowRuns.set(run.id, run);
  for (const [name, content] of Object.entries(options.artifacts ?? {})) {
    seedArtifact(server, { owner: options.owner, repo: options.repo, runId: run.id, name, content });
  }
  return run;
}

/** An artifact of a workflow run: its files (zipped here) or a zip. */
export function seedArtifact(
  server: GitHubServer,
  options: RepoRef & {
    runId: number;
    name: string;
    content: Readonly<Record<string, string | Uint8Array>> | Buffer;
    expired?: boolean;
  },
): Artifact {
  const repo = repoOf(server, options);
  const zip = Buffer.isBuffer(options.content) ? options.content : zipFiles(options.content);
  const now = new Date();
  const artifact: Artifact = {
    id: server.state.nextId(),
    runId: options.runId,
    name: options.name,
    zip,
    sha256: createHash('sha256').update(zip).digest('hex'),
    expired: options.expired ?? false,
    createdAt: server.state.now(),
    expiresAt: new Date(now.getTime() + 90 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  repo.artifacts.set(artifact.id, artifact);
  return artifact;
}

type Json = Record<string, unknown>;

function senderOf(server: GitHubServer, login: string): Account {
  return account(server.state, login);
}

/**
 * The `pull_request` event payload of a seeded pull request, as a runner writes it to `GITHUB_EVENT_PATH`
 * (`pull_request.number`, `head.sha`, `head.repo.full_name` — the fork for a fork — `base.repo.full_name`,
 * `repository.full_name`).
 */
export function pullRequestEvent(
  server: GitHubServer,
  options: RepoRef & { number: number; action?: 'opened' | 'synchronize' | 'reopened'; before?: string },
): Json {
  const repo = repoOf(server, options);
  const pull = repo.pulls.get(options.number);
  const issue = repo.issues.get(options.number);
  if (!pull || !issue) throw new Error(`seed pull request #${options.number} first`);
  const urls = { api: server.url, uploads: server.uploadsUrl, web: server.webUrl };
  const action = options.action ?? 'synchronize';
  return {
    action,
    number: pull.number,
    ...(action === 'synchronize' ? { before: options.before ?? pull.baseSha, after: pull.headSha } : {}),
    pull_request: pullJson(repo, pull, urls),
    repository: repoJson(repo, urls),
    sender: userJson(senderOf(server, issue.user.login), urls),
  };
}

/**
 * The `workflow_run` event payload of a seeded run (what a privileged follow-up workflow receives); for a pull
 * request from a fork `workflow_run.pull_requests` is empty, as on GitHub.
 */
export function workflowRunEvent(
  server: GitHubServer,
  options: RepoRef & { runId: number; action?: 'completed' | 'requested' },
): Json {
  const repo = repoOf(server, options);
  const run = repo.workflowRuns.get(options.runId);
  if (!run) throw new Error(`seed workflow run ${options.runId} first`);
  const urls = { api: server.url, uploads: server.uploadsUrl, web: server.webUrl };
  const full = `${repo.owner.login}/${repo.name}`;
  return {
    action: options.action ?? 'completed',
    workflow_run: workflowRunJson(repo, run, urls),
    workflow: {
      id: run.workflowId,
      node_id: `W_${run.workflowId}`,
      name: run.name,
      path: run.path,
      state: 'active',
      created_at: repo.createdAt,
      updated_at: repo.createdAt,
      url: `${urls.api}/repos/${full}/actions/workflows/${run.workflowId}`,
      html_url: `${urls.web}/${full}/blob/${repo.defaultBranch}/${run.path}`,
      badge_url: `${urls.web}/${full}/workflows/${encodeURIComponent(run.name)}/badge.svg`,
    },
    repository: repoJson(repo, urls),
    sender: userJson(run.actor, urls),
  };
}

/**
 * The environment a runner gives an action for this server and repository: `GITHUB_API_URL`,
 * `GITHUB_SERVER_URL`, `GITHUB_GRAPHQL_URL`, `GITHUB_REPOSITORY(_OWNER)`, `GITHUB_EVENT_NAME`, `GITHUB_SHA`,
 * `GITHUB_REF`, and the token as `GITHUB_TOKEN` (default the write token). For a seeded pull request
 * (`pullRequest`), `GITHUB_SHA` and `GITHUB_REF` are its test merge commit and `refs/pull/N/merge`.
 */
export function githubEnv(
  server: GitHubServer,
  options: RepoRef & { eventName?: string; pullRequest?: number; sha?: string; ref?: string; token?: string },
): Record<string, string> {
  const repo = repoOf(server, options);
  const pull = options.pullRequest === undefined ? undefined : repo.pulls.get(options.pullRequest);
  const main = repo.refs.get(`refs/heads/${repo.defaultBranch}`) ?? '';
  return {
    GITHUB_API_URL: server.url,
    GITHUB_SERVER_URL: server.webUrl,
    GITHUB_GRAPHQL_URL: `${server.url}/graphql`,
    GITHUB_REPOSITORY: `${repo.owner.login}/${repo.name}`,
    GITHUB_REPOSITORY_OWNER: repo.owner.login,
    GITHUB_EVENT_NAME: options.eventName ?? (pull ? 'pull_request' : 'push'),
    GITHUB_SHA: options.sha ?? pull?.mergeCommitSha ?? main,
    GITHUB_REF: options.ref ?? (pull ? `refs/pull/${pull.number}/merge` : `refs/heads/${repo.defaultBranch}`),
    GITHUB_TOKEN: options.token ?? (pull?.headRepo.fork ? TOKENS.read : TOKENS.write),
  };
}
