import { createHash } from 'node:crypto';
import { RequestError } from '@octokit/request-error';
import { describe, expect, it } from 'vitest';
import { testOctokit } from './client.ts';
import {
  fakeSha,
  seedArtifact,
  seedPullRequest,
  seedRelease,
  seedRepo,
  seedWorkflowRun,
} from './fixtures.ts';
import { TOKENS } from './state.ts';
import { useGitHubServer } from './use-server.ts';

const github = useGitHubServer();
const owner = 'octo-org';
const repo = 'edge-models';
const headSha = fakeSha('head');
const baseSha = fakeSha('base');

async function failure(promise: Promise<unknown>): Promise<RequestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error('the request succeeded');
}

describe('issue comments', () => {
  it('paginates 300 comments: octokit.paginate returns all of them in three requests of 100', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, comments: 300 });
    const octokit = testOctokit(github.server);

    const comments = await octokit.paginate(octokit.rest.issues.listComments, {
      owner,
      repo,
      issue_number: 7,
      per_page: 100,
    });

    expect(comments).toHaveLength(300);
    expect(comments.map((c) => c.body)).toEqual(Array.from({ length: 300 }, (_, i) => `Comment ${i + 1}`));
    expect(new Set(comments.map((c) => c.id)).size).toBe(300);
    expect(github.server.requests.map((r) => r.query.page ?? '1')).toEqual(['1', '2', '3']);
  });

  it('sends a Link header with prev, next, last and first, 30 per page by default and at most 100', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, comments: 140 });
    const octokit = testOctokit(github.server);
    const base = `${github.server.url}/repos/${owner}/${repo}/issues/7/comments`;

    const middle = await octokit.rest.issues.listComments({ owner, repo, issue_number: 7, page: 2 });
    expect(middle.data).toHaveLength(30);
    expect(middle.data[0]?.body).toBe('Comment 31');
    expect(middle.headers.link).toBe(
      `<${base}?page=1>; rel="prev", <${base}?page=3>; rel="next", <${base}?page=5>; rel="last", <${base}?page=1>; rel="first"`,
    );

    const last = await octokit.rest.issues.listComments({ owner, repo, issue_number: 7, page: 5 });
    expect(last.data.map((c) => c.body)).toEqual(Array.from({ length: 20 }, (_, i) => `Comment ${121 + i}`));
    expect(last.headers.link).toBe(`<${base}?page=4>; rel="prev", <${base}?page=1>; rel="first"`);

    const capped = await octokit.rest.issues.listComments({ owner, repo, issue_number: 7, per_page: 500 });
    expect(capped.data).toHaveLength(100);
    expect(capped.headers.link).toBe(
      `<${base}?per_page=500&page=2>; rel="next", <${base}?per_page=500&page=2>; rel="last"`,
    );
  });

  it('creates a comment, then updates it in place, as the sticky PR comment does', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, comments: 2 });
    const octokit = testOctokit(github.server);

    const created = await octokit.rest.issues.createComment({
      owner,
      repo,
      issue_number: 7,
      body: '<!-- slmops -->\nv1',
    });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(created.data.url);
    expect(created.data.user?.login).toBe('github-actions[bot]');

    const updated = await octokit.rest.issues.updateComment({
      owner,
      repo,
      comment_id: created.data.id,
      body: '<!-- slmops -->\nv2',
    });
    expect(updated.data.id).toBe(created.data.id);
    expect(updated.data.body).toBe('<!-- slmops -->\nv2');

    const all = await octokit.paginate(octokit.rest.issues.listComments, { owner, repo, issue_number: 7 });
    expect(all.map((c) => c.body)).toEqual(['Comment 1', 'Comment 2', '<!-- slmops -->\nv2']);
    const fetched = await octokit.rest.issues.getComment({ owner, repo, comment_id: created.data.id });
    expect(fetched.data.body).toBe('<!-- slmops -->\nv2');

    await octokit.rest.issues.deleteComment({ owner, repo, comment_id: created.data.id });
    const gone = await failure(octokit.rest.issues.getComment({ owner, repo, comment_id: created.data.id }));
    expect(gone.status).toBe(404);
  });

  it('refuses a comment longer than 65536 characters, as GitHub does', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    const octokit = testOctokit(github.server);

    const error = await failure(
      octokit.rest.issues.createComment({ owner, repo, issue_number: 7, body: 'x'.repeat(65537) }),
    );

    expect(error.status).toBe(422);
    expect(error.response?.data).toMatchObject({
      message: 'Validation Failed',
      errors: [{ resource: 'IssueComment', field: 'body', code: 'custom' }],
    });
  });
});

describe('OpenAPI validation of requests', () => {
  it('rejects an unknown body field and records the violation', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    const octokit = testOctokit(github.server);

    const error = await failure(
      octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner,
        repo,
        issue_number: 7,
        body: 'hello',
        bodyy: 'typo',
      }),
    );

    expect(error.status).toBe(422);
    expect(error.message).toMatch(/^OpenAPI validation failed:/);
    const violations = github.server.takeViolations();
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ kind: 'request', operationId: 'issues/create-comment' });
    expect(violations[0]?.message).toContain("must NOT have additional properties ('bodyy')");
    expect(github.server.state.repos.get(`${owner}/${repo}`)?.comments.size).toBe(0);
  });

  it('rejects a missing required field and records the violation', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);

    const error = await failure(
      octokit.request('POST /repos/{owner}/{repo}/check-runs', { owner, repo, name: 'slmops gate' } as never),
    );

    expect(error.status).toBe(422);
    const [violation, ...more] = github.server.takeViolations();
    expect(more).toEqual([]);
    expect(violation?.message).toContain("must have required property 'head_sha'");
  });

  it('rejects a path parameter of the wrong type, and a method or path GitHub does not have', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);

    expect((await failure(octokit.request(`GET /repos/${owner}/${repo}/issues/seven/comments`))).status).toBe(
      422,
    );
    expect((await failure(octokit.request(`GET /repos/${owner}/${repo}/no-such-thing`))).status).toBe(404);
    expect((await failure(octokit.request(`GET /repos/${owner}/${repo}/topics`))).status).toBe(404);

    const messages = github.server.takeViolations().map((v) => `${v.kind}: ${v.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^request: GET .*issue_number must be integer/),
      `route: GET /repos/${owner}/${repo}/no-such-thing is not an operation of GitHub's REST API`,
      expect.stringMatching(
        /^route: GET \/repos\/\{owner\}\/\{repo\}\/topics is part of GitHub's REST API but the test server does not implement it/,
      ),
    ]);
  });

  it('refuses more than 50 annotations in one request, as GitHub enforces', async () => {
    seedRepo(github.server, { owner, repo, headSha });
    const octokit = testOctokit(github.server);
    const annotation = {
      path: 'model.onnx',
      start_line: 1,
      end_line: 1,
      annotation_level: 'warning' as const,
      message: 'slower',
    };

    const error = await failure(
      octokit.rest.checks.create({
        owner,
        repo,
        name: 'slmops gate',
        head_sha: headSha,
        output: {
          title: 'Gate',
          summary: 'too many',
          annotations: Array.from({ length: 51 }, () => annotation),
        },
      }),
    );

    expect(error.status).toBe(422);
    expect(github.server.takeViolations()[0]?.message).toContain(
      '/output/annotations must NOT have more than 50 items',
    );
  });
});

describe('tokens', () => {
  it('answers a write with a read-only token (a fork pull request) 403, and lets it read', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, fork: true, comments: 1 });
    const octokit = testOctokit(github.server, { token: TOKENS.read });

    const error = await failure(
      octokit.rest.issues.createComment({ owner, repo, issue_number: 7, body: 'hi' }),
    );

    expect(error.status).toBe(403);
    expect(error.message).toContain('Resource not accessible by integration');
    expect(error.response?.headers['x-accepted-github-permissions']).toBe(
      'issues=write; pull_requests=write',
    );
    const read = await octokit.rest.issues.listComments({ owner, repo, issue_number: 7 });
    expect(read.data).toHaveLength(1);
  });

  it('answers an expired or unknown token 401 Bad credentials, and no token 401 Requires authentication', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    const request = { owner, repo, issue_number: 7 };

    const expired = await failure(
      testOctokit(github.server, { token: TOKENS.expired }).rest.issues.listComments(request),
    );
    const unknown = await failure(
      testOctokit(github.server, { token: 'ghs_unknown' }).rest.issues.listComments(request),
    );
    const anonymous = await fetch(`${github.server.url}/repos/${owner}/${repo}/issues/7/comments`);

    expect([expired.status, expired.message]).toEqual([401, expect.stringContaining('Bad credentials')]);
    expect(unknown.status).toBe(401);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { message: string }).message).toBe('Requires authentication');
  });
});

describe('faults', () => {
  it('lets the retry plugin survive a burst of 3 × 503', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    const fault = github.server.faults.serverError({
      status: 503,
      count: 3,
      route: 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
    });
    const octokit = testOctokit(github.server);

    const created = await octokit.rest.issues.createComment({
      owner,
      repo,
      issue_number: 7,
      body: 'after the storm',
    });

    expect(created.status).toBe(201);
    expect(fault).toMatchObject({ hits: 3, remaining: 0 });
    expect(github.server.requests.map((r) => r.status)).toEqual([503, 503, 503, 201]);
  });

  it('gives up after the retries when the errors outlast them', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    github.server.faults.serverError({ status: 502, count: 10 });
    const octokit = testOctokit(github.server);

    const error = await failure(octokit.rest.pulls.get({ owner, repo, pull_number: 7 }));

    expect(error.status).toBe(502);
    expect(github.server.requests).toHaveLength(4);
  });

  it('lets the throttling plugin survive a secondary rate limit, waiting retry-after', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    github.server.faults.secondaryRateLimit({ count: 2, retryAfter: 1 });
    const waits: number[] = [];
    const octokit = testOctokit(github.server, {
      msPerSecond: 20,
      onSecondaryRateLimit: (retryAfter) => {
        waits.push(retryAfter);
        return true;
      },
    });

    const created = await octokit.rest.issues.createComment({
      owner,
      repo,
      issue_number: 7,
      body: 'patient',
    });

    expect(created.status).toBe(201);
    expect(waits).toEqual([1, 1]);
    const [first, second, third] = github.server.requests;
    expect([first?.status, second?.status, third?.status]).toEqual([403, 403, 201]);
    expect((third?.time ?? 0) - (second?.time ?? 0)).toBeGreaterThanOrEqual(15);
  });

  it('sends the secondary rate limit as GitHub does: 403, retry-after and its message', async () => {
    seedRepo(github.server, { owner, repo });
    github.server.faults.secondaryRateLimit({ retryAfter: 60 });

    const response = await fetch(`${github.server.url}/repos/${owner}/${repo}/releases`, {
      headers: { authorization: `token ${TOKENS.write}` },
    });

    expect(response.status).toBe(403);
    expect(response.headers.get('retry-after')).toBe('60');
    const body = (await response.json()) as { message: string };
    expect(body.message).toMatch(/^You have exceeded a secondary rate limit\. .* request ID [0-9A-F:]+\.$/);
  });

  it.each([
    { status: 403, handlerCalls: 1 },
    { status: 429, handlerCalls: 0 },
  ] as const)(
    'survives a primary rate limit answered $status (429 is retried by the retry plugin, without onRateLimit)',
    async ({ status, handlerCalls }) => {
      seedRepo(github.server, { owner, repo });
      github.server.faults.primaryRateLimit({ status, resetAfter: 1 });
      const waits: number[] = [];
      const octokit = testOctokit(github.server, {
        onRateLimit: (retryAfter) => {
          waits.push(retryAfter);
          return true;
        },
      });

      const releases = await octokit.rest.repos.listReleases({ owner, repo });

      expect(releases.status).toBe(200);
      expect(waits).toHaveLength(handlerCalls);
      if (handlerCalls > 0) expect(waits[0]).toBeGreaterThanOrEqual(1);
      expect(github.server.requests.map((r) => [r.operationId, r.status])).toEqual([
        ['repos/list-releases', status],
        ['repos/list-releases', 200],
      ]);
    },
  );

  it('sends the headers GitHub always sends', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);

    const first = await octokit.rest.repos.listReleases({ owner, repo });
    const second = await octokit.rest.repos.listReleases({ owner, repo });

    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(first.headers['x-github-request-id']).toMatch(/^[0-9A-F]+(:[0-9A-F]+){4}$/);
    expect(first.headers['x-ratelimit-limit']).toBe('5000');
    expect(
      Number(first.headers['x-ratelimit-remaining']) - Number(second.headers['x-ratelimit-remaining']),
    ).toBe(1);
    expect(Number(first.headers['x-ratelimit-reset'])).toBeGreaterThan(Date.now() / 1000);
  });
});

describe('check runs and pull requests', () => {
  it('creates a check run, completes it with annotations, and lists the latest per name for the commit', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha });
    const octokit = testOctokit(github.server);

    const created = await octokit.rest.checks.create({
      owner,
      repo,
      name: 'slmops gate',
      head_sha: headSha,
      status: 'in_progress',
    });
    const annotation = {
      path: 'budgets.yml',
      start_line: 3,
      end_line: 3,
      annotation_level: 'failure' as const,
      message: 'p95 +12 %',
    };
    const done = await octokit.rest.checks.update({
      owner,
      repo,
      check_run_id: created.data.id,
      conclusion: 'failure',
      output: { title: 'Gate failed', summary: '1 budget exceeded', annotations: [annotation] },
    });
    await octokit.rest.checks.create({
      owner,
      repo,
      name: 'slmops gate',
      head_sha: headSha,
      conclusion: 'success',
    });

    expect(done.data).toMatchObject({
      status: 'completed',
      conclusion: 'failure',
      output: { annotations_count: 1 },
    });
    expect(done.data.pull_requests.map((p) => p.number)).toEqual([7]);
    const latest = await octokit.rest.checks.listForRef({ owner, repo, ref: headSha });
    expect(latest.data.check_runs.map((r) => r.conclusion)).toEqual(['success']);
    const all = await octokit.rest.checks.listForRef({ owner, repo, ref: headSha, filter: 'all' });
    expect(all.data.total_count).toBe(2);
    const annotations = await octokit.rest.checks.listAnnotations({
      owner,
      repo,
      check_run_id: created.data.id,
    });
    expect(annotations.data).toMatchObject([annotation]);
  });

  it('refuses a check run on a commit the repository does not have', async () => {
    seedRepo(github.server, { owner, repo });
    const error = await failure(
      testOctokit(github.server).rest.checks.create({ owner, repo, name: 'x', head_sha: fakeSha('nowhere') }),
    );
    expect([error.status, error.message]).toEqual([422, expect.stringContaining('No commit found for SHA')]);
  });

  it('serves a pull request from a fork with its head repository marked as a fork', async () => {
    seedPullRequest(github.server, {
      owner,
      repo,
      number: 9,
      headSha,
      baseSha,
      fork: true,
      labels: ['perf'],
    });
    const octokit = testOctokit(github.server, { token: TOKENS.read });

    const { data } = await octokit.rest.pulls.get({ owner, repo, pull_number: 9 });
    const labels = await octokit.rest.issues.listLabelsOnIssue({ owner, repo, issue_number: 9 });

    expect(data.head).toMatchObject({ sha: headSha, repo: { full_name: `contributor/${repo}`, fork: true } });
    expect(data.base).toMatchObject({ sha: baseSha, repo: { full_name: `${owner}/${repo}`, fork: false } });
    expect(labels.data.map((l) => l.name)).toEqual(['perf']);
  });

  it('adds and removes labels on an issue', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, labels: ['perf'] });
    const octokit = testOctokit(github.server);

    const added = await octokit.rest.issues.addLabels({
      owner,
      repo,
      issue_number: 7,
      labels: ['slmops: regression'],
    });
    expect(added.data.map((l) => l.name)).toEqual(['perf', 'slmops: regression']);
    const removed = await octokit.rest.issues.removeLabel({ owner, repo, issue_number: 7, name: 'perf' });
    expect(removed.data.map((l) => l.name)).toEqual(['slmops: regression']);
    expect(
      (await failure(octokit.rest.issues.removeLabel({ owner, repo, issue_number: 7, name: 'perf' }))).status,
    ).toBe(404);
  });
});

describe('releases and assets', () => {
  it('uploads an asset on the uploads URL and returns its sha256 digest; the bytes come back by redirect', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);
    const bytes = Buffer.from('int4 model weights'.repeat(1000));
    const digest = createHash('sha256').update(bytes).digest('hex');

    const release = await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v1.2.3', draft: true });
    expect(release.data.upload_url).toBe(
      `${github.server.uploadsUrl}/repos/${owner}/${repo}/releases/${release.data.id}/assets{?name,label}`,
    );
    const asset = await octokit.rest.repos.uploadReleaseAsset({
      owner,
      repo,
      release_id: release.data.id,
      url: release.data.upload_url,
      name: 'model.int4.onnx',
      label: 'int4',
      data: bytes as unknown as string,
      headers: { 'content-type': 'application/octet-stream' },
    });

    expect(asset.status).toBe(201);
    expect(asset.data).toMatchObject({
      name: 'model.int4.onnx',
      label: 'int4',
      size: bytes.length,
      digest: `sha256:${digest}`,
    });
    expect(github.server.requests.at(-1)).toMatchObject({
      path: expect.stringMatching(/^\/uploads\//),
      bytes: bytes.length,
    });
    const stored = github.server.state.repos
      .get(`${owner}/${repo}`)
      ?.releases.get(release.data.id)
      ?.assets.get(asset.data.id);
    expect(stored?.content.equals(bytes)).toBe(true);

    const downloaded = await octokit.rest.repos.getReleaseAsset({
      owner,
      repo,
      asset_id: asset.data.id,
      headers: { accept: 'application/octet-stream' },
    });
    expect(Buffer.from(downloaded.data as unknown as ArrayBuffer).equals(bytes)).toBe(true);
    const anonymous = await fetch(asset.data.browser_download_url);
    expect(anonymous.status).toBe(404);
    const browser = await fetch(asset.data.browser_download_url, {
      headers: { authorization: `token ${TOKENS.write}` },
    });
    expect(Buffer.from(await browser.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses a second asset with the same name: 422 already_exists', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);
    const release = await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v1.2.3', draft: true });
    const upload = () =>
      octokit.rest.repos.uploadReleaseAsset({
        owner,
        repo,
        release_id: release.data.id,
        url: release.data.upload_url,
        name: 'manifest.json',
        data: '{}',
        headers: { 'content-type': 'application/json' },
      });

    await upload();
    const error = await failure(upload());

    expect(error.status).toBe(422);
    expect(error.response?.data).toMatchObject({
      errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }],
    });
  });

  it('refuses an upload to the API host instead of the uploads host, and one without Content-Length', async () => {
    const release = seedRelease(github.server, { owner, repo, tag: 'v1', draft: true });
    const path = `/repos/${owner}/${repo}/releases/${release.id}/assets?name=a.bin`;
    const headers = { authorization: `token ${TOKENS.write}`, 'content-type': 'application/octet-stream' };

    const wrongHost = await fetch(`${github.server.url}${path}`, { method: 'POST', headers, body: 'abc' });
    const chunked = await fetch(`${github.server.uploadsUrl}${path}`, {
      method: 'POST',
      headers,
      body: new Blob(['abc']).stream(),
      duplex: 'half',
    } as RequestInit);

    expect(wrongHost.status).toBe(404);
    expect(chunked.status).toBe(422);
    expect(github.server.takeViolations().map((v) => v.message)).toEqual([
      expect.stringContaining('belongs on the uploads host'),
      expect.stringContaining('the Content-Length header is required'),
    ]);
  });

  it('refuses an asset of 2 GiB or more (here a lowered limit)', async () => {
    const release = seedRelease(github.server, { owner, repo, tag: 'v1', draft: true });
    github.server.state.limits.maxAssetBytes = 1024;
    const error = await failure(
      testOctokit(github.server).rest.repos.uploadReleaseAsset({
        owner,
        repo,
        release_id: release.id,
        url: `${github.server.uploadsUrl}/repos/${owner}/${repo}/releases/${release.id}/assets{?name,label}`,
        name: 'big.bin',
        data: Buffer.alloc(1025) as unknown as string,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    );
    expect(error.status).toBe(422);
    expect(error.response?.data).toMatchObject({ errors: [{ field: 'size' }] });
  });

  it('finds a release by tag only once it is published; drafts are listed for write tokens only', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);
    const reader = testOctokit(github.server, { token: TOKENS.read });
    const draft = await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v1.2.3', draft: true });

    expect((await failure(octokit.rest.repos.getReleaseByTag({ owner, repo, tag: 'v1.2.3' }))).status).toBe(
      404,
    );
    expect((await octokit.rest.repos.listReleases({ owner, repo })).data.map((r) => r.id)).toEqual([
      draft.data.id,
    ]);
    expect((await reader.rest.repos.listReleases({ owner, repo })).data).toEqual([]);
    expect(
      (await failure(reader.rest.repos.getRelease({ owner, repo, release_id: draft.data.id }))).status,
    ).toBe(404);
    expect((await failure(octokit.rest.git.getRef({ owner, repo, ref: 'tags/v1.2.3' }))).status).toBe(404);

    const published = await octokit.rest.repos.updateRelease({
      owner,
      repo,
      release_id: draft.data.id,
      draft: false,
    });
    expect(published.data).toMatchObject({ draft: false, published_at: expect.any(String) });

    const byTag = await reader.rest.repos.getReleaseByTag({ owner, repo, tag: 'v1.2.3' });
    expect(byTag.data.id).toBe(draft.data.id);
    const tag = await octokit.rest.git.getRef({ owner, repo, ref: 'tags/v1.2.3' });
    expect(tag.data.object.sha).toBe(
      github.server.state.repos.get(`${owner}/${repo}`)?.refs.get('refs/heads/main'),
    );
    expect((await reader.rest.repos.getLatestRelease({ owner, repo })).data.id).toBe(draft.data.id);
  });

  it('allows two drafts with one tag but only one published release per tag', async () => {
    seedRepo(github.server, { owner, repo });
    const octokit = testOctokit(github.server);

    await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v2', draft: true });
    await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v2', draft: true });
    await octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v2' });
    const error = await failure(octokit.rest.repos.createRelease({ owner, repo, tag_name: 'v2' }));

    expect(error.status).toBe(422);
    expect(error.response?.data).toMatchObject({
      errors: [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }],
    });
  });

  it('lists, deletes assets and releases', async () => {
    const release = seedRelease(github.server, {
      owner,
      repo,
      tag: 'v1',
      assets: { 'a.bin': 'a', 'b.bin': 'b' },
    });
    const octokit = testOctokit(github.server);

    const assets = await octokit.rest.repos.listReleaseAssets({ owner, repo, release_id: release.id });
    expect(assets.data.map((a) => a.name)).toEqual(['a.bin', 'b.bin']);
    await octokit.rest.repos.deleteReleaseAsset({ owner, repo, asset_id: assets.data[0]?.id ?? 0 });
    expect(
      (await octokit.rest.repos.listReleaseAssets({ owner, repo, release_id: release.id })).data,
    ).toHaveLength(1);
    await octokit.rest.repos.deleteRelease({ owner, repo, release_id: release.id });
    expect(
      (await failure(octokit.rest.repos.getRelease({ owner, repo, release_id: release.id }))).status,
    ).toBe(404);
  });
});

describe('git refs and commits', () => {
  it('creates a tag ref, reads it back (octokit sends tags%2Fv1.2.3) and refuses it twice', async () => {
    seedRepo(github.server, { owner, repo, headSha });
    const octokit = testOctokit(github.server);

    const created = await octokit.rest.git.createRef({ owner, repo, ref: 'refs/tags/v1.2.3', sha: headSha });
    const read = await octokit.rest.git.getRef({ owner, repo, ref: 'tags/v1.2.3' });
    const again = await failure(
      octokit.rest.git.createRef({ owner, repo, ref: 'refs/tags/v1.2.3', sha: headSha }),
    );

    expect(created.status).toBe(201);
    expect(read.data).toMatchObject({ ref: 'refs/tags/v1.2.3', object: { type: 'commit', sha: headSha } });
    expect(github.server.requests[1]?.path).toBe(`/repos/${owner}/${repo}/git/ref/tags%2Fv1.2.3`);
    expect([again.status, again.message]).toEqual([422, expect.stringContaining('Reference already exists')]);
    const commit = await octokit.rest.repos.getCommit({ owner, repo, ref: 'v1.2.3' });
    expect(commit.data.sha).toBe(headSha);
  });
});

describe('workflow runs and artifacts', () => {
  it('lists a run’s artifacts by name and redirects the zip download to its bytes', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, fork: true });
    const run = seedWorkflowRun(github.server, {
      owner,
      repo,
      pullRequest: 7,
      artifacts: {
        'bench-results': { 'bench-result.json': '{"schema":"slmops.bench/v1"}' },
        other: { 'x.txt': 'x' },
      },
    });
    const octokit = testOctokit(github.server, { token: TOKENS.read });

    const fetched = await octokit.rest.actions.getWorkflowRun({ owner, repo, run_id: run.id });
    expect(fetched.data.pull_requests).toEqual([]);
    expect(fetched.data.head_repository.full_name).toBe(`contributor/${repo}`);
    const listed = await octokit.rest.actions.listWorkflowRunArtifacts({
      owner,
      repo,
      run_id: run.id,
      name: 'bench-results',
    });
    expect(listed.data.total_count).toBe(1);
    const artifact = listed.data.artifacts[0];
    expect(artifact?.name).toBe('bench-results');

    const zip = await octokit.rest.actions.downloadArtifact({
      owner,
      repo,
      artifact_id: artifact?.id ?? 0,
      archive_format: 'zip',
    });
    const expected = github.server.state.repos.get(`${owner}/${repo}`)?.artifacts.get(artifact?.id ?? 0)?.zip;
    expect(Buffer.from(zip.data as ArrayBuffer).equals(expected ?? Buffer.alloc(0))).toBe(true);
    expect(zip.url).toMatch(/\/_objects\/artifacts\//);
  });

  it('answers 410 for an expired artifact', async () => {
    const run = seedWorkflowRun(github.server, { owner, repo });
    const artifact = seedArtifact(github.server, {
      owner,
      repo,
      runId: run.id,
      name: 'old',
      content: { a: 'a' },
      expired: true,
    });
    const error = await failure(
      testOctokit(github.server).rest.actions.downloadArtifact({
        owner,
        repo,
        artifact_id: artifact.id,
        archive_format: 'zip',
      }),
    );
    expect(error.status).toBe(410);
  });
});
