/**
 * Publishing a bundle as a GitHub release, idempotently:
 *
 * 1. The version and tag are resolved (input, pushed tag, or a bump of the last release) and the bundle is hashed.
 * 2. A published release with the tag: same identity → `unchanged` (results.json and the notes are refreshed);
 *    another identity → refused. A published version is never overwritten.
 * 3. Otherwise the draft of this version and identity is completed (a re-run after a failure resumes it), or a new
 *    draft is created. GitHub allows several drafts with one tag, so after creating one the run lists them again:
 *    the lowest id wins, a loser deletes its own draft and reports `superseded`.
 * 4. Assets are uploaded streamed from disk (files over the part size in parts), each checked after upload: size,
 *    and sha256 from the API's `digest`, else by downloading and hashing it. Broken or stray assets are deleted.
 * 5. The notes (with the benchmark table) are written and the draft is published (unless `draft`), then the
 *    release index is updated (and the channel moved, if one was given).
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../action-kit/logger.ts';
import type { Manifest } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import { statusOf } from '../github/client.ts';
import {
  AssetExistsError,
  type ReleaseAsset,
  type ReleaseInfo,
  type ReleasePort,
  WriteRefusedError,
} from '../github/ports.ts';
import type { CollectOptions } from './bundle.ts';
import {
  checkChannel,
  type IndexVersion,
  metricsByProfile,
  moveChannel,
  readSmallAsset,
  updateIndex,
  upsertVersion,
} from './channels.ts';
import { digestStream, fileRange } from './digest.ts';
import { MANIFEST_FILE, parseManifest } from './manifest.ts';
import { type PreparedBundle, prepareBundle } from './pack.ts';
import {
  benchmarkTable,
  hasMeasurements,
  profileMetrics,
  RESULTS_FILE,
  type ResultsDocument,
  serializeResults,
} from './results.ts';
import { parseSemver, type ResolvedVersion, resolveVersion, type VersionRequest } from './semver.ts';

export type PublishResultKind = 'published' | 'draft' | 'unchanged' | 'superseded';

export interface PublishedAsset {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

export interface PublishOutcome {
  readonly result: PublishResultKind;
  readonly name: string;
  readonly version: string;
  readonly tag: string;
  readonly releaseId: number;
  readonly releaseUrl: string;
  /** The release's assets as verified (for `superseded`, what the winning run uploads). */
  readonly assets: readonly PublishedAsset[];
  /**
   * Attestation subjects in the `sha256sum` format `actions/attest-build-provenance` reads from its
   * `subject-checksums` input: `<sha256>  <name>` per line, for manifest.json and every bundle file (by its bundle
   * path; a file uploaded in parts is one subject, as a device holds it after `slmops pull`).
   */
  readonly subjects: string;
  readonly manifest: Manifest;
  readonly notes: string;
}

export interface PublishOptions extends CollectOptions {
  readonly results?: readonly string[];
  readonly request?: VersionRequest;
  /** `GITHUB_REF`, `GITHUB_SHA`, `GITHUB_REPOSITORY`, `SOURCE_DATE_EPOCH`… */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly channel?: string;
  /** Leave the release as a draft (complete and verified, not published). */
  readonly draft: boolean;
  readonly releases: ReleasePort;
  readonly log: Logger;
  /** Names the version's origin in errors. */
  readonly versionSubject?: string;
  /** Upload attempts per asset (default 3). */
  readonly attempts?: number;
  /** Repository `owner/name` for the install line of the notes (default `GITHUB_REPOSITORY`). */
  readonly repository?: string;
}

interface PlannedAsset extends PublishedAsset {
  open(): AsyncIterable<Uint8Array>;
}

const MARKER = /<!--\s*slmops:release\s+name="([^"]*)"\s+version="([^"]*)"\s+identity="([0-9a-f]{64})"\s*-->/;

export function releaseMarker(name: string, version: string, identity: string): string {
  return `<!-- slmops:release name="${name}" version="${version}" identity="${identity}" -->`;
}

export function parseMarker(body: string): { name: string; version: string; identity: string } | undefined {
  const m = MARKER.exec(body);
  return m ? { name: m[1] as string, version: m[2] as string, identity: m[3] as string } : undefined;
}

function memoryAsset(name: string, bytes: Buffer, sha256: string): PlannedAsset {
  return {
    name,
    bytes: bytes.length,
    sha256,
    open: async function* () {
      yield bytes;
    },
  };
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function plannedAssets(prepared: PreparedBundle, resultsBytes: Buffer | undefined): PlannedAsset[] {
  const assets: PlannedAsset[] = [
    memoryAsset(MANIFEST_FILE, prepared.manifestBytes, sha256Of(prepared.manifestBytes)),
  ];
  for (const file of prepared.bundle.files) {
    if (file.parts) {
      for (const part of file.parts) {
        assets.push({
          name: part.name,
          bytes: part.bytes,
          sha256: part.sha256,
          open: fileRange(file.source, part.offset, part.bytes),
        });
      }
    } else {
      assets.push({
        name: file.asset,
        bytes: file.bytes,
        sha256: file.sha256,
        open: fileRange(file.source, 0, file.bytes),
      });
    }
  }
  if (resultsBytes) assets.push(memoryAsset(RESULTS_FILE, resultsBytes, sha256Of(resultsBytes)));
  return assets;
}

export function subjectsOf(manifest: Manifest, manifestSha256: string): string {
  const lines = [
    `${manifestSha256}  ${MANIFEST_FILE}`,
    ...manifest.files.map((f) => `${f.sha256}  ${f.path}`),
  ];
  return `${lines.join('\n')}\n`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The release notes: summary, variants, the benchmark table, how to pull, and the marker publish finds drafts by. */
export function releaseNotes(
  manifest: Manifest,
  variantBytes: ReadonlyMap<string, number>,
  results: ResultsDocument,
  repository: string | undefined,
): string {
  const total = manifest.files.reduce((n, f) => n + f.bytes, 0);
  const lines = [
    `## ${manifest.name} ${manifest.version}`,
    '',
    `- Identity: \`${manifest.identity ?? ''}\` (sha256 over the model files' digests; see \`manifest.json\`)`,
    `- Source: \`${manifest.source.repository}@${manifest.source.commit.slice(0, 12)}\` (${manifest.source.ref}), ${manifest.createdAt}`,
    `- Files: ${manifest.files.length} (${formatBytes(total)})${manifest.files.some((f) => f.parts) ? '; files over 2 GiB are uploaded in parts that `slmops pull` reassembles' : ''}`,
    '',
    '### Variants',
    '',
    ...(manifest.variants ?? []).map(
      (v) =>
        `- \`${v.id}\`: \`${v.path}\` (${formatBytes(variantBytes.get(v.path) ?? 0)})${v.recipe ? `, recipe \`${v.recipe.spec}\`` : ''}`,
    ),
  ];
  const table = benchmarkTable(profileMetrics(results));
  if (table) lines.push('', '### Benchmarks', '', table);
  if (results.verdict)
    lines.push(
      '',
      `Gate verdict: **${results.verdict.overall}**${results.verdict.advisory ? ' (advisory)' : ''}.`,
    );
  if (repository) {
    lines.push(
      '',
      '### Install on a device',
      '',
      '```sh',
      `npx slmops pull --repo ${repository} --release ${manifest.version} --out models/${manifest.name}`,
      `npx slmops verify models/${manifest.name}`,
      '```',
    );
  }
  lines.push('', releaseMarker(manifest.name, manifest.version, manifest.identity ?? ''));
  const text = lines.join('\n');
  return text.length > 120_000
    ? `${text.slice(0, 119_000)}\n\n…\n\n${releaseMarker(manifest.name, manifest.version, manifest.identity ?? '')}`
    : text;
}

class Publisher {
  private readonly verified = new Map<number, string>();
  constructor(
    private readonly releases: ReleasePort,
    private readonly log: Logger,
    private readonly attempts: number,
  ) {}

  /** Whether an asset on GitHub holds exactly the planned bytes (API digest, else download and hash). */
  async matches(asset: ReleaseAsset, plan: PublishedAsset): Promise<boolean> {
    if (asset.state !== 'uploaded' || asset.size !== plan.bytes) return false;
    if (asset.sha256 !== undefined) return asset.sha256 === plan.sha256;
    let sha = this.verified.get(asset.id);
    if (sha === undefined) {
      sha = (await digestStream(await this.releases.downloadAsset(asset.id))).sha256;
      this.verified.set(asset.id, sha);
    }
    return sha === plan.sha256;
  }

  async upload(release: ReleaseInfo, plan: PlannedAsset): Promise<ReleaseAsset> {
    let lastProblem = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let asset: ReleaseAsset | undefined;
      try {
        asset = await this.releases.uploadAsset(release, {
          name: plan.name,
          bytes: plan.bytes,
          contentType: plan.name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
          open: plan.open,
        });
      } catch (error) {
        if (error instanceof WriteRefusedError || error instanceof ConfigurationError) throw error;
        lastProblem =
          error instanceof AssetExistsError ? 'an asset with the name exists' : (error as Error).message;
        // A concurrent run uploaded it, or a failed upload left a broken asset behind.
        const existing = (await this.releases.listAssets(release.id)).find((a) => a.name === plan.name);
        if (existing && (await this.matches(existing, plan))) return existing;
        if (existing) await this.releases.deleteAsset(existing.id);
        this.log.warning(
          `upload of ${plan.name} failed (attempt ${attempt}/${this.attempts}): ${lastProblem}`,
        );
        continue;
      }
      if (await this.matches(asset, plan)) return asset;
      lastProblem = `GitHub holds ${asset.size} bytes with sha256 ${asset.sha256 ?? this.verified.get(asset.id) ?? '?'}, expected ${plan.bytes} bytes with sha256 ${plan.sha256}`;
      this.log.warning(
        `uploaded ${plan.name} does not check out (attempt ${attempt}/${this.attempts}): ${lastProblem}`,
      );
      await this.releases.deleteAsset(asset.id);
    }
    throw new Error(`could not upload ${plan.name} intact after ${this.attempts} attempts: ${lastProblem}`);
  }

  /** Makes the release hold exactly the planned assets, each verified; deletes broken and stray ones. */
  async sync(release: ReleaseInfo, planned: readonly PlannedAsset[]): Promise<void> {
    const byName = new Map(planned.map((p) => [p.name, p]));
    const done = new Set<string>();
    for (const asset of await this.releases.listAssets(release.id)) {
      const plan = byName.get(asset.name);
      if (plan && !done.has(asset.name) && (await this.matches(asset, plan))) {
        done.add(asset.name);
        continue;
      }
      this.log.info(`deleting ${plan ? 'broken' : 'stray'} asset ${asset.name} of draft ${release.id}`);
      await this.releases.deleteAsset(asset.id);
    }
    if (done.size > 0) this.log.info(`${done.size} of ${planned.length} assets already uploaded and intact`);
    for (const plan of planned) {
      if (done.has(plan.name)) continue;
      this.log.info(`uploading ${plan.name} (${formatBytes(plan.bytes)})`);
      await this.upload(release, plan);
      done.add(plan.name);
    }
    // Final check over the whole list: every planned asset exactly once, intact.
    const final = await this.releases.listAssets(release.id);
    for (const plan of planned) {
      const copies = final.filter((a) => a.name === plan.name);
      if (copies.length !== 1 || !copies[0] || !(await this.matches(copies[0], plan))) {
        throw new Error(
          `after uploading, ${plan.name} is ${copies.length === 0 ? 'missing from' : 'not intact on'} release ${release.id}`,
        );
      }
    }
  }
}

function refused(error: unknown): never {
  if (error instanceof WriteRefusedError) {
    throw new ConfigurationError(`${error.message}`, {
      subject: 'github-token',
      fix: 'Give the job `permissions: contents: write` (publishing creates releases and uploads assets)',
    });
  }
  throw error;
}

export async function publishBundle(options: PublishOptions): Promise<PublishOutcome> {
  try {
    return await publishUnguarded(options);
  } catch (error) {
    return refused(error);
  }
}

async function publishUnguarded(options: PublishOptions): Promise<PublishOutcome> {
  const { releases, log } = options;
  if (options.channel !== undefined) checkChannel(options.channel, 'channel');
  if (options.channel !== undefined && options.draft) {
    throw new ConfigurationError('a channel can only point at a published release, and draft is true', {
      subject: 'channel',
      fix: 'Remove draft, or promote the version once it is published (slmops promote)',
    });
  }
  const all = await releases.listReleases();
  let resolved: ResolvedVersion | undefined;
  const prepared = await prepareBundle({
    ...options,
    commitTime: (sha) => releases.commitTime(sha),
    version: (name) => {
      resolved = resolveVersion({
        name,
        request: options.request,
        ref: options.env.GITHUB_REF,
        releaseTags: all.filter((r) => !r.draft).map((r) => r.tag),
        subject: options.versionSubject ?? 'version',
      });
      return resolved.version;
    },
  });
  const { version, tag } = resolved as ResolvedVersion;
  const { manifest, results } = prepared;
  const identity = prepared.bundle.identity;
  const name = prepared.bundle.name;
  if (prepared.skippedResults > 0) {
    log.warning(
      `${prepared.skippedResults} bench result(s) measured models that are not in this bundle; they are left out of results.json`,
    );
  }
  log.info(
    `${name} ${version} (tag ${tag}, ${resolved?.source}): ${manifest.files.length} files, identity ${identity}`,
  );
  const resultsBytes = hasMeasurements(results) ? serializeResults(results) : undefined;
  const planned = plannedAssets(prepared, resultsBytes);
  const manifestSha = planned[0]?.sha256 as string;
  const publisher = new Publisher(releases, log, options.attempts ?? 3);
  const repository = options.repository ?? options.env.GITHUB_REPOSITORY;
  const variantBytes = new Map(prepared.bundle.variants.map((v) => [v.path, v.bytes]));
  const notes = releaseNotes(manifest, variantBytes, results, repository);
  const prerelease = (parseSemver(version)?.prerelease.length ?? 0) > 0;
  const outcome = (result: PublishResultKind, release: ReleaseInfo): PublishOutcome => ({
    result,
    name,
    version,
    tag,
    releaseId: release.id,
    releaseUrl: release.htmlUrl,
    assets: planned.map(({ name: n, bytes, sha256 }) => ({ name: n, bytes, sha256 })),
    subjects: subjectsOf(manifest, manifestSha),
    manifest,
    notes,
  });

  const published = all.find((r) => !r.draft && r.tag === tag);
  if (published) return outcome(await settlePublished(published), published);

  // A draft of this version: resume one with our identity; refuse when another identity is on its way.
  const drafts = ourDrafts(all, tag, name);
  const other = drafts.find((d) => d.marker.identity !== identity);
  if (other) throw differentDraft(other.release, version, name);
  let target = drafts[0]?.release;
  if (target) {
    log.info(
      `resuming draft ${target.id} of ${tag} (a previous run of this version stopped before publishing)`,
    );
  } else {
    const tagCommit = await releases.tagCommit(tag);
    const mine = await releases.createRelease({
      tag,
      name: `${name} ${version}`,
      body: `Publishing ${name} ${version}…\n\n${releaseMarker(name, version, identity)}`,
      draft: true,
      prerelease,
      ...(tagCommit === undefined ? { targetCommitish: prepared.source.commit } : {}),
    });
    log.info(`created draft ${mine.id} for ${tag}`);
    const now = await releases.listReleases();
    const winnerPublished = now.find((r) => !r.draft && r.tag === tag);
    const contenders = ourDrafts(now, tag, name);
    const winner = winnerPublished ?? contenders[0]?.release ?? mine;
    if (winner.id !== mine.id) {
      await releases.deleteRelease(mine.id);
      const winnerIdentity = winnerPublished ? undefined : contenders[0]?.marker.identity;
      if (winnerPublished) {
        const settled = await settlePublished(winnerPublished);
        return outcome(settled === 'unchanged' ? 'superseded' : settled, winnerPublished);
      }
      if (winnerIdentity !== identity) throw differentDraft(winner, version, name);
      log.info(
        `another run is publishing ${tag} (draft ${winner.id}, created first): deleted draft ${mine.id}; superseded`,
      );
      return outcome('superseded', winner);
    }
    target = mine;
  }

  await publisher.sync(target, planned);
  if (options.draft) {
    const release = await releases.updateRelease(target.id, { body: notes });
    log.info(`draft ${release.id} of ${tag} holds every asset, verified; left as a draft`);
    return outcome('draft', release);
  }
  let release: ReleaseInfo;
  try {
    release = await releases.updateRelease(target.id, { body: notes, draft: false, prerelease });
  } catch (error) {
    if (statusOf(error) !== 422) throw error;
    // Someone published the tag meanwhile (a run that did not follow the draft protocol, or by hand).
    const winner = (await releases.listReleases()).find(
      (r) => !r.draft && r.tag === tag && r.id !== target.id,
    );
    if (!winner) throw error;
    await releases.deleteRelease(target.id);
    const settled = await settlePublished(winner);
    return outcome(settled === 'unchanged' ? 'superseded' : settled, winner);
  }
  log.info(`published ${tag}: ${release.htmlUrl}`);
  const tagCommit = await releases.tagCommit(tag);
  if (tagCommit && tagCommit !== prepared.source.commit) {
    log.warning(`tag ${tag} points at ${tagCommit}, but the bundle was built from ${prepared.source.commit}`);
  }
  await recordInIndex(release, release.publishedAt);
  return outcome('published', release);

  /** A published release with our tag: same identity → unchanged (refresh results and notes), else refused. */
  async function settlePublished(existing: ReleaseInfo): Promise<'unchanged'> {
    const assets = await releases.listAssets(existing.id);
    const manifestAsset = assets.find((a) => a.name === MANIFEST_FILE);
    if (!manifestAsset) {
      throw new ConfigurationError(
        `tag ${tag} already has a release without ${MANIFEST_FILE} (not published by slmops)`,
        {
          subject: `version ${version}`,
          fix: 'Publish under another version, or delete that release if it should not exist',
        },
      );
    }
    const theirs = parseManifest(
      await readSmallAsset(await releases.downloadAsset(manifestAsset.id)),
      `${tag}/${MANIFEST_FILE}`,
    );
    const theirIdentity = theirs.identity ?? '';
    if (theirIdentity !== identity) {
      const changed = describeDifference(theirs, manifest);
      throw new ConfigurationError(
        `version ${version} of ${name} is already published with different model files (${changed})`,
        {
          subject: `version ${version}`,
          fix: 'A published version is never overwritten: publish the new files under a new version (e.g. bump patch)',
        },
      );
    }
    log.info(`${tag} is already published with the same model files (identity ${identity}): unchanged`);
    if (resultsBytes) {
      const plan = planned.find((p) => p.name === RESULTS_FILE) as PlannedAsset;
      const current = assets.find((a) => a.name === RESULTS_FILE);
      if (!current || !(await publisher.matches(current, plan))) {
        log.info(`refreshing ${RESULTS_FILE} of ${tag}`);
        try {
          if (current) await releases.deleteAsset(current.id);
          await publisher.upload(existing, plan);
          await releases.updateRelease(existing.id, {
            body: releaseNotes(theirs, variantBytes, results, repository),
          });
        } catch (error) {
          if (error instanceof WriteRefusedError) throw error;
          // Immutable releases (a repository setting) refuse any change after publishing.
          log.warning(
            `could not refresh ${RESULTS_FILE} of ${tag} (${(error as Error).message}); the release is unchanged`,
          );
        }
      }
    }
    await recordInIndex(existing, existing.publishedAt);
    return 'unchanged';
  }

  async function recordInIndex(release: ReleaseInfo, publishedAt: string | undefined): Promise<void> {
    const metrics = profileMetrics(results);
    const entry: IndexVersion = {
      version,
      tag,
      releaseId: release.id,
      identity,
      publishedAt: publishedAt ?? new Date().toISOString(),
      prerelease,
      variants: prepared.bundle.variants.map((v) => ({ id: v.id, path: v.path, bytes: v.bytes })),
      profiles: metricsByProfile(metrics),
    };
    const by = options.env.GITHUB_ACTOR;
    await updateIndex(
      releases,
      (doc) => {
        upsertVersion(doc, name, entry);
        if (options.channel)
          moveChannel(
            doc,
            name,
            options.channel,
            version,
            new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
            by,
          );
      },
      log,
    );
    log.info(`release index updated${options.channel ? `: channel ${options.channel} → ${version}` : ''}`);
  }
}

function ourDrafts(
  releases: readonly ReleaseInfo[],
  tag: string,
  name: string,
): { release: ReleaseInfo; marker: { name: string; version: string; identity: string } }[] {
  return releases
    .filter((r) => r.draft && r.tag === tag)
    .map((release) => ({ release, marker: parseMarker(release.body) }))
    .filter(
      (d): d is { release: ReleaseInfo; marker: { name: string; version: string; identity: string } } =>
        d.marker?.name === name,
    )
    .sort((a, b) => a.release.id - b.release.id);
}

function differentDraft(draft: ReleaseInfo, version: string, name: string): ConfigurationError {
  return new ConfigurationError(
    `another draft of ${name} ${version} (release ${draft.id}) holds different model files`,
    {
      subject: `version ${version}`,
      fix: 'Another run is publishing other files under this version, or an earlier attempt did: delete that draft if it is stale, or publish under a new version',
    },
  );
}

function describeDifference(theirs: Manifest, ours: Manifest): string {
  const a = new Map(theirs.files.filter((f) => f.kind !== 'extra').map((f) => [f.path, f.sha256]));
  const b = new Map(ours.files.filter((f) => f.kind !== 'extra').map((f) => [f.path, f.sha256]));
  const changed = [...b.keys()].filter((p) => a.has(p) && a.get(p) !== b.get(p));
  const added = [...b.keys()].filter((p) => !a.has(p));
  const removed = [...a.keys()].filter((p) => !b.has(p));
  const parts = [
    changed.length ? `changed: ${changed.slice(0, 3).join(', ')}` : '',
    added.length ? `new: ${added.slice(0, 3).join(', ')}` : '',
    removed.length ? `gone: ${removed.slice(0, 3).join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ') || 'identity differs';
}
