import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  fakeSha,
  githubEnv,
  pullRequestEvent,
  seedPullRequest,
  seedWorkflowRun,
  workflowRunEvent,
  zipFiles,
} from './fixtures.ts';
import { TOKENS } from './state.ts';
import { useGitHubServer } from './use-server.ts';

const github = useGitHubServer();
const owner = 'octo-org';
const repo = 'edge-models';
const headSha = fakeSha('head');
const baseSha = fakeSha('base');

describe('event payloads', () => {
  it('builds a pull_request payload that GitHub’s webhook schema accepts, with the fork as head repository', () => {
    seedPullRequest(github.server, { owner, repo, number: 12, headSha, baseSha, fork: true });

    const event = pullRequestEvent(github.server, { owner, repo, number: 12 });

    expect(github.server.validator.webhook('pull-request-synchronize', event)).toBeUndefined();
    expect(event).toMatchObject({
      action: 'synchronize',
      number: 12,
      pull_request: {
        number: 12,
        head: { sha: headSha, repo: { full_name: `contributor/${repo}`, fork: true } },
        base: { sha: baseSha, repo: { full_name: `${owner}/${repo}` } },
      },
      repository: { full_name: `${owner}/${repo}` },
    });
    const opened = pullRequestEvent(github.server, { owner, repo, number: 12, action: 'opened' });
    expect(github.server.validator.webhook('pull-request-opened', opened)).toBeUndefined();
  });

  it('builds a workflow_run payload: no pull requests for a fork, the pull request for a branch', () => {
    seedPullRequest(github.server, { owner, repo, number: 12, headSha, baseSha, fork: true });
    seedPullRequest(github.server, { owner, repo, number: 13, headSha: fakeSha('h13'), baseSha });
    const fromFork = seedWorkflowRun(github.server, { owner, repo, pullRequest: 12 });
    const fromBranch = seedWorkflowRun(github.server, { owner, repo, pullRequest: 13 });

    const forkEvent = workflowRunEvent(github.server, { owner, repo, runId: fromFork.id });
    const branchEvent = workflowRunEvent(github.server, { owner, repo, runId: fromBranch.id });

    expect(github.server.validator.webhook('workflow-run-completed', forkEvent)).toBeUndefined();
    expect(github.server.validator.webhook('workflow-run-completed', branchEvent)).toBeUndefined();
    expect(forkEvent).toMatchObject({
      action: 'completed',
      workflow_run: {
        event: 'pull_request',
        head_sha: headSha,
        pull_requests: [],
        head_repository: { fork: true },
      },
    });
    expect(branchEvent).toMatchObject({
      workflow_run: { pull_requests: [{ number: 13, head: { sha: fakeSha('h13') } }] },
    });
  });

  it('gives a fork pull request’s run the read-only token, its merge commit and its merge ref', () => {
    const pull = seedPullRequest(github.server, { owner, repo, number: 12, headSha, baseSha, fork: true });

    expect(githubEnv(github.server, { owner, repo, pullRequest: 12 })).toEqual({
      GITHUB_API_URL: github.server.url,
      GITHUB_SERVER_URL: github.server.webUrl,
      GITHUB_GRAPHQL_URL: `${github.server.url}/graphql`,
      GITHUB_REPOSITORY: `${owner}/${repo}`,
      GITHUB_REPOSITORY_OWNER: owner,
      GITHUB_EVENT_NAME: 'pull_request',
      GITHUB_SHA: pull.mergeCommitSha,
      GITHUB_REF: 'refs/pull/12/merge',
      GITHUB_TOKEN: TOKENS.read,
    });
  });
});

describe('zipFiles', () => {
  it('writes stored entries whose names, bytes and CRC-32 read back', () => {
    const zip = zipFiles({ 'bench-result.json': '{"a":1}', 'dir/b.txt': 'bee' });

    const entries: { name: string; data: string }[] = [];
    let offset = 0;
    while (zip.readUInt32LE(offset) === 0x04034b50) {
      const crc = zip.readUInt32LE(offset + 14);
      const size = zip.readUInt32LE(offset + 18);
      const nameLength = zip.readUInt16LE(offset + 26);
      const name = zip.subarray(offset + 30, offset + 30 + nameLength).toString('utf8');
      const data = zip.subarray(offset + 30 + nameLength, offset + 30 + nameLength + size);
      expect(crc32(data)).toBe(crc);
      entries.push({ name, data: data.toString('utf8') });
      offset += 30 + nameLength + size;
    }

    expect(entries).toEqual([
      { name: 'bench-result.json', data: '{"a":1}' },
      { name: 'dir/b.txt', data: 'bee' },
    ]);
    expect(zip.readUInt32LE(zip.length - 22)).toBe(0x06054b50);
    expect(zip.readUInt16LE(zip.length - 12)).toBe(2);
  });
});
