/**
 * The octokit ReleasePort against the GitHub test server: streamed uploads on the uploads host (with a retry after
 * a server error), the digest GitHub reports, streamed downloads through the redirect, and names already taken.
 */

import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AssetExistsError } from '../../src/github/ports.ts';
import { digestStream, fileRange } from '../../src/publish/digest.ts';
import { releasePort } from '../../src/publish/github-releases.ts';
import { testOctokit } from '../github-server/client.ts';
import { seedRepo } from '../github-server/fixtures.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { tempDir } from '../helpers/fixtures.ts';

const github = useGitHubServer();
const tmp = tempDir('slmops-releases-');
afterAll(() => tmp.remove());
const repo = { owner: 'octo-org', repo: 'edge-models' };

function port() {
  seedRepo(github.server, repo);
  return releasePort(testOctokit(github.server), repo);
}

describe('the GitHub release port', () => {
  it('uploads a file streamed from disk, retrying after a server error, and reports the digest GitHub computed', async () => {
    const releases = port();
    const file = join(tmp.path, 'weights.bin');
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    writeFileSync(file, bytes);
    const release = await releases.createRelease({
      tag: 'v1.0.0',
      name: 'v1.0.0',
      body: 'x',
      draft: true,
      prerelease: false,
    });
    github.server.faults.serverError({ route: 'POST /repos/{owner}/{repo}/releases/{release_id}/assets' });

    const asset = await releases.uploadAsset(release, {
      name: 'weights.bin',
      bytes: bytes.length,
      open: fileRange(file, 0, bytes.length),
    });

    expect(asset.size).toBe(bytes.length);
    expect(asset.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    const downloaded = await digestStream(await releases.downloadAsset(asset.id));
    expect(downloaded).toEqual({ bytes: bytes.length, sha256: asset.sha256 });
    expect(
      github.server.requests.filter((r) => r.method === 'POST' && r.path.includes('/assets')),
    ).toHaveLength(2);
  });

  it('uploads a byte range of a file as one asset', async () => {
    const releases = port();
    const file = join(tmp.path, 'range.bin');
    writeFileSync(file, Buffer.from('0123456789'));
    const release = await releases.createRelease({
      tag: 'v1.0.1',
      name: 'v1.0.1',
      body: '',
      draft: true,
      prerelease: false,
    });
    const asset = await releases.uploadAsset(release, {
      name: 'part',
      bytes: 4,
      open: fileRange(file, 3, 4),
    });
    expect(asset.sha256).toBe(createHash('sha256').update('3456').digest('hex'));
  });

  it('throws AssetExistsError when the release already has an asset with the name', async () => {
    const releases = port();
    const release = await releases.createRelease({
      tag: 'v1.0.2',
      name: 'v1.0.2',
      body: '',
      draft: true,
      prerelease: false,
    });
    const body = () =>
      (async function* () {
        yield Buffer.from('a');
      })();
    await releases.uploadAsset(release, { name: 'a.txt', bytes: 1, open: body });
    await expect(
      releases.uploadAsset(release, { name: 'a.txt', bytes: 1, open: body }),
    ).rejects.toBeInstanceOf(AssetExistsError);
  });

  it('lists drafts with their assets and finds published releases by tag only', async () => {
    const releases = port();
    const draft = await releases.createRelease({
      tag: 'v2.0.0',
      name: 'v2.0.0',
      body: 'b',
      draft: true,
      prerelease: false,
    });
    expect(await releases.releaseByTag('v2.0.0')).toBeUndefined();
    expect((await releases.listReleases()).map((r) => r.id)).toContain(draft.id);
    await releases.updateRelease(draft.id, { draft: false });
    expect((await releases.releaseByTag('v2.0.0'))?.id).toBe(draft.id);
    expect(await releases.tagCommit('v2.0.0')).toMatch(/^[0-9a-f]{40}$/);
  });
});
