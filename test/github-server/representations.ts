/**
 * The JSON GitHub sends for each kind of object, built from the state with every field the OpenAPI description
 * requires (the server validates each response against it). URLs point back at the test server: `api` for REST
 * URLs, `uploads` for `upload_url`, `web` for `html_url` and browser downloads.
 */
import type {
  Account,
  Annotation,
  Artifact,
  Asset,
  CheckRun,
  Comment,
  Commit,
  Label,
  PullRequest,
  Release,
  Repo,
  RepoIdentity,
  WorkflowRun,
} from './state.ts';

export interface Urls {
  /** REST API base, like `https://api.github.com`. */
  readonly api: string;
  /** Like `https://uploads.github.com`. */
  readonly uploads: string;
  /** Like `https://github.com` (`GITHUB_SERVER_URL`). */
  readonly web: string;
}

type Json = Record<string, unknown>;

export function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(`0:${id}`).toString('base64url')}`;
}

function enc(login: string): string {
  return encodeURIComponent(login);
}

export function userJson(user: Account, urls: Urls): Json {
  const api = `${urls.api}/users/${enc(user.login)}`;
  return {
    login: user.login,
    id: user.id,
    node_id: nodeId(user.type === 'Bot' ? 'BOT' : user.type === 'Organization' ? 'O' : 'U', user.id),
    avatar_url: `${urls.web}/avatars/u/${user.id}?v=4`,
    gravatar_id: '',
    url: api,
    html_url:
      user.type === 'Bot'
        ? `${urls.web}/apps/${enc(user.login.replace(/\[bot\]$/, ''))}`
        : `${urls.web}/${enc(user.login)}`,
    followers_url: `${api}/followers`,
    following_url: `${api}/following{/other_user}`,
    gists_url: `${api}/gists{/gist_id}`,
    starred_url: `${api}/starred{/owner}{/repo}`,
    subscriptions_url: `${api}/subscriptions`,
    organizations_url: `${api}/orgs`,
    repos_url: `${api}/repos`,
    events_url: `${api}/events{/privacy}`,
    received_events_url: `${api}/received_events`,
    type: user.type,
    user_view_type: 'public',
    site_admin: false,
  };
}

/** The full repository object (a superset of `minimal-repository` and of a pull request's `head.repo`). */
export function repoJson(repo: RepoIdentity, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}`;
  return {
    id: repo.id,
    node_id: nodeId('R', repo.id),
    name: repo.name,
    full_name: full,
    private: repo.private,
    owner: userJson(repo.owner, urls),
    html_url: `${urls.web}/${full}`,
    description: null,
    fork: repo.fork,
    url: api,
    archive_url: `${api}/{archive_format}{/ref}`,
    assignees_url: `${api}/assignees{/user}`,
    blobs_url: `${api}/git/blobs{/sha}`,
    branches_url: `${api}/branches{/branch}`,
    collaborators_url: `${api}/collaborators{/collaborator}`,
    comments_url: `${api}/comments{/number}`,
    commits_url: `${api}/commits{/sha}`,
    compare_url: `${api}/compare/{base}...{head}`,
    contents_url: `${api}/contents/{+path}`,
    contributors_url: `${api}/contributors`,
    deployments_url: `${api}/deployments`,
    downloads_url: `${api}/downloads`,
    events_url: `${api}/events`,
    forks_url: `${api}/forks`,
    git_commits_url: `${api}/git/commits{/sha}`,
    git_refs_url: `${api}/git/refs{/sha}`,
    git_tags_url: `${api}/git/tags{/sha}`,
    git_url: `git://${new URL(urls.web).host}/${full}.git`,
    issue_comment_url: `${api}/issues/comments{/number}`,
    issue_events_url: `${api}/issues/events{/number}`,
    issues_url: `${api}/issues{/number}`,
    keys_url: `${api}/keys{/key_id}`,
    labels_url: `${api}/labels{/name}`,
    languages_url: `${api}/languages`,
    merges_url: `${api}/merges`,
    milestones_url: `${api}/milestones{/number}`,
    notifications_url: `${api}/notifications{?since,all,participating}`,
    pulls_url: `${api}/pulls{/number}`,
    releases_url: `${api}/releases{/id}`,
    ssh_url: `git@${new URL(urls.web).hostname}:${full}.git`,
    stargazers_url: `${api}/stargazers`,
    statuses_url: `${api}/statuses/{sha}`,
    subscribers_url: `${api}/subscribers`,
    subscription_url: `${api}/subscription`,
    tags_url: `${api}/tags`,
    teams_url: `${api}/teams`,
    trees_url: `${api}/git/trees{/sha}`,
    clone_url: `${urls.web}/${full}.git`,
    mirror_url: null,
    hooks_url: `${api}/hooks`,
    svn_url: `${urls.web}/${full}`,
    homepage: null,
    language: 'TypeScript',
    forks_count: 0,
    forks: 0,
    stargazers_count: 0,
    watchers_count: 0,
    watchers: 0,
    size: 128,
    default_branch: repo.defaultBranch,
    open_issues_count: 0,
    open_issues: 0,
    is_template: false,
    topics: [],
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_downloads: true,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: repo.private ? 'private' : 'public',
    pushed_at: repo.createdAt,
    created_at: repo.createdAt,
    updated_at: repo.createdAt,
    license: null,
    allow_forking: true,
    web_commit_signoff_required: false,
  };
}

export function labelJson(repo: Repo, label: Label, urls: Urls): Json {
  return {
    id: label.id,
    node_id: nodeId('LA', label.id),
    url: `${urls.api}/repos/${repo.owner.login}/${repo.name}/labels/${encodeURIComponent(label.name)}`,
    name: label.name,
    description: label.description,
    color: label.color,
    default: label.default,
  };
}

export function commentJson(repo: Repo, comment: Comment, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const kind = repo.issues.get(comment.issueNumber)?.isPullRequest ? 'pull' : 'issues';
  return {
    id: comment.id,
    node_id: nodeId('IC', comment.id),
    url: `${urls.api}/repos/${full}/issues/comments/${comment.id}`,
    html_url: `${urls.web}/${full}/${kind}/${comment.issueNumber}#issuecomment-${comment.id}`,
    body: comment.body,
    user: userJson(comment.user, urls),
    created_at: comment.createdAt,
    updated_at: comment.updatedAt,
    issue_url: `${urls.api}/repos/${full}/issues/${comment.issueNumber}`,
    author_association: comment.user.type === 'Bot' ? 'NONE' : 'CONTRIBUTOR',
    reactions: {
      url: `${urls.api}/repos/${full}/issues/comments/${comment.id}/reactions`,
      total_count: 0,
      '+1': 0,
      '-1': 0,
      laugh: 0,
      confused: 0,
      heart: 0,
      hooray: 0,
      eyes: 0,
      rocket: 0,
    },
  };
}

function issueLabels(repo: Repo, names: readonly string[], urls: Urls): Json[] {
  return names.flatMap((name) => {
    const label = repo.labels.get(name.toLowerCase());
    return label ? [labelJson(repo, label, urls)] : [];
  });
}

export function pullJson(repo: Repo, pull: PullRequest, urls: Urls): Json {
  const issue = repo.issues.get(pull.number);
  if (!issue) throw new Error(`pull request #${pull.number} has no issue`);
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}`;
  const self = `${api}/pulls/${pull.number}`;
  const html = `${urls.web}/${full}/pull/${pull.number}`;
  const comments = [...repo.comments.values()].filter((c) => c.issueNumber === pull.number).length;
  const head = pull.headRepo;
  return {
    url: self,
    id: pull.id,
    node_id: nodeId('PR', pull.id),
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: `${api}/issues/${pull.number}`,
    commits_url: `${self}/commits`,
    review_comments_url: `${self}/comments`,
    review_comment_url: `${api}/pulls/comments{/number}`,
    comments_url: `${api}/issues/${pull.number}/comments`,
    statuses_url: `${api}/statuses/${pull.headSha}`,
    number: pull.number,
    state: issue.state,
    locked: false,
    title: issue.title,
    user: userJson(issue.user, urls),
    body: issue.body,
    labels: issueLabels(repo, issue.labels, urls),
    milestone: null,
    active_lock_reason: null,
    created_at: issue.createdAt,
    updated_at: issue.updatedAt,
    closed_at: issue.state === 'closed' ? issue.updatedAt : null,
    merged_at: pull.merged ? issue.updatedAt : null,
    merge_commit_sha: pull.mergeCommitSha,
    assignee: null,
    assignees: [],
    requested_reviewers: [],
    requested_teams: [],
    head: {
      label: `${head.owner.login}:${pull.headRef}`,
      ref: pull.headRef,
      sha: pull.headSha,
      user: userJson(head.owner, urls),
      repo: repoJson(head, urls),
    },
    base: {
      label: `${repo.owner.login}:${pull.baseRef}`,
      ref: pull.baseRef,
      sha: pull.baseSha,
      user: userJson(repo.owner, urls),
      repo: repoJson(repo, urls),
    },
    _links: {
      self: { href: self },
      html: { href: html },
      issue: { href: `${api}/issues/${pull.number}` },
      comments: { href: `${api}/issues/${pull.number}/comments` },
      review_comments: { href: `${self}/comments` },
      review_comment: { href: `${api}/pulls/comments{/number}` },
      commits: { href: `${self}/commits` },
      statuses: { href: `${api}/statuses/${pull.headSha}` },
    },
    author_association: 'CONTRIBUTOR',
    auto_merge: null,
    draft: pull.draft,
    merged: pull.merged,
    mergeable: true,
    rebaseable: true,
    mergeable_state: 'clean',
    merged_by: null,
    comments,
    review_comments: 0,
    maintainer_can_modify: false,
    commits: 1,
    additions: 1,
    deletions: 0,
    changed_files: 1,
  };
}

/** The pull requests a check run or workflow run lists (`pull-request-minimal`). */
export function pullMinimalJson(repo: Repo, pull: PullRequest, urls: Urls): Json {
  const api = `${urls.api}/repos/${repo.owner.login}/${repo.name}`;
  const headApi = `${urls.api}/repos/${pull.headRepo.owner.login}/${pull.headRepo.name}`;
  return {
    id: pull.id,
    number: pull.number,
    url: `${api}/pulls/${pull.number}`,
    head: {
      ref: pull.headRef,
      sha: pull.headSha,
      repo: { id: pull.headRepo.id, url: headApi, name: pull.headRepo.name },
    },
    base: { ref: pull.baseRef, sha: pull.baseSha, repo: { id: repo.id, url: api, name: repo.name } },
  };
}

export const GITHUB_ACTIONS_APP = { id: 15368, slug: 'github-actions', name: 'GitHub Actions' } as const;

export function appJson(urls: Urls): Json {
  return {
    id: GITHUB_ACTIONS_APP.id,
    slug: GITHUB_ACTIONS_APP.slug,
    node_id: 'MDM6QXBwMTUzNjg=',
    client_id: 'Iv1.05c79e9ad1f6bdfa',
    owner: userJson({ login: 'github', id: 9919, type: 'Organization' }, urls),
    name: GITHUB_ACTIONS_APP.name,
    description: 'Automate your workflow from idea to production',
    external_url: 'https://help.github.com/en/actions',
    html_url: `${urls.web}/apps/github-actions`,
    created_at: '2018-07-30T09:30:17Z',
    updated_at: '2024-04-10T20:33:16Z',
    permissions: {
      actions: 'write',
      checks: 'write',
      contents: 'write',
      deployments: 'write',
      issues: 'write',
      metadata: 'read',
      pull_requests: 'write',
      statuses: 'write',
    },
    events: ['check_run', 'check_suite', 'pull_request', 'push', 'release', 'workflow_run'],
  };
}

export function checkRunJson(repo: Repo, run: CheckRun, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}/check-runs/${run.id}`;
  const pulls = [...repo.pulls.values()].filter((p) => p.headSha === run.headSha && !p.headRepo.fork);
  return {
    id: run.id,
    head_sha: run.headSha,
    node_id: nodeId('CR', run.id),
    external_id: run.externalId ?? '',
    url: api,
    html_url: `${urls.web}/${full}/runs/${run.id}`,
    details_url: run.detailsUrl ?? `${urls.web}/${full}/runs/${run.id}`,
    status: run.status,
    conclusion: run.conclusion,
    started_at: run.startedAt,
    completed_at: run.completedAt,
    output: {
      title: run.output.title,
      summary: run.output.summary,
      text: run.output.text,
      annotations_count: run.output.annotations.length,
      annotations_url: `${api}/annotations`,
    },
    name: run.name,
    check_suite: { id: run.checkSuiteId },
    app: appJson(urls),
    pull_requests: pulls.map((p) => pullMinimalJson(repo, p, urls)),
  };
}

export function annotationJson(annotation: Annotation, blobHref: string): Json {
  return {
    path: annotation.path,
    start_line: annotation.start_line,
    end_line: annotation.end_line,
    start_column: annotation.start_column ?? null,
    end_column: annotation.end_column ?? null,
    annotation_level: annotation.annotation_level,
    title: annotation.title ?? null,
    message: annotation.message,
    raw_details: annotation.raw_details ?? null,
    blob_href: `${blobHref}/${annotation.path}`,
  };
}

/** The tag segment of a release's web URLs (`untagged-…` for drafts). */
export function releaseWebTag(release: Release): string {
  return release.draft ? release.untaggedName : release.tagName;
}

export function assetJson(repo: Repo, release: Release, asset: Asset, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  return {
    url: `${urls.api}/repos/${full}/releases/assets/${asset.id}`,
    browser_download_url: `${urls.web}/${full}/releases/download/${encodeURIComponent(releaseWebTag(release))}/${encodeURIComponent(asset.name)}`,
    id: asset.id,
    node_id: nodeId('RA', asset.id),
    name: asset.name,
    label: asset.label,
    state: 'uploaded',
    content_type: asset.contentType,
    size: asset.size,
    digest: `sha256:${asset.sha256}`,
    download_count: asset.downloadCount,
    created_at: asset.createdAt,
    updated_at: asset.updatedAt,
    uploader: userJson(asset.uploader, urls),
  };
}

export function releaseJson(repo: Repo, release: Release, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}/releases/${release.id}`;
  const tag = encodeURIComponent(release.tagName);
  return {
    url: api,
    html_url: `${urls.web}/${full}/releases/tag/${encodeURIComponent(releaseWebTag(release))}`,
    assets_url: `${api}/assets`,
    upload_url: `${urls.uploads}/repos/${full}/releases/${release.id}/assets{?name,label}`,
    tarball_url: release.draft ? null : `${urls.api}/repos/${full}/tarball/${tag}`,
    zipball_url: release.draft ? null : `${urls.api}/repos/${full}/zipball/${tag}`,
    id: release.id,
    node_id: nodeId('RE', release.id),
    tag_name: release.tagName,
    target_commitish: release.targetCommitish,
    name: release.name,
    body: release.body,
    draft: release.draft,
    prerelease: release.prerelease,
    immutable: false,
    created_at: release.createdAt,
    published_at: release.publishedAt,
    updated_at: release.updatedAt,
    author: userJson(release.author, urls),
    assets: [...release.assets.values()].map((a) => assetJson(repo, release, a, urls)),
  };
}

export function refJson(repo: Repo, ref: string, sha: string, urls: Urls): Json {
  const api = `${urls.api}/repos/${repo.owner.login}/${repo.name}`;
  return {
    ref,
    node_id: nodeId(
      'REF',
      Buffer.from(ref).reduce((h, b) => (h * 31 + b) % 1_000_000_007, repo.id),
    ),
    url: `${api}/git/${ref.split('/').map(encodeURIComponent).join('/')}`,
    object: { type: 'commit', sha, url: `${api}/git/commits/${sha}` },
  };
}

export function commitJson(repo: Repo, commit: Commit, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}`;
  return {
    url: `${api}/commits/${commit.sha}`,
    sha: commit.sha,
    node_id: nodeId('C', Number.parseInt(commit.sha.slice(0, 8), 16)),
    html_url: `${urls.web}/${full}/commit/${commit.sha}`,
    comments_url: `${api}/commits/${commit.sha}/comments`,
    commit: {
      url: `${api}/git/commits/${commit.sha}`,
      author: commit.author,
      committer: commit.author,
      message: commit.message,
      comment_count: 0,
      tree: { sha: commit.treeSha, url: `${api}/git/trees/${commit.treeSha}` },
      verification: {
        verified: false,
        reason: 'unsigned',
        signature: null,
        payload: null,
        verified_at: null,
      },
    },
    author: null,
    committer: null,
    parents: commit.parents.map((sha) => ({
      sha,
      url: `${api}/commits/${sha}`,
      html_url: `${urls.web}/${full}/commit/${sha}`,
    })),
    stats: { additions: 1, deletions: 0, total: 1 },
    files: [],
  };
}

export function artifactJson(repo: Repo, artifact: Artifact, urls: Urls): Json {
  const api = `${urls.api}/repos/${repo.owner.login}/${repo.name}/actions/artifacts/${artifact.id}`;
  const run = repo.workflowRuns.get(artifact.runId);
  return {
    id: artifact.id,
    node_id: nodeId('MDg', artifact.id),
    name: artifact.name,
    size_in_bytes: artifact.zip.length,
    url: api,
    archive_download_url: `${api}/zip`,
    expired: artifact.expired,
    created_at: artifact.createdAt,
    updated_at: artifact.createdAt,
    expires_at: artifact.expiresAt,
    digest: `sha256:${artifact.sha256}`,
    workflow_run: run
      ? {
          id: run.id,
          repository_id: repo.id,
          head_repository_id: run.headRepo.id,
          head_branch: run.headBranch,
          head_sha: run.headSha,
        }
      : null,
  };
}

export function workflowRunJson(repo: Repo, run: WorkflowRun, urls: Urls): Json {
  const full = `${repo.owner.login}/${repo.name}`;
  const api = `${urls.api}/repos/${full}/actions/runs/${run.id}`;
  const commit = repo.commits.get(run.headSha);
  const pulls = run.pullRequests.flatMap((n) => {
    const pull = repo.pulls.get(n);
    return pull ? [pullMinimalJson(repo, pull, urls)] : [];
  });
  return {
    id: run.id,
    name: run.name,
    node_id: nodeId('WFR', run.id),
    check_suite_id: run.id + 1,
    check_suite_node_id: nodeId('CS', run.id + 1),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: run.path,
    display_title: commit?.message.split('\n')[0] ?? run.name,
    run_number: run.runNumber,
    run_attempt: run.runAttempt,
    event: run.event,
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: run.workflowId,
    url: api,
    html_url: `${urls.web}/${full}/actions/runs/${run.id}`,
    pull_requests: pulls,
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    run_started_at: run.createdAt,
    actor: userJson(run.actor, urls),
    triggering_actor: userJson(run.actor, urls),
    jobs_url: `${api}/jobs`,
    logs_url: `${api}/logs`,
    check_suite_url: `${urls.api}/repos/${full}/check-suites/${run.id + 1}`,
    artifacts_url: `${api}/artifacts`,
    cancel_url: `${api}/cancel`,
    rerun_url: `${api}/rerun`,
    previous_attempt_url: null,
    workflow_url: `${urls.api}/repos/${full}/actions/workflows/${run.workflowId}`,
    head_commit: {
      id: run.headSha,
      tree_id: commit?.treeSha ?? run.headSha,
      message: commit?.message ?? 'commit',
      timestamp: commit?.author.date ?? run.createdAt,
      author: {
        name: commit?.author.name ?? 'Octo Cat',
        email: commit?.author.email ?? 'octocat@example.com',
      },
      committer: {
        name: commit?.author.name ?? 'Octo Cat',
        email: commit?.author.email ?? 'octocat@example.com',
      },
    },
    repository: repoJson(repo, urls),
    head_repository: repoJson(run.headRepo, urls),
    head_repository_id: run.headRepo.id,
  };
}
