/**
 * The in-memory GitHub the test server serves: repositories with their issues and pull requests, comments, labels,
 * commits and refs, check runs, releases with their assets (bytes kept), workflow runs with their artifacts, and
 * the tokens that may call it. Tests seed it through `fixtures.ts` and read it to assert what an action did.
 */

export type TokenScope = 'write' | 'read';

export interface TokenInfo {
  /** `write`: a `GITHUB_TOKEN` with write permissions; `read`: what pull requests from forks get. */
  scopes: TokenScope;
  /** An expired token is refused with 401 `Bad credentials`. */
  expired?: boolean;
  /** Who writes with this token; default `github-actions[bot]`. */
  login?: string;
}

export interface Account {
  readonly login: string;
  readonly id: number;
  readonly type: 'User' | 'Bot' | 'Organization';
}

export const GITHUB_ACTIONS_BOT: Account = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' };

/** A repository as other objects refer to it (a fork's head repository need not be served). */
export interface RepoIdentity {
  readonly owner: Account;
  readonly name: string;
  readonly id: number;
  readonly fork: boolean;
  readonly private: boolean;
  readonly defaultBranch: string;
  readonly createdAt: string;
}

export interface Label {
  readonly id: number;
  readonly name: string;
  color: string;
  description: string | null;
  readonly default: boolean;
}

export interface Comment {
  readonly id: number;
  readonly issueNumber: number;
  body: string;
  readonly user: Account;
  readonly createdAt: string;
  updatedAt: string;
}

export interface Issue {
  readonly number: number;
  readonly id: number;
  title: string;
  body: string | null;
  readonly user: Account;
  state: 'open' | 'closed';
  /** Label names, in the order they were added. */
  labels: string[];
  readonly isPullRequest: boolean;
  readonly createdAt: string;
  updatedAt: string;
}

export interface PullRequest {
  readonly number: number;
  readonly id: number;
  headSha: string;
  baseSha: string;
  headRef: string;
  baseRef: string;
  /** The repository the head branch lives in: the base repository itself, or a fork. */
  readonly headRepo: RepoIdentity;
  /** The test merge commit GitHub makes for an open pull request (`refs/pull/N/merge`). */
  mergeCommitSha: string;
  draft: boolean;
  merged: boolean;
}

export interface Commit {
  readonly sha: string;
  readonly treeSha: string;
  readonly message: string;
  readonly parents: readonly string[];
  readonly author: { readonly name: string; readonly email: string; readonly date: string };
}

export interface Annotation {
  readonly path: string;
  readonly start_line: number;
  readonly end_line: number;
  readonly start_column?: number;
  readonly end_column?: number;
  readonly annotation_level: 'notice' | 'warning' | 'failure';
  readonly message: string;
  readonly title?: string;
  readonly raw_details?: string;
}

export interface CheckRun {
  readonly id: number;
  readonly headSha: string;
  name: string;
  status: 'queued' | 'in_progress' | 'completed' | 'waiting' | 'requested' | 'pending';
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null; annotations: Annotation[] };
  readonly checkSuiteId: number;
  /** Every request body that created or updated the run, in order. */
  readonly history: unknown[];
}

export interface Asset {
  readonly id: number;
  name: string;
  label: string | null;
  readonly contentType: string;
  readonly size: number;
  /** Hex SHA-256 of `content`. */
  readonly sha256: string;
  readonly content: Buffer;
  readonly uploader: Account;
  downloadCount: number;
  readonly createdAt: string;
  updatedAt: string;
}

export interface Release {
  readonly id: number;
  tagName: string;
  targetCommitish: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  readonly createdAt: string;
  publishedAt: string | null;
  updatedAt: string;
  readonly author: Account;
  readonly assets: Map<number, Asset>;
  /** The `untagged-…` name GitHub gives a draft in its web URLs. */
  readonly untaggedName: string;
}

export interface Artifact {
  readonly id: number;
  readonly runId: number;
  readonly name: string;
  /** The zip archive GitHub serves for the artifact. */
  readonly zip: Buffer;
  readonly sha256: string;
  expired: boolean;
  readonly createdAt: string;
  readonly expiresAt: string;
}

export interface WorkflowRun {
  readonly id: number;
  readonly name: string;
  readonly path: string;
  readonly workflowId: number;
  readonly runNumber: number;
  readonly runAttempt: number;
  readonly event: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: string | null;
  readonly headSha: string;
  readonly headBranch: string;
  readonly headRepo: RepoIdentity;
  /** The pull requests GitHub lists on the run: none for a pull request from a fork. */
  readonly pullRequests: readonly number[];
  readonly actor: Account;
  readonly createdAt: string;
  updatedAt: string;
}

export interface Repo extends RepoIdentity {
  readonly issues: Map<number, Issue>;
  readonly pulls: Map<number, PullRequest>;
  /** Every issue comment of the repository, by id. */
  readonly comments: Map<number, Comment>;
  /** The repository's labels, by lower-case name. */
  readonly labels: Map<string, Label>;
  readonly commits: Map<string, Commit>;
  /** Fully qualified ref (`refs/tags/v1`) → commit SHA. */
  readonly refs: Map<string, string>;
  readonly checkRuns: Map<number, CheckRun>;
  /** Head SHA → check suite id (one suite per commit for the GitHub Actions app). */
  readonly checkSuites: Map<string, number>;
  readonly releases: Map<number, Release>;
  latestReleaseId: number | undefined;
  readonly workflowRuns: Map<number, WorkflowRun>;
  readonly artifacts: Map<number, Artifact>;
  nextIssueNumber: number;
}

export interface GitHubState {
  /** By lower-case `owner/name` (GitHub's names are not case sensitive). */
  readonly repos: Map<string, Repo>;
  readonly tokens: Map<string, TokenInfo>;
  /** Accounts by login; the token owners and comment authors. */
  readonly accounts: Map<string, Account>;
  readonly limits: {
    /** GitHub refuses release assets of 2 GiB and more. */
    maxAssetBytes: number;
    /** GitHub refuses comment bodies longer than 65536 characters. */
    maxCommentLength: number;
  };
  /** Ids are unique across every kind of object. */
  nextId(): number;
  now(): string;
}

export const TOKENS = {
  /** A `GITHUB_TOKEN` with write permissions (the runner-style harness passes this one by default). */
  write: 'ghs_slmopsHarnessFakeToken000000000000',
  /** The read-only token of a pull request from a fork. */
  read: 'ghs_slmopsReadOnlyForkToken00000000000',
  expired: 'ghs_slmopsExpiredToken000000000000000',
} as const;

/** GitHub's timestamps: ISO 8601 in UTC, whole seconds. */
export function timestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function createState(): GitHubState {
  let id = 1000;
  return {
    repos: new Map(),
    tokens: new Map<string, TokenInfo>([
      [TOKENS.write, { scopes: 'write' }],
      [TOKENS.read, { scopes: 'read' }],
      [TOKENS.expired, { scopes: 'write', expired: true }],
    ]),
    accounts: new Map([[GITHUB_ACTIONS_BOT.login, GITHUB_ACTIONS_BOT]]),
    limits: { maxAssetBytes: 2 * 1024 ** 3 - 1, maxCommentLength: 65536 },
    nextId: () => ++id,
    now: () => timestamp(),
  };
}

/** The account of a login, created (as a user) the first time it is seen. */
export function account(state: GitHubState, login: string, type: Account['type'] = 'User'): Account {
  let found = state.accounts.get(login);
  if (!found) {
    found = { login, id: state.nextId(), type };
    state.accounts.set(login, found);
  }
  return found;
}

export function repoKey(owner: string, name: string): string {
  return `${owner}/${name}`.toLowerCase();
}

export function findRepo(state: GitHubState, owner: string, name: string): Repo | undefined {
  return state.repos.get(repoKey(owner, name));
}

/** A repository, created empty the first time (with an owner account and a default branch without commits). */
export function ensureRepo(
  state: GitHubState,
  owner: string,
  name: string,
  options: { defaultBranch?: string; private?: boolean } = {},
): Repo {
  const existing = findRepo(state, owner, name);
  if (existing) return existing;
  const repo: Repo = {
    owner: account(state, owner, 'Organization'),
    name,
    id: state.nextId(),
    fork: false,
    private: options.private ?? false,
    defaultBranch: options.defaultBranch ?? 'main',
    createdAt: state.now(),
    issues: new Map(),
    pulls: new Map(),
    comments: new Map(),
    labels: new Map(),
    commits: new Map(),
    refs: new Map(),
    checkRuns: new Map(),
    checkSuites: new Map(),
    releases: new Map(),
    latestReleaseId: undefined,
    workflowRuns: new Map(),
    artifacts: new Map(),
    nextIssueNumber: 1,
  };
  state.repos.set(repoKey(owner, name), repo);
  return repo;
}

/** The commit a ref name points at: a full SHA, a branch, a tag, or a fully qualified ref. */
export function resolveCommit(repo: Repo, ref: string): Commit | undefined {
  if (/^[0-9a-f]{40}$/i.test(ref)) return repo.commits.get(ref.toLowerCase());
  const candidates = ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
  for (const candidate of candidates) {
    const sha = repo.refs.get(candidate);
    if (sha) return repo.commits.get(sha);
  }
  if (/^[0-9a-f]{7,39}$/i.test(ref)) {
    const matches = [...repo.commits.keys()].filter((sha) => sha.startsWith(ref.toLowerCase()));
    if (matches.length === 1) return repo.commits.get(matches[0] as string);
  }
  return undefined;
}
