/**
 * The built gate action (`node dist/gate/index.js`, run as a runner runs it) against the test server: the sticky
 * comment on a busy pull request, the check run, the read-only token of a fork, and the workflow_run follow-up
 * that downloads the fork's results as artifacts. Every request the action makes is checked against GitHub's
 * OpenAPI description (`useGitHubServer` fails the test on a violation).
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { markerFor } from '../../src/github/sticky-comment.ts';
import {
  fakeSha,
  githubEnv,
  pullRequestEvent,
  seedPullRequest,
  seedRepo,
  seedWorkflowRun,
  workflowRunEvent,
} from '../github-server/fixtures.ts';
import type { GitHubServer } from '../github-server/server.ts';
import { TOKENS } from '../github-server/state.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { runAction } from '../harness/run-action.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { benchResult } from '../helpers/results.ts';

const github = useGitHubServer();
const owner = 'octo-org';
const repo = 'edge-models';
const headSha = fakeSha('head');
const baseSha = fakeSha('base');
const marker = markerFor('model-ci');
const scratch = tempDir('slmops-gate-server-');
afterAll(() => scratch.remove());

/** A bench result within the default budgets (faster than the baseline, same size) for the pull request. */
function passing(pullRequest: number, sha: string): string {
  return JSON.stringify(
    benchResult({
      pullRequest: { number: pullRequest, headSha: sha },
      comparison: { baselineVariantId: 'tiny-lm', ratioP50: 0.61, ci95: [0.59, 0.63], baselineBytes: 320000 },
    }),
  );
}

/** A folder with that result. */
function resultsFor(pullRequest: number, sha: string): string {
  const dir = join(scratch.path, `results-${pullRequest}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'bench-result.json'), passing(pullRequest, sha));
  return dir;
}

function env(server: GitHubServer, extra: Record<string, string>): Record<string, string> {
  return {
    GITHUB_WORKFLOW: 'model-ci',
    GITHUB_RUN_ID: '4242',
    SLMOPS_GITHUB_RETRY_BASE_MS: '1',
    ...extra,
    ...Object.fromEntries(
      Object.entries(githubEnv(server, { owner, repo })).filter(([k]) => k.endsWith('_URL')),
    ),
  };
}

/** The gate action on pull request `number`, in gate mode, with a passing result for its head. */
function gateOnPullRequest(number: number) {
  return runAction({
    action: 'gate',
    inputs: { results: 'results' },
    eventName: 'pull_request',
    event: pullRequestEvent(github.server, { owner, repo, number }),
    files: { results: resultsFor(number, headSha) },
    env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: number })),
  });
}

/** The gate action in comment mode, in the workflow_run follow-up of run `runId`, reading its `bench-*` artifacts. */
function gateFollowingRun(runId: number, extraEnv: Record<string, string> = {}) {
  return runAction({
    action: 'gate',
    inputs: { results: 'bench-*', mode: 'comment' },
    eventName: 'workflow_run',
    event: workflowRunEvent(github.server, { owner, repo, runId }),
    env: {
      ...env(github.server, githubEnv(github.server, { owner, repo, eventName: 'workflow_run' })),
      ...extraEnv,
    },
  });
}

function commentsOf(server: GitHubServer, number: number): string[] {
  const state = server.state.repos.get(`${owner}/${repo}`);
  return [...(state?.comments.values() ?? [])].filter((c) => c.issueNumber === number).map((c) => c.body);
}

describe('the gate action against the GitHub test server', () => {
  it('keeps exactly one sticky comment on a pull request with 300 comments after three runs, and creates check runs', async () => {
    seedPullRequest(github.server, { owner, repo, number: 7, headSha, baseSha, comments: 300 });
    const run = () =>
      runAction({
        action: 'gate',
        inputs: { results: 'results' },
        eventName: 'pull_request',
        event: pullRequestEvent(github.server, { owner, repo, number: 7 }),
        files: { results: resultsFor(7, headSha) },
        env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: 7 })),
      });

    const first = await run();
    const second = await run();
    const third = await run();

    expect(first.exitCode, first.stdout + first.stderr).toBe(0);
    expect(first.outputs).toMatchObject({ verdict: 'pass', 'comment-operation': 'created' });
    // Same run link and same results: the comment is already current.
    expect(second.outputs['comment-operation']).toBe('unchanged');
    expect(third.outputs['comment-operation']).toBe('unchanged');
    expect(third.outputs['comment-id']).toBe(first.outputs['comment-id']);
    const comments = commentsOf(github.server, 7);
    expect(comments).toHaveLength(301);
    expect(comments.filter((c) => c.includes(marker))).toHaveLength(1);
    const checks = [...(github.server.state.repos.get(`${owner}/${repo}`)?.checkRuns.values() ?? [])];
    expect(checks.map((c) => [c.name, c.headSha, c.conclusion])).toEqual(
      new Array(3).fill(['slmops gate', headSha, 'success']),
    );
  });

  it('falls back to the job summary when a fork’s read-only token may not comment', async () => {
    seedPullRequest(github.server, { owner, repo, number: 12, headSha, baseSha, fork: true, comments: 3 });

    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results', 'github-token': TOKENS.read },
      eventName: 'pull_request',
      event: pullRequestEvent(github.server, { owner, repo, number: 12 }),
      files: { results: resultsFor(12, headSha) },
      env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: 12 })),
    });

    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.outputs['comment-operation']).toBe('unchanged');
    expect(run.summary).toContain('Could not comment on the pull request');
    expect(commentsOf(github.server, 12)).toHaveLength(3);
    const refused = github.server.requests.filter((r) => r.method === 'POST');
    expect(refused.map((r) => [r.operationId, r.status])).toEqual([['issues/create-comment', 403]]);
  });

  it('posts the fork’s verdict from the workflow_run follow-up, reading the results from the run’s artifacts', async () => {
    seedPullRequest(github.server, { owner, repo, number: 12, headSha, baseSha, fork: true });
    const measured = seedWorkflowRun(github.server, {
      owner,
      repo,
      pullRequest: 12,
      artifacts: {
        'bench-rpi5': { 'bench-result.json': passing(12, headSha) },
        logs: { 'log.txt': 'not results' },
      },
    });

    // The action's own temporary folder, to see that the downloaded results do not outlive the step.
    const tmp = join(scratch.path, 'tmp-comment');
    mkdirSync(tmp);
    const run = await gateFollowingRun(measured.id, { TMPDIR: tmp });

    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(readdirSync(tmp).filter((name) => name.startsWith('slmops-results-'))).toEqual([]);
    expect(run.outputs['comment-operation']).toBe('created');
    expect(commentsOf(github.server, 12)).toEqual([expect.stringContaining(marker)]);
    expect(github.server.requests.map((r) => r.operationId)).toEqual([
      'actions/list-workflow-run-artifacts',
      'actions/download-artifact',
      'pulls/get',
      'issues/list-comments',
      'issues/create-comment',
      'issues/list-comments',
    ]);
  });

  it('survives a burst of 5xx answers and a secondary rate limit by retrying', async () => {
    seedPullRequest(github.server, { owner, repo, number: 8, headSha, baseSha, comments: 2 });
    github.server.faults.serverError({
      status: 502,
      count: 2,
      route: 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
    });
    github.server.faults.secondaryRateLimit({ count: 1, retryAfter: 1 });
    const run = await gateOnPullRequest(8);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.outputs['comment-operation']).toBe('created');
    expect(
      github.server.requests.filter((r) => r.status >= 500 || r.status === 403).length,
    ).toBeGreaterThanOrEqual(3);
    expect(commentsOf(github.server, 8).filter((c) => c.includes(marker))).toHaveLength(1);
  });

  it('fails the step on a clear regression, with a failing check run that annotates the budgets file', async () => {
    seedPullRequest(github.server, { owner, repo, number: 9, headSha, baseSha });
    const dir = join(scratch.path, 'slow');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'r.bench.json'),
      JSON.stringify(
        benchResult({
          pullRequest: { number: 9, headSha },
          comparison: {
            baselineVariantId: 'tiny-lm',
            ratioP50: 1.3,
            ci95: [1.25, 1.35],
            baselineBytes: 320000,
          },
        }),
      ),
    );
    const budgets = join(scratch.path, 'budgets.yml');
    writeFileSync(
      budgets,
      'schema: slmops.budgets/v1\nrules:\n  - profile: "*"\n    latency: { ratioTolerance: 0.05 }\n',
    );
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results', budgets: 'budgets.yml' },
      eventName: 'pull_request',
      event: pullRequestEvent(github.server, { owner, repo, number: 9 }),
      files: { results: dir, 'budgets.yml': budgets },
      env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: 9 })),
    });
    expect(run.exitCode, run.stdout + run.stderr).toBe(1);
    expect(run.outputs.verdict).toBe('fail');
    expect(run.errors).toEqual([expect.stringMatching(/the slmops gate failed: 1 budget/)]);
    const checks = [...(github.server.state.repos.get(`${owner}/${repo}`)?.checkRuns.values() ?? [])];
    expect(checks.map((c) => c.conclusion)).toEqual(['failure']);
    expect(commentsOf(github.server, 9)[0]).toMatch(/❌ slmops gate failed/);
  });

  it('turns the regression into an accepted pass when the pull request carries the accept label', async () => {
    seedPullRequest(github.server, {
      owner,
      repo,
      number: 10,
      headSha,
      baseSha,
      labels: ['slmops:accept-regression'],
    });
    const dir = join(scratch.path, 'accepted');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'r.bench.json'),
      JSON.stringify(
        benchResult({
          comparison: {
            baselineVariantId: 'tiny-lm',
            ratioP50: 1.3,
            ci95: [1.25, 1.35],
            baselineBytes: 320000,
          },
        }),
      ),
    );
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results' },
      eventName: 'pull_request',
      event: pullRequestEvent(github.server, { owner, repo, number: 10 }),
      files: { results: dir },
      env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: 10 })),
    });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.outputs.verdict).toBe('accepted');
    expect(commentsOf(github.server, 10)[0]).toMatch(/accepted with the label/);
  });

  it('exits 2 with one line naming github-token when the token is expired', async () => {
    seedPullRequest(github.server, { owner, repo, number: 11, headSha, baseSha });
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results', 'github-token': TOKENS.expired },
      eventName: 'pull_request',
      event: pullRequestEvent(github.server, { owner, repo, number: 11 }),
      files: { results: resultsFor(11, headSha) },
      env: env(github.server, githubEnv(github.server, { owner, repo, pullRequest: 11 })),
    });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([expect.stringMatching(/github-token: GitHub refused the token .*expired/)]);
    // The runner masks the token from the ::add-mask:: command on: no other line may carry it.
    const lines = (run.stdout + run.stderr).split('\n').filter((l) => !l.startsWith('::add-mask::'));
    expect(lines.join('\n')).not.toContain(TOKENS.expired);
  });

  it('lists every problem of a malformed budgets file with its path', async () => {
    seedRepo(github.server, { owner, repo });
    const budgets = join(scratch.path, 'bad-budgets.yml');
    writeFileSync(
      budgets,
      'schema: slmops.budgets/v1\nrules:\n  - profile: "*"\n    latency: { p90Ms: fast }\n  - profile: x\n    latncy: { p50Ms: 1 }\n',
    );
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results', budgets: 'budgets.yml', comment: 'never' },
      files: { results: resultsFor(1, headSha), 'budgets.yml': budgets },
      env: env(github.server, {}),
    });
    expect(run.exitCode).toBe(2);
    const text = run.errors.join('\n');
    expect(text).toMatch(/rules\[0\]\.latency\.p90Ms: must be a number/);
    expect(text).toMatch(/rules\[1\]\.latncy.*did you mean "latency"/);
  });

  it('says which results pattern matched nothing', async () => {
    seedRepo(github.server, { owner, repo });
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'no-such-folder/*.json', comment: 'never' },
      env: env(github.server, {}),
    });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([
      expect.stringMatching(/the results pattern "no-such-folder\/\*\.json" matched no bench result/),
    ]);
  });

  it('does not post from workflow_run when the results name another head than the run', async () => {
    seedPullRequest(github.server, { owner, repo, number: 13, headSha, baseSha, fork: true });
    const measured = seedWorkflowRun(github.server, {
      owner,
      repo,
      pullRequest: 13,
      artifacts: { 'bench-rpi5': { 'bench-result.json': passing(13, fakeSha('someone-else')) } },
    });
    const run = await gateFollowingRun(measured.id);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/not posting a comment/);
    expect(commentsOf(github.server, 13)).toEqual([]);
  });

  it("does not let a fork's results point the workflow_run comment at another pull request", async () => {
    const victimSha = fakeSha('pr-20-head');
    const forkSha = fakeSha('pr-21-head');
    seedPullRequest(github.server, { owner, repo, number: 20, headSha: victimSha, baseSha });
    seedPullRequest(github.server, { owner, repo, number: 21, headSha: forkSha, baseSha, fork: true });
    // The fork's run wrote results that name #20 with the fork's own head commit.
    const measured = seedWorkflowRun(github.server, {
      owner,
      repo,
      pullRequest: 21,
      artifacts: { 'bench-rpi5': { 'bench-result.json': passing(20, forkSha) } },
    });
    const run = await gateFollowingRun(measured.id);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/the results name pull request #20, whose head is .* not posting a comment/);
    expect(commentsOf(github.server, 20)).toEqual([]);
    expect(run.outputs['comment-operation']).toBe('unchanged');
  });

  it('keeps the verdict, the summary and the outputs when GitHub fails to take the comment', async () => {
    seedPullRequest(github.server, { owner, repo, number: 22, headSha, baseSha });
    github.server.faults.serverError({
      status: 503,
      count: 20,
      route: 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
    });
    const run = await gateOnPullRequest(22);
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(
      /GitHub did not answer while slmops tried to comment on the pull request \(503/,
    );
    expect(run.outputs.verdict).toBe('pass');
    expect(run.summary).toMatch(/Could not comment on the pull request/);
    expect(run.stdout + run.stderr).not.toMatch(/bug in slmops/);
  });

  it('puts the check run on the merge group commit, so a required gate check can pass in a merge queue', async () => {
    const queued = fakeSha('merge-queue-head');
    seedPullRequest(github.server, { owner, repo, number: 23, headSha: queued, baseSha });
    const run = await runAction({
      action: 'gate',
      inputs: { results: 'results' },
      eventName: 'merge_group',
      event: {
        action: 'checks_requested',
        merge_group: { head_sha: queued, head_ref: 'gh-readonly-queue/main/pr-23' },
      },
      files: { results: resultsFor(23, queued) },
      env: env(
        github.server,
        githubEnv(github.server, { owner, repo, eventName: 'merge_group', sha: queued }),
      ),
    });
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    const checks = [...(github.server.state.repos.get(`${owner}/${repo}`)?.checkRuns.values() ?? [])];
    expect(checks.filter((c) => c.headSha === queued).map((c) => [c.name, c.conclusion])).toEqual([
      ['slmops gate', 'success'],
    ]);
    expect(commentsOf(github.server, 23)).toEqual([]);
  });
});
