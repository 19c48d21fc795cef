/**
 * Publishing against the GitHub test server (OpenAPI-validated): a release created as a draft, every asset
 * uploaded and verified, then published; re-runs (unchanged, refreshed results, resumed drafts after a failure),
 * refusals (another identity, a read-only token), races between concurrent runs, parts, and servers without
 * digests.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import type { ReleasePort } from '../../src/github/ports.ts';
import { INDEX_TAG, readIndex } from '../../src/publish/channels.ts';
import { releasePort } from '../../src/publish/github-releases.ts';
import { type PublishOptions, publishBundle } from '../../src/publish/publish.ts';
import { testOctokit } from '../github-server/client.ts';
import { seedRelease, seedRepo } from '../github-server/fixtures.ts';
import type { Release, Repo } from '../github-server/state.ts';
import { TOKENS } from '../github-server/state.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { tempDir } from '../helpers/fixtures.ts';
import {
  COMMIT,
  memoryLogger,
  OWNER,
  REPO,
  resultsFolder,
  sha256,
  tagEnv,
  variantsFolder,
} from './helpers.ts';

const github = useGitHubServer();
const tmp = tempDir('slmops-publish-');
afterAll(() => tmp.remove());
let n = 0;
const scratch = () => {
  const dir = join(tmp.path, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

function port(token: string = TOKENS.write): ReleasePort {
  seedRepo(github.server, { owner: OWNER, repo: REPO, headSha: COMMIT });
  return releasePort(testOctokit(github.server, { token }), { owner: OWNER, repo: REPO });
}

function repoState(): Repo {
  return github.server.state.repos.get(`${OWNER}/${REPO}`) as Repo;
}

function releasesWithTag(tag: string): Release[] {
  return [...repoState().releases.values()].filter((r) => r.tagName === tag);
}

function options(dir: string, extra: Partial<PublishOptions> = {}): PublishOptions {
  return { dir, env: tagEnv('v1.0.0'), draft: false, releases: port(), log: memoryLogger(), ...extra };
}

describe('publishing a bundle', () => {
  it('creates a draft, uploads every asset, checks each, publishes, and records the version in the index', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const results = resultsFolder(root, dir);

    const outcome = await publishBundle(options(dir, { results: [results] }));

    expect(outcome).toMatchObject({ result: 'published', name: 'digits', version: '1.0.0', tag: 'v1.0.0' });
    const [release, ...others] = releasesWithTag('v1.0.0');
    expect(others).toEqual([]);
    expect(release).toMatchObject({
      id: outcome.releaseId,
      draft: false,
      prerelease: false,
      name: 'digits 1.0.0',
    });
    const assets = [...(release as Release).assets.values()];
    expect(assets.map((a) => a.name).sort()).toEqual([
      'digits@fp16--model.onnx',
      'digits@fp16--weights--data.bin',
      'digits@fp16--weights--extra.bin',
      'digits@int8--model.onnx',
      'manifest.json',
      'results.json',
    ]);
    for (const f of outcome.manifest.files) {
      const asset = assets.find((a) => a.name === f.asset);
      expect(asset?.content.equals(readFileSync(join(dir, f.path)))).toBe(true);
    }
    expect(outcome.assets.map((a) => a.name)).toEqual(
      assets
        .map((a) => a.name)
        .sort((a, b) =>
          a === 'manifest.json'
            ? -1
            : b === 'manifest.json'
              ? 1
              : a === 'results.json'
                ? 1
                : b === 'results.json'
                  ? -1
                  : a < b
                    ? -1
                    : 1,
        ),
    );

    // Draft first, the assets, then the release published.
    const ops = github.server.requests
      .map((r) => r.operationId)
      .filter((o) => o?.includes('release') && o !== 'repos/list-releases');
    expect(ops[0]).toBe('repos/create-release');
    expect(github.server.requests.find((r) => r.operationId === 'repos/create-release')?.body).toMatchObject({
      draft: true,
      tag_name: 'v1.0.0',
      target_commitish: COMMIT,
    });
    const publishAt = github.server.requests.findIndex(
      (r) => r.operationId === 'repos/update-release' && (r.body as { draft?: boolean }).draft === false,
    );
    const lastUpload = github.server.requests.findLastIndex(
      (r) => r.operationId === 'repos/upload-release-asset' && r.path.includes(`/${outcome.releaseId}/`),
    );
    expect(publishAt).toBeGreaterThan(lastUpload);

    // Notes: the benchmark table, the gate's verdict, how to pull; the marker.
    expect(release?.body).toContain('| `digits@int8` | raspberry-pi-5 | on device | 12.5 |');
    expect(release?.body).toContain('| `digits@fp16` | raspberry-pi-5 | on device | 9.50 |');
    // The install line is a command the CLI takes: every flag is one of `slmops pull`'s.
    const install = release!.body!.split('\n').find((l) => l.startsWith('npx slmops pull '))!;
    expect(install).toContain('--repo octo-org/edge-models --release 1.0.0');
    const pull = buildProgram({ out() {}, err() {} }).commands.find((c) => c.name() === 'pull')!;
    const flags = new Set(pull.options.map((o) => o.long));
    for (const flag of install.match(/--[a-z-]+/g)!) expect(flags.has(flag), flag).toBe(true);
    expect(release?.body).toContain(
      `<!-- slmops:release name="digits" version="1.0.0" identity="${outcome.manifest.identity}" -->`,
    );

    // Subjects: sha256sum lines for the manifest and every file.
    const manifestAsset = assets.find((a) => a.name === 'manifest.json');
    expect(outcome.subjects.split('\n').filter(Boolean)).toEqual([
      `${manifestAsset?.sha256}  manifest.json`,
      ...outcome.manifest.files.map((f) => `${f.sha256}  ${f.path}`),
    ]);

    const index = await readIndex(port());
    expect(index.doc.models.digits?.versions.map((v) => [v.version, v.tag, v.releaseId])).toEqual([
      ['1.0.0', 'v1.0.0', outcome.releaseId],
    ]);
    expect(
      index.doc.models.digits?.versions[0]?.profiles['raspberry-pi-5']?.map((m) => [m.variant, m.verdict]),
    ).toEqual([
      ['digits@fp16', 'fail'],
      ['digits@int8', 'pass'],
    ]);
    expect(releasesWithTag(INDEX_TAG)[0]).toMatchObject({ draft: false, prerelease: true });
  });

  it('reports unchanged when the version is published with the same files, uploading nothing', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const first = await publishBundle(options(dir));
    const uploadsTo = (id: number) =>
      github.server.requests.filter(
        (r) => r.operationId === 'repos/upload-release-asset' && r.path.includes(`/releases/${id}/`),
      ).length;
    const before = uploadsTo(first.releaseId);

    const again = await publishBundle(options(dir));

    expect(again).toMatchObject({ result: 'unchanged', releaseId: first.releaseId, version: '1.0.0' });
    expect(uploadsTo(first.releaseId)).toBe(before);
    expect(releasesWithTag('v1.0.0')).toHaveLength(1);
    expect(
      github.server.requests.filter(
        (r) =>
          r.operationId === 'repos/create-release' && (r.body as { tag_name: string }).tag_name === 'v1.0.0',
      ),
    ).toHaveLength(1);
  });

  it('refreshes results.json of a published version without changing its files', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publishBundle(options(dir));
    const release = releasesWithTag('v1.0.0')[0] as Release;
    const before = new Map([...release.assets.values()].map((a) => [a.name, a.id]));

    const again = await publishBundle(options(dir, { results: [resultsFolder(root, dir)] }));

    expect(again.result).toBe('unchanged');
    const after = [...release.assets.values()];
    const results = after.find((a) => a.name === 'results.json');
    expect(JSON.parse(results?.content.toString('utf8') ?? '{}').bench).toHaveLength(3);
    for (const a of after.filter((x) => x.name !== 'results.json')) expect(before.get(a.name)).toBe(a.id);
    expect(release.body).toContain('### Benchmarks');
  });

  it('refuses to publish other model files under a version that is published, naming what changed', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publishBundle(options(dir));
    const data = join(dir, 'digits@fp16', 'weights', 'extra.bin');
    writeFileSync(data, Buffer.concat([readFileSync(data), Buffer.from([1])]));

    await expect(publishBundle(options(dir))).rejects.toThrow(
      'version 1.0.0: version 1.0.0 of digits is already published with different model files (changed: digits@fp16/weights/extra.bin). A published version is never overwritten',
    );
    expect(releasesWithTag('v1.0.0')).toHaveLength(1);
  });

  it('completes the same draft when re-run after a failed upload, replacing a broken asset', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const real = port();
    let failing = true;
    const flaky: ReleasePort = {
      ...real,
      uploadAsset: (release, asset) =>
        failing && asset.name === 'digits@int8--model.onnx'
          ? Promise.reject(new Error('socket hang up'))
          : real.uploadAsset(release, asset),
    };
    await expect(publishBundle(options(dir, { releases: flaky }))).rejects.toThrow(
      /could not upload digits@int8--model\.onnx intact after 3 attempts: socket hang up/,
    );
    const [draft] = releasesWithTag('v1.0.0');
    expect(draft?.draft).toBe(true);
    // A partial upload left behind: right name, wrong bytes.
    const broken = [...(draft as Release).assets.values()].find((a) => a.name === 'digits@fp16--model.onnx');
    Object.assign(broken as object, { content: Buffer.from('partial'), size: 7, sha256: sha256('partial') });
    const uploadsBefore = github.server.requests.filter(
      (r) => r.operationId === 'repos/upload-release-asset',
    ).length;

    failing = false;
    const log = memoryLogger();
    const rerun = await publishBundle(options(dir, { releases: flaky, log }));

    expect(rerun).toMatchObject({ result: 'published', releaseId: draft?.id });
    expect(releasesWithTag('v1.0.0')).toHaveLength(1);
    const names = [...(draft as Release).assets.values()].map((a) => a.name).sort();
    expect(names).toEqual([...new Set(names)]);
    expect(log.lines).toContain(
      `info: resuming draft ${draft?.id} of v1.0.0 (a previous run of this version stopped before publishing)`,
    );
    expect(log.lines).toContain(`info: deleting broken asset digits@fp16--model.onnx of draft ${draft?.id}`);
    const reuploaded = github.server.requests
      .filter((r) => r.operationId === 'repos/upload-release-asset')
      .slice(uploadsBefore)
      .filter((r) => r.path.includes(`/${draft?.id}/`))
      .map((r) => r.query.name);
    // The broken asset again, the one that failed, and results.json (last in line); nothing else.
    expect(reuploaded.sort()).toEqual(['digits@fp16--model.onnx', 'digits@int8--model.onnx', 'results.json']);
  });

  it('ends two concurrent publishes of one version with one release holding each asset once', async () => {
    for (const version of ['1.0.0', '1.0.1', '1.0.2']) {
      const root = scratch();
      const dir = variantsFolder(root);
      const env = tagEnv(`v${version}`);
      const outcomes = await Promise.all([
        publishBundle(options(dir, { env, releases: port() })),
        publishBundle(options(dir, { env, releases: port() })),
      ]);
      expect(outcomes.map((o) => o.result).sort()).toEqual(['published', 'superseded']);
      expect(new Set(outcomes.map((o) => o.releaseId)).size).toBe(1);
      const releases = releasesWithTag(`v${version}`);
      expect(releases).toHaveLength(1);
      expect(releases[0]?.draft).toBe(false);
      const names = [...(releases[0] as Release).assets.values()].map((a) => a.name);
      expect(names.length).toBe(new Set(names).size);
      expect(names.length).toBe(6);
    }
  });

  it('fails the loser of a race that publishes other files under the same version', async () => {
    const root = scratch();
    const a = variantsFolder(root, 'a');
    const b = variantsFolder(root, 'b');
    const data = join(b, 'digits@fp16', 'weights', 'extra.bin');
    writeFileSync(data, Buffer.concat([readFileSync(data), Buffer.from([0])]));
    const settled = await Promise.allSettled([
      publishBundle(options(a, { releases: port() })),
      publishBundle(options(b, { releases: port() })),
    ]);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const failure = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(String(failure.reason)).toMatch(
      /(holds different model files|already published with different model files)/,
    );
    expect(releasesWithTag('v1.0.0')).toHaveLength(1);
  });

  it('leaves a complete, verified draft with draft: true, and publishes it on the next run', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const draft = await publishBundle(options(dir, { draft: true }));
    expect(draft.result).toBe('draft');
    expect(releasesWithTag('v1.0.0')[0]?.draft).toBe(true);
    expect(releasesWithTag(INDEX_TAG)).toEqual([]);
    const published = await publishBundle(options(dir));
    expect(published).toMatchObject({ result: 'published', releaseId: draft.releaseId });
  });

  it('uploads files larger than the part size in parts and checks each', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const outcome = await publishBundle(options(dir, { partBytes: 50_000 }));
    const release = releasesWithTag('v1.0.0')[0] as Release;
    const model = readFileSync(join(dir, 'digits@int8', 'model.onnx'));
    const parts = [...release.assets.values()]
      .filter((a) => a.name.startsWith('digits@int8--model.onnx.part-'))
      .sort((x, y) => (x.name < y.name ? -1 : 1));
    expect(parts.map((p) => p.size)).toEqual([50_000, 50_000, 50_000, model.length - 150_000]);
    expect(Buffer.concat(parts.map((p) => p.content)).equals(model)).toBe(true);
    expect(outcome.subjects).toContain(`${sha256(model)}  digits@int8/model.onnx`);
  });

  it('downloads and hashes each asset when the API reports no digest', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const real = port();
    const strip = <T extends { sha256: string | undefined }>(a: T): T => ({ ...a, sha256: undefined });
    const noDigest: ReleasePort = {
      ...real,
      uploadAsset: async (r, a) => strip(await real.uploadAsset(r, a)),
      listAssets: async (id) => (await real.listAssets(id)).map(strip),
    };
    const outcome = await publishBundle(options(dir, { releases: noDigest }));
    expect(outcome.result).toBe('published');
    const downloads = github.server.requests.filter(
      (r) =>
        r.operationId === 'repos/get-release-asset' &&
        String(r.headers.accept).includes('application/octet-stream'),
    );
    // Each of the five release assets downloaded and hashed once after its upload (the index's manifest aside).
    expect(downloads.length).toBeGreaterThanOrEqual(5);
  });

  it('bumps the last release when asked for minor on a branch', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const releases = port();
    seedRelease(github.server, { owner: OWNER, repo: REPO, tag: 'v1.2.3' });
    seedRelease(github.server, { owner: OWNER, repo: REPO, tag: 'v1.10.0-rc.1', prerelease: true });
    const outcome = await publishBundle(
      options(dir, {
        releases,
        env: { ...tagEnv(), GITHUB_REF: 'refs/heads/main' },
        request: { kind: 'bump', level: 'minor' },
      }),
    );
    expect(outcome).toMatchObject({ version: '1.10.0', tag: 'v1.10.0', result: 'published' });
  });

  it('tells a read-only token to get contents: write', async () => {
    const root = scratch();
    await expect(
      publishBundle(options(variantsFolder(root), { releases: port(TOKENS.read) })),
    ).rejects.toThrow(
      /^github-token: GitHub refused to let this token create a release \(403: .*\)\. Give the job `permissions: contents: write`/,
    );
  });
});
