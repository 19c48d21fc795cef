/** What the gate and publish need from GitHub, as small interfaces: tests pass objects, production passes octokit. */

export interface IssueComment {
  id: number;
  body: string;
}

export interface CommentPort {
  /** Every comment of the issue or pull request, all pages. */
  listComments(issueNumber: number): Promise<IssueComment[]>;
  createComment(issueNumber: number, body: string): Promise<IssueComment>;
  /** The updated comment, or undefined when it no longer exists (deleted since it was listed). */
  updateComment(commentId: number, body: string): Promise<IssueComment | undefined>;
  deleteComment(commentId: number): Promise<void>;
}

export interface Annotation {
  path: string;
  startLine: number;
  endLine: number;
  level: 'notice' | 'warning' | 'failure';
  title: string;
  message: string;
}

export interface CheckRunInput {
  name: string;
  headSha: string;
  conclusion: 'success' | 'failure' | 'neutral';
  title: string;
  summary: string;
  annotations: Annotation[];
  detailsUrl?: string;
}

export interface CheckPort {
  /** Creates a completed check run; returns its id. */
  createCheckRun(input: CheckRunInput): Promise<number>;
}

export interface PullRequestPort {
  labels(issueNumber: number): Promise<string[]>;
  /** The pull request's head commit and the repository it comes from (`owner/name`; empty if deleted). */
  head(issueNumber: number): Promise<{ sha: string; repository: string }>;
}

/** A write GitHub refused because the token may not write (fork pull requests get read-only tokens). */
export class WriteRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteRefusedError';
  }
}

/** A release asset as publish needs it. `sha256` is the API's `digest` (hex) when GitHub reports one. */
export interface ReleaseAsset {
  id: number;
  name: string;
  size: number;
  sha256: string | undefined;
  /** `uploaded` when complete; anything else is a broken upload to delete. */
  state: string;
}

export interface ReleaseInfo {
  id: number;
  tag: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
  htmlUrl: string;
  uploadUrl: string;
  publishedAt: string | undefined;
  assets: ReleaseAsset[];
}

export interface NewRelease {
  tag: string;
  name: string;
  body: string;
  draft: boolean;
  prerelease: boolean;
  /** A full commit SHA or branch the tag is created at when the release is published (if the tag is new). */
  targetCommitish?: string;
  makeLatest?: 'true' | 'false' | 'legacy';
}

export interface ReleaseUpdate {
  name?: string;
  body?: string;
  draft?: boolean;
  prerelease?: boolean;
  makeLatest?: 'true' | 'false' | 'legacy';
}

export interface AssetUpload {
  name: string;
  bytes: number;
  contentType?: string;
  /** Opens the bytes to send; called again for every attempt (a stream is read once). */
  open(): AsyncIterable<Uint8Array>;
}

/**
 * Releases and their assets: what publish, promote and pull need from GitHub. Lists read every page; drafts are
 * listed only for tokens that can push. A write refused for the token throws `WriteRefusedError`.
 */
export interface ReleasePort {
  listReleases(): Promise<ReleaseInfo[]>;
  /** The published release with this tag, if any (drafts have no tag yet). */
  releaseByTag(tag: string): Promise<ReleaseInfo | undefined>;
  createRelease(release: NewRelease): Promise<ReleaseInfo>;
  updateRelease(id: number, update: ReleaseUpdate): Promise<ReleaseInfo>;
  deleteRelease(id: number): Promise<void>;
  listAssets(releaseId: number): Promise<ReleaseAsset[]>;
  /** Uploads one asset, streamed; GitHub refuses a name the release already has (`AssetExistsError`). */
  uploadAsset(release: ReleaseInfo, asset: AssetUpload): Promise<ReleaseAsset>;
  deleteAsset(assetId: number): Promise<void>;
  /** The asset's bytes, streamed. */
  downloadAsset(assetId: number): Promise<AsyncIterable<Uint8Array>>;
  /** The commit a tag points at, if the tag exists. */
  tagCommit(tag: string): Promise<string | undefined>;
  /** The committer date (ISO 8601) of a commit, if GitHub knows the commit. */
  commitTime(sha: string): Promise<string | undefined>;
}

/** GitHub refused an asset upload because the release already has an asset with that name. */
export class AssetExistsError extends Error {
  constructor(name: string) {
    super(`the release already has an asset named ${name}`);
    this.name = 'AssetExistsError';
  }
}
