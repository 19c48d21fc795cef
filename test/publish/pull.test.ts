/**
 * Channels and the device side against the GitHub test server: promote moves a channel in the release index;
 * pull follows a channel (or a version), picks the variant for a profile, reassembles parts, checks every file
 * before the folder appears, and refuses a tampered or missing asset naming the file.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReleasePort } from '../../src/github/ports.ts';
import { readIndex, updateIndex } from '../../src/publish/channels.ts';
import { releasePort } from '../../src/publish/github-releases.ts';
import { promote } from '../../src/publish/promote.ts';
import { type PublishOptions, publishBundle } from '../../src/publish/publish.ts';
import { pull } from '../../src/publish/pull.ts';
import { verifyDir } from '../../src/publish/verify.ts';
import { testOctokit } from '../github-server/client.ts';
import { seedRepo } from '../github-server/fixtures.ts';
import type { Release, Repo } from '../github-server/state.ts';
import { useGitHubServer } from '../github-server/use-server.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { COMMIT, memoryLogger, OWNER, REPO, resultsFolder, tagEnv, variantsFolder } from './helpers.ts';

const github = useGitHubServer();
const tmp = tempDir('slmops-pull-');
afterAll(() => tmp.remove());
let n = 0;
const scratch = () => {
  const dir = join(tmp.path, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const repository = `${OWNER}/${REPO}`;

function port(): ReleasePort {
  seedRepo(github.server, { owner: OWNER, repo: REPO, headSha: COMMIT });
  return releasePort(testOctokit(github.server), { owner: OWNER, repo: REPO });
}

function publish(dir: string, version: string, extra: Partial<PublishOptions> = {}) {
  return publishBundle({
    dir,
    env: tagEnv(`v${version}`),
    draft: false,
    releases: port(),
    log: memoryLogger(),
    ...extra,
  });
}

function releaseOf(tag: string): Release {
  const repo = github.server.state.repos.get(repository) as Repo;
  return [...repo.releases.values()].find((r) => r.tagName === tag) as Release;
}

describe('rollout channels', () => {
  it('points a channel at a version on publish, moves it with promote, and keeps the history', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable' });
    await publish(variantsFolder(root, 'v2'), '1.1.0', { channel: 'canary' });

    const moved = await promote({
      releases: port(),
      version: 'v1.1.0',
      channel: 'stable',
      log: memoryLogger(),
      by: 'release-bot',
    });

    expect(moved).toEqual({ name: 'digits', version: '1.1.0', channel: 'stable', previous: '1.0.0' });
    const { doc } = await readIndex(port());
    expect(doc.models.digits?.channels).toEqual({ stable: '1.1.0', canary: '1.1.0' });
    expect(doc.models.digits?.versions.map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);
    expect(doc.models.digits?.history.map((h) => [h.channel, h.previous, h.version])).toEqual([
      ['stable', null, '1.0.0'],
      ['canary', null, '1.1.0'],
      ['stable', '1.0.0', '1.1.0'],
    ]);
    expect(doc.models.digits?.history.at(-1)?.by).toBe('release-bot');
  });

  it('refuses to promote a version that is not published, listing those that are', async () => {
    const root = scratch();
    await publish(variantsFolder(root), '1.0.0');
    await expect(
      promote({ releases: port(), version: '2.0.0', channel: 'stable', log: memoryLogger() }),
    ).rejects.toThrow(
      'channel stable: version 2.0.0 of digits is not published. Promote one of the published versions: 1.0.0',
    );
  });

  it('keeps both of two concurrent channel moves (the index is updated compare-and-swap)', async () => {
    const root = scratch();
    await publish(variantsFolder(root), '1.0.0');
    await Promise.all([
      promote({ releases: port(), version: '1.0.0', channel: 'stable', log: memoryLogger() }),
      promote({ releases: port(), version: '1.0.0', channel: 'canary', log: memoryLogger() }),
      promote({ releases: port(), version: '1.0.0', channel: 'beta', log: memoryLogger() }),
    ]);
    const { doc, sequence } = await readIndex(port());
    expect(doc.models.digits?.channels).toEqual({ stable: '1.0.0', canary: '1.0.0', beta: '1.0.0' });
    expect(sequence).toBe(4);
    const assets = [...releaseOf('slmops-index').assets.values()].map((a) => a.name).sort();
    expect(assets).toEqual([
      'index-00000002.json',
      'index-00000003.json',
      'index-00000004.json',
      'index.json',
    ]);
  });

  it('retries an update whose sequence another writer took', async () => {
    const root = scratch();
    await publish(variantsFolder(root), '1.0.0');
    const real = port();
    let raced = false;
    const racing: ReleasePort = {
      ...real,
      uploadAsset: async (release, asset) => {
        if (!raced && asset.name.startsWith('index-')) {
          raced = true;
          await updateIndex(
            real,
            (doc) => {
              (doc.models.digits as { channels: Record<string, string> }).channels.beta = '1.0.0';
            },
            memoryLogger(),
          );
        }
        return real.uploadAsset(release, asset);
      },
    };
    const log = memoryLogger();
    await promote({ releases: racing, version: '1.0.0', channel: 'stable', log });
    expect((await readIndex(port())).doc.models.digits?.channels).toEqual({ beta: '1.0.0', stable: '1.0.0' });
    expect(log.lines.some((l) => /sequence 2 taken/.test(l))).toBe(true);
  });
});

describe('slmops pull', () => {
  it('pulls the stable version into a new folder, every file checked, and verify passes', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable' });
    const out = join(root, 'device', 'models');

    const outcome = await pull({ releases: port(), repository, out, channel: 'stable', log: memoryLogger() });

    expect(outcome).toMatchObject({ name: 'digits', version: '1.0.0', tag: 'v1.0.0' });
    expect(outcome.files).toHaveLength(4);
    for (const f of outcome.files)
      expect(readFileSync(join(out, f.path)).equals(readFileSync(join(dir, f.path)))).toBe(true);
    expect((await verifyDir(out)).ok).toBe(true);
    expect(readdirSync(join(root, 'device'))).toEqual(['models']);
  });

  it('pulls for a profile the fastest variant the gate did not fail, with its data, and verify checks just those', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable', results: [resultsFolder(root, dir)] });
    const out = join(root, 'pi');

    const outcome = await pull({
      releases: port(),
      repository,
      out,
      channel: 'stable',
      profile: 'raspberry-pi-5',
      log: memoryLogger(),
    });

    // digits@fp16 is faster on the Pi but failed the gate there.
    expect(outcome).toMatchObject({ variant: 'digits@int8', profile: 'raspberry-pi-5' });
    expect(outcome.files.map((f) => f.path)).toEqual(['digits@int8/model.onnx']);
    expect(existsSync(join(out, 'digits@fp16'))).toBe(false);
    const report = await verifyDir(out);
    expect(report.ok).toBe(true);
    expect(report.files.map((f) => f.path)).toEqual(['digits@int8/model.onnx']);
  });

  it('refuses a profile nothing was measured on, listing the measured ones', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable', results: [resultsFolder(root, dir)] });
    await expect(
      pull({
        releases: port(),
        repository,
        out: join(root, 'x'),
        channel: 'stable',
        profile: 'intel-n100',
        log: memoryLogger(),
      }),
    ).rejects.toThrow(
      '--profile: digits 1.0.0 was not measured on profile intel-n100. Profiles measured: jetson-orin-nano, raspberry-pi-5',
    );
  });

  it('reassembles a file uploaded in parts, byte for byte', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable', partBytes: 40_000 });
    const out = join(root, 'out');
    await pull({ releases: port(), repository, out, version: '1.0.0', log: memoryLogger() });
    expect(
      readFileSync(join(out, 'digits@int8', 'model.onnx')).equals(
        readFileSync(join(dir, 'digits@int8', 'model.onnx')),
      ),
    ).toBe(true);
    expect((await verifyDir(out)).ok).toBe(true);
  });

  it('refuses a tampered asset, naming the file, and leaves the earlier pull in place', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await publish(dir, '1.0.0', { channel: 'stable' });
    const out = join(root, 'out');
    await pull({ releases: port(), repository, out, channel: 'stable', log: memoryLogger() });
    await publish(variantsFolder(root, 'next'), '1.1.0', { channel: 'stable' });
    const asset = [...releaseOf('v1.1.0').assets.values()].find(
      (a) => a.name === 'digits@fp16--weights--data.bin',
    );
    const content = Buffer.from(asset?.content as Buffer);
    content[0] = (content[0] ?? 0) ^ 0xff;
    Object.assign(asset as object, { content });

    await expect(
      pull({ releases: port(), repository, out, channel: 'stable', log: memoryLogger() }),
    ).rejects.toThrow(
      /^digits@fp16\/weights\/data\.bin: does not match its manifest \(1 file\): digits@fp16\/weights\/data\.bin: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/,
    );
    const report = await verifyDir(out);
    expect(report).toMatchObject({ ok: true, version: '1.0.0' });
    expect(readdirSync(root).filter((f) => f.includes('staging'))).toEqual([]);
  });

  it('refuses a release with an asset missing, naming the file, before downloading anything', async () => {
    const root = scratch();
    await publish(variantsFolder(root), '1.0.0', { channel: 'stable' });
    const release = releaseOf('v1.0.0');
    const missing = [...release.assets.values()].find((a) => a.name === 'digits@int8--model.onnx');
    release.assets.delete(missing?.id as number);
    const out = join(root, 'out');
    await expect(
      pull({ releases: port(), repository, out, channel: 'stable', log: memoryLogger() }),
    ).rejects.toThrow('digits@int8/model.onnx: asset digits@int8--model.onnx is missing from the release');
    expect(existsSync(out)).toBe(false);
  });

  it('names the channels there are when the one asked for has no version', async () => {
    const root = scratch();
    await publish(variantsFolder(root), '1.0.0', { channel: 'canary' });
    await expect(
      pull({ releases: port(), repository, out: join(root, 'o'), channel: 'stable', log: memoryLogger() }),
    ).rejects.toThrow('--channel: digits has no version on channel stable. Use one of: canary → 1.0.0');
  });
});
