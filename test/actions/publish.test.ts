/**
 * The built publish action (`node dist/publish/index.js`, run as a runner runs it) against the GitHub test server
 * (`GITHUB_API_URL`): a tag push publishes a verified release and sets the outputs (subjects in the form
 * actions/attest-build-provenance reads); a re-run is `unchanged`; two concurrent runs end with one release.
 * Every request is checked against GitHub's OpenAPI description.
 */

import { mkdirSync } from 'node:fs';
import { EOL } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { githubEnv, seedRepo } from '../github-server/fixtures.ts';
import type { Repo } from '../github-server/state.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { FAKE_TOKEN, runAction } from '../harness/run-action.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { COMMIT, OWNER, REPO, resultsFolder, variantsFolder } from '../publish/helpers.ts';

const github = useGitHubServer();
const tmp = tempDir('slmops-publish-action-');
afterAll(() => tmp.remove());
let n = 0;

function fixtures(): Record<string, string> {
  const root = join(tmp.path, `case-${n++}`);
  mkdirSync(root, { recursive: true });
  const variants = variantsFolder(root);
  return { 'slmops/variants': variants, 'slmops/results': resultsFolder(root, variants) };
}

function tagPush(tag: string, extra: Record<string, string> = {}) {
  seedRepo(github.server, { owner: OWNER, repo: REPO, headSha: COMMIT });
  const env = githubEnv(github.server, { owner: OWNER, repo: REPO, ref: `refs/tags/${tag}`, sha: COMMIT });
  return {
    eventName: 'push',
    event: {
      ref: `refs/tags/${tag}`,
      after: COMMIT,
      repository: { full_name: `${OWNER}/${REPO}`, default_branch: 'main' },
    },
    env: { ...env, GITHUB_TOKEN: '', SLMOPS_GITHUB_RETRY_BASE_MS: '1', ...extra },
  };
}

/** What actions/attest reads from `subject-checksums` when it is not a file: `<hex> [*| ]<name>` per line. */
function attestSubjects(checksums: string): { name: string; digest: { sha256: string } }[] {
  return checksums
    .split(EOL)
    .filter(Boolean)
    .map((record) => {
      const delim = record.indexOf(' ');
      const rest = record.slice(delim + 1);
      const name = rest.startsWith('*') || rest.startsWith(' ') ? rest.slice(1) : rest;
      const digest = record.slice(0, delim);
      if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`Invalid digest: ${digest}`);
      return { name, digest: { sha256: digest } };
    });
}

function releasesOf(tag: string) {
  const repo = github.server.state.repos.get(`${OWNER}/${REPO}`) as Repo;
  return [...repo.releases.values()].filter((r) => r.tagName === tag);
}

describe('the publish action against the GitHub test server', () => {
  it('publishes a tag push as a verified release and sets every output', async () => {
    const run = await runAction({
      action: 'publish',
      inputs: { 'model-dir': 'slmops/variants', results: 'slmops/results', channel: 'stable' },
      files: fixtures(),
      ...tagPush('v1.0.0'),
      timeoutMs: 120_000,
    });

    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain(`::add-mask::${FAKE_TOKEN}`);
    const [release] = releasesOf('v1.0.0');
    expect(release).toMatchObject({ draft: false });
    expect(run.outputs).toMatchObject({
      'release-id': String(release?.id),
      version: '1.0.0',
      tag: 'v1.0.0',
      result: 'published',
      'release-url': `${github.server.webUrl}/${OWNER}/${REPO}/releases/tag/v1.0.0`,
    });
    const assets = JSON.parse(run.outputs.assets ?? '[]') as {
      name: string;
      bytes: number;
      sha256: string;
    }[];
    expect(assets.map((a) => a.name)).toEqual([
      'manifest.json',
      'digits@fp16--model.onnx',
      'digits@fp16--weights--data.bin',
      'digits@fp16--weights--extra.bin',
      'digits@int8--model.onnx',
      'results.json',
    ]);
    for (const a of assets) {
      const held = [...(release?.assets.values() ?? [])].find((x) => x.name === a.name);
      expect([held?.size, held?.sha256]).toEqual([a.bytes, a.sha256]);
    }
    const subjects = attestSubjects(run.outputs.subjects ?? '');
    expect(subjects.map((s) => s.name)).toEqual([
      'manifest.json',
      'digits@fp16/model.onnx',
      'digits@fp16/weights/data.bin',
      'digits@fp16/weights/extra.bin',
      'digits@int8/model.onnx',
    ]);
    expect(subjects[0]?.digest.sha256).toBe(assets[0]?.sha256);
    expect(run.summary).toContain('### slmops publish: digits 1.0.0 published');
    expect(release?.body).toContain('### Benchmarks');
    // No git in the workspace and no SOURCE_DATE_EPOCH: the commit's time came from the API.
    const manifest = JSON.parse(
      [...(release?.assets.values() ?? [])].find((a) => a.name === 'manifest.json')?.content.toString() ??
        '{}',
    );
    expect(manifest.createdAt).toBe(
      github.server.state.repos.get(`${OWNER}/${REPO}`)?.commits.get(COMMIT)?.author.date,
    );
  });

  it('reports unchanged when re-run for a version already published with the same files', async () => {
    const files = fixtures();
    const first = await runAction({
      action: 'publish',
      inputs: { 'model-dir': 'slmops/variants' },
      files,
      ...tagPush('v2.0.0', { SOURCE_DATE_EPOCH: '1795953600' }),
    });
    const rerun = await runAction({
      action: 'publish',
      inputs: { 'model-dir': 'slmops/variants' },
      files,
      ...tagPush('v2.0.0', { SOURCE_DATE_EPOCH: '1795953600' }),
    });

    expect(first.outputs.result, first.stdout).toBe('published');
    expect(rerun.exitCode, rerun.stdout).toBe(0);
    expect(rerun.outputs).toMatchObject({ result: 'unchanged', 'release-id': first.outputs['release-id'] });
    expect(rerun.outputs.subjects).toBe(first.outputs.subjects);
    expect(releasesOf('v2.0.0')).toHaveLength(1);
  });

  it('ends two concurrent runs for one tag with one release, the other run superseded', async () => {
    const files = fixtures();
    const context = tagPush('v3.0.0', { SOURCE_DATE_EPOCH: '1795953600' });
    const runs = await Promise.all([
      runAction({ action: 'publish', inputs: { 'model-dir': 'slmops/variants' }, files, ...context }),
      runAction({ action: 'publish', inputs: { 'model-dir': 'slmops/variants' }, files, ...context }),
    ]);
    for (const run of runs) expect(run.exitCode, run.stdout).toBe(0);
    expect(runs.map((r) => r.outputs.result).sort()).toEqual(['published', 'superseded']);
    expect(new Set(runs.map((r) => r.outputs['release-id'])).size).toBe(1);
    const releases = releasesOf('v3.0.0');
    expect(releases).toHaveLength(1);
    const names = [...(releases[0]?.assets.values() ?? [])].map((a) => a.name);
    expect(names).toHaveLength(new Set(names).size);
  });

  it('fails with exit code 2 and one line when the tag is not a semantic version', async () => {
    const run = await runAction({
      action: 'publish',
      inputs: { 'model-dir': 'slmops/variants' },
      files: fixtures(),
      ...tagPush('v1.2'),
    });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([
      'GITHUB_REF: tag v1.2 is not a semantic version. Tag versions as v1.2.3 (or <model>@v1.2.3), e.g. v1.2.0 or v1.2.0-rc.1',
    ]);
  });
});
