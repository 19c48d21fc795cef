/**
 * The device side: `slmops pull` finds the version a channel points at (or the version asked for) in the release
 * index, downloads its files into a staging folder next to the destination (reassembling files uploaded in parts),
 * checks every size and sha256 against manifest.json, and only then renames the staging folder into place. A
 * failure leaves the destination as it was. With `--profile`, only the variant recommended for that profile (the
 * fastest one the gate did not fail) and the extra files are pulled.
 *
 * `--bundle file.tar.gz` installs from an archive written by `slmops pack` instead, with the same checks and the
 * same atomic rename; unsafe entries (absolute paths, `..`, links) are refused before anything is written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../action-kit/logger.ts';
import type { Manifest, ManifestFile } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import type { ReleaseAsset, ReleasePort } from '../github/ports.ts';
import { assetNameFor } from './bundle.ts';
import { type IndexModel, type IndexVersion, pickModel, readIndex, readSmallAsset } from './channels.ts';
import { digestStream } from './digest.ts';
import { MANIFEST_FILE, MANIFEST_SCHEMA, parseManifest } from './manifest.ts';
import { parseReleaseTag, parseSemver } from './semver.ts';
import { readArchive } from './tar.ts';
import { PULL_RECORD, type PullRecord, VerificationError } from './verify.ts';

export interface PullOptions {
  readonly releases: ReleasePort;
  /** `owner/name`, for messages and the pull record. */
  readonly repository: string;
  readonly out: string;
  readonly channel?: string;
  readonly version?: string;
  readonly model?: string;
  readonly profile?: string;
  readonly log: Logger;
  /** Download attempts per asset (default 3). */
  readonly attempts?: number;
}

export interface PullOutcome {
  readonly name: string;
  readonly version: string;
  readonly tag: string;
  readonly out: string;
  readonly variant?: string;
  readonly profile?: string;
  readonly files: readonly { path: string; bytes: number; sha256: string }[];
}

interface Target {
  name: string;
  version: string;
  tag: string;
  entry: IndexVersion | undefined;
}

async function resolveTarget(options: PullOptions): Promise<Target> {
  const { releases } = options;
  const index = await readIndex(releases);
  const hasIndex = Object.keys(index.doc.models).length > 0;
  if (options.version !== undefined) {
    const wanted = options.version.replace(/^v/, '');
    if (!parseSemver(wanted)) {
      throw new ConfigurationError(`'${options.version}' is not a semantic version`, {
        subject: '--version',
        fix: 'Use MAJOR.MINOR.PATCH such as 1.2.0',
      });
    }
    if (hasIndex) {
      const [name, model] = pickModel(index.doc, options.model, `--repo ${options.repository}`);
      const entry = model.versions.find((v) => v.version === wanted);
      if (entry) return { name, version: wanted, tag: entry.tag, entry };
    }
    // Not in the index (or no index): try the tags slmops uses.
    const candidates = options.model ? [`${options.model}@v${wanted}`, `v${wanted}`] : [`v${wanted}`];
    for (const tag of candidates) {
      if (await releases.releaseByTag(tag)) {
        return {
          name: options.model ?? parseReleaseTag(tag)?.model ?? '',
          version: wanted,
          tag,
          entry: undefined,
        };
      }
    }
    throw new ConfigurationError(`version ${wanted} is not published`, {
      subject: options.repository,
      fix: options.model
        ? 'Check the version (slmops pull --channel stable takes the stable one)'
        : 'Check the version, or name the model with --model',
    });
  }
  const channel = options.channel ?? 'stable';
  const [name, model] = pickModel(index.doc, options.model, `--repo ${options.repository}`);
  const version = model.channels[channel];
  if (version === undefined) throw noChannel(name, channel, model);
  const entry = model.versions.find((v) => v.version === version);
  if (!entry) {
    throw new ConfigurationError(`channel ${channel} points at ${version}, which the index does not list`, {
      subject: options.repository,
      fix: 'Promote a published version to the channel again (slmops promote)',
    });
  }
  return { name, version, tag: entry.tag, entry };
}

function noChannel(name: string, channel: string, model: IndexModel): ConfigurationError {
  const channels = Object.entries(model.channels).map(([c, v]) => `${c} → ${v}`);
  return new ConfigurationError(`${name} has no version on channel ${channel}`, {
    subject: '--channel',
    fix:
      channels.length > 0
        ? `Use one of: ${channels.join(', ')}`
        : `Promote a version first: slmops promote <version> --channel ${channel}`,
  });
}

/** The files to pull: every file, or for a profile the recommended variant (+ its data) and the extra files. */
function selectFiles(
  manifest: Manifest,
  target: Target,
  profile: string | undefined,
  log: Logger,
): { files: ManifestFile[]; variant?: string } {
  if (profile === undefined) return { files: manifest.files };
  const variants = manifest.variants ?? [];
  const measured = target.entry?.profiles[profile] ?? [];
  const usable = measured.filter((m) => m.verdict !== 'fail');
  let chosen = usable[0]
    ? variants.find((v) => v.path === usable[0]?.path || v.id === usable[0]?.variant)
    : undefined;
  if (!chosen) {
    const profiles = Object.keys(target.entry?.profiles ?? {});
    if (variants.length === 1 && measured.length === 0) {
      chosen = variants[0];
      log.warning(
        `${target.name} ${target.version} has no measurements for profile ${profile}; pulling its only variant`,
      );
    } else {
      throw new ConfigurationError(
        measured.length > 0
          ? `every variant of ${target.name} ${target.version} failed the gate on profile ${profile}`
          : `${target.name} ${target.version} was not measured on profile ${profile}`,
        {
          subject: '--profile',
          fix:
            profiles.length > 0
              ? `Profiles measured: ${profiles.join(', ')}; or pull every variant without --profile`
              : 'Pull every variant without --profile',
        },
      );
    }
  }
  if (!chosen) throw new ConfigurationError(`no variant for profile ${profile}`, { subject: '--profile' });
  const wanted = new Set([chosen.path, ...(chosen.data ?? [])]);
  return {
    files: manifest.files.filter((f) => wanted.has(f.path) || f.kind === 'extra'),
    variant: chosen.id,
  };
}

function stagingFor(out: string): string {
  return `${path.resolve(out)}.slmops-staging-${randomBytes(4).toString('hex')}`;
}

function stagedPath(staging: string, bundlePath: string): string {
  return path.join(staging, ...bundlePath.split('/'));
}

/**
 * Whether a non-empty folder holds an earlier pull, which a pull may replace: its manifest.json is a slmops
 * manifest (a web app's manifest.json, say, is not, and that folder is never replaced).
 */
async function isEarlierPull(dir: string, entries: string[]): Promise<boolean> {
  if (!entries.includes(MANIFEST_FILE)) return false;
  try {
    const manifest = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as {
      schema?: unknown;
    };
    return manifest.schema === MANIFEST_SCHEMA;
  } catch {
    return false;
  }
}

/** Moves the checked staging folder into place: the destination is empty, absent, or a bundle slmops wrote. */
async function install(staging: string, out: string): Promise<void> {
  const target = path.resolve(out);
  if (!existsSync(target)) {
    await mkdir(path.dirname(target), { recursive: true });
    await rename(staging, target);
    return;
  }
  const entries = await readdir(target);
  if (entries.length === 0) {
    await rm(target, { recursive: true });
    await rename(staging, target);
    return;
  }
  if (!(await isEarlierPull(target, entries))) {
    throw new ConfigurationError('exists and does not hold a bundle; refusing to replace it', {
      subject: out,
      fix: 'Pull into an empty or new folder, or into the folder of an earlier pull',
    });
  }
  const old = `${target}.slmops-old-${randomBytes(4).toString('hex')}`;
  await rename(target, old);
  try {
    await rename(staging, target);
  } catch (error) {
    await rename(old, target);
    throw error;
  }
  await rm(old, { recursive: true, force: true });
}

/** Staging and set-aside folders older than this are left over from a pull that was killed, not one running. */
const STALE_STAGING_MS = 60 * 60 * 1000;

/**
 * What a killed pull can leave beside the destination: staging folders (removed once stale), and between the two
 * renames of `install`, the earlier pull moved aside with the destination gone (moved back).
 */
async function recoverInterrupted(target: string): Promise<void> {
  const parent = path.dirname(target);
  if (!existsSync(parent)) return;
  const prefix = `${path.basename(target)}.slmops-`;
  const siblings = (await readdir(parent)).filter((n) => n.startsWith(prefix));
  const old = siblings.filter((n) => n.startsWith(`${prefix}old-`));
  const restored = !existsSync(target) && old.length === 1 ? old[0] : undefined;
  if (restored) await rename(path.join(parent, restored), target);
  // Killed before the second rename, the staging folder stays; killed after it, the earlier pull set aside.
  for (const name of siblings) {
    if (name === restored || (!name.startsWith(`${prefix}staging-`) && !name.startsWith(`${prefix}old-`)))
      continue;
    const full = path.join(parent, name);
    if (Date.now() - (await stat(full)).mtimeMs > STALE_STAGING_MS)
      await rm(full, { recursive: true, force: true });
  }
}

async function checkDestination(out: string): Promise<void> {
  const target = path.resolve(out);
  await recoverInterrupted(target);
  if (!existsSync(target)) return;
  if (!(await stat(target)).isDirectory()) {
    throw new ConfigurationError('exists and is not a folder', { subject: out, fix: 'Pull into a folder' });
  }
  const entries = await readdir(target);
  if (entries.length > 0 && !(await isEarlierPull(target, entries))) {
    throw new ConfigurationError('exists and does not hold a bundle; refusing to replace it', {
      subject: out,
      fix: 'Pull into an empty or new folder, or into the folder of an earlier pull',
    });
  }
}

class Downloader {
  constructor(
    private readonly releases: ReleasePort,
    private readonly log: Logger,
    private readonly attempts: number,
  ) {}

  /**
   * Writes an asset at `offset` of `file` and returns its sha256; retries a failed download. `expected` is checked
   * per attempt, so a corrupted transfer is downloaded again before it is refused.
   */
  async fetch(
    asset: ReleaseAsset,
    file: string,
    offset: number,
    expected: { bytes: number; sha256: string },
    what: string,
  ): Promise<void> {
    let problem = '';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const hash = createHash('sha256');
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _e, done) {
            bytes += chunk.length;
            if (bytes > expected.bytes) return done(new Error(`more than ${expected.bytes} bytes`));
            hash.update(chunk);
            done(null, chunk);
          },
        });
        await pipeline(
          await this.releases.downloadAsset(asset.id),
          counter,
          createWriteStream(file, { flags: offset === 0 ? 'w' : 'r+', start: offset }),
        );
        const sha256 = hash.digest('hex');
        if (bytes === expected.bytes && sha256 === expected.sha256) return;
        problem =
          bytes !== expected.bytes
            ? `${bytes} bytes, the manifest says ${expected.bytes}`
            : `sha256 ${sha256}, the manifest says ${expected.sha256}`;
      } catch (error) {
        if (error instanceof ConfigurationError) throw error;
        problem = (error as Error).message;
      }
      if (attempt < this.attempts)
        this.log.warning(`download of ${what} failed (attempt ${attempt}/${this.attempts}): ${problem}`);
    }
    throw new VerificationError(what, [`${what}: ${problem}`]);
  }
}

/** Pulls a version from a repository's releases into `out`, atomically. */
export async function pull(options: PullOptions): Promise<PullOutcome> {
  const { releases, log } = options;
  await checkDestination(options.out);
  const target = await resolveTarget(options);
  const release = await releases.releaseByTag(target.tag);
  if (!release) {
    throw new ConfigurationError(`release ${target.tag} is not published`, {
      subject: options.repository,
      fix: 'The index names a release that is gone: promote another version',
    });
  }
  const assets = await releases.listAssets(release.id);
  const byName = new Map(assets.map((a) => [a.name, a]));
  const manifestAsset = byName.get(MANIFEST_FILE);
  if (!manifestAsset) {
    throw new ConfigurationError(`release ${target.tag} has no ${MANIFEST_FILE}`, {
      subject: options.repository,
      fix: 'It was not published by slmops: pull another version',
    });
  }
  const manifestBytes = await readSmallAsset(await releases.downloadAsset(manifestAsset.id));
  const manifest = parseManifest(manifestBytes, `${target.tag}/${MANIFEST_FILE}`);
  const name = target.name || manifest.name;
  if (manifest.version !== target.version || manifest.name !== name) {
    throw new ConfigurationError(
      `${MANIFEST_FILE} of ${target.tag} describes ${manifest.name} ${manifest.version}, not ${name} ${target.version}`,
      {
        subject: options.repository,
        fix: 'Do not use this release: it was edited after publishing',
      },
    );
  }
  if (target.entry && manifest.identity !== target.entry.identity) {
    throw new ConfigurationError(
      `${MANIFEST_FILE} of ${target.tag} has identity ${manifest.identity}, the index says ${target.entry.identity}`,
      {
        subject: options.repository,
        fix: 'Do not use this release: it was changed after publishing',
      },
    );
  }
  const selection = selectFiles(manifest, { ...target, name }, options.profile, log);
  const missing = selection.files.flatMap((f) =>
    (f.parts?.map((p) => p.name) ?? [f.asset ?? assetNameFor(f.path)])
      .filter((n) => !byName.has(n))
      .map((n) => `${f.path}: asset ${n} is missing from the release`),
  );
  if (missing.length > 0) throw new VerificationError(`${options.repository} ${target.tag}`, missing);

  const staging = stagingFor(options.out);
  await mkdir(staging, { recursive: true });
  const downloader = new Downloader(releases, log, options.attempts ?? 3);
  try {
    for (const file of selection.files) {
      const full = stagedPath(staging, file.path);
      await mkdir(path.dirname(full), { recursive: true });
      if (file.parts) {
        await (await open(full, 'w')).close();
        let offset = 0;
        for (const part of file.parts) {
          log.info(`downloading ${file.path} part ${part.name} (${part.bytes} bytes)`);
          await downloader.fetch(
            byName.get(part.name) as ReleaseAsset,
            full,
            offset,
            part,
            `${file.path} (part ${part.name})`,
          );
          offset += part.bytes;
        }
        // The parts checked out one by one; check the reassembled file as a whole, as it is on disk.
        const whole = await digestStream(createReadStream(full, { highWaterMark: 4 * 2 ** 20 }));
        if (whole.bytes !== file.bytes || whole.sha256 !== file.sha256) {
          throw new VerificationError(`${options.repository} ${target.tag}`, [
            `${file.path}: reassembled from ${file.parts.length} parts it has sha256 ${whole.sha256}, the manifest says ${file.sha256}`,
          ]);
        }
      } else {
        log.info(`downloading ${file.path} (${file.bytes} bytes)`);
        await downloader.fetch(
          byName.get(file.asset ?? assetNameFor(file.path)) as ReleaseAsset,
          full,
          0,
          file,
          file.path,
        );
      }
    }
    await writeFile(path.join(staging, MANIFEST_FILE), manifestBytes);
    const record: PullRecord = {
      schema: 'slmops.pull/v1',
      repository: options.repository,
      tag: target.tag,
      version: target.version,
      ...(selection.variant ? { variant: selection.variant } : {}),
      ...(options.profile ? { profile: options.profile } : {}),
      files: selection.files.map((f) => f.path).sort(),
    };
    await mkdir(path.join(staging, '.slmops'), { recursive: true });
    await writeFile(path.join(staging, ...PULL_RECORD.split('/')), `${JSON.stringify(record, null, 2)}\n`);
    await install(staging, options.out);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return {
    name,
    version: target.version,
    tag: target.tag,
    out: path.resolve(options.out),
    ...(selection.variant ? { variant: selection.variant } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    files: selection.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })),
  };
}

/** Installs a bundle archive into `out`: unsafe entries refused, every file checked, then one rename. */
export async function unpackBundle(archive: string, out: string): Promise<PullOutcome> {
  await checkDestination(out);
  const staging = stagingFor(out);
  await mkdir(staging, { recursive: true });
  let manifest: Manifest | undefined;
  let manifestBytes: Buffer | undefined;
  const problems: string[] = [];
  const seen = new Set<string>();
  try {
    await readArchive(createReadStream(archive), archive, async (entry) => {
      if (!manifest) {
        if (entry.path !== MANIFEST_FILE) {
          throw new ConfigurationError(`does not start with ${MANIFEST_FILE} (first entry: ${entry.path})`, {
            subject: archive,
            fix: 'Pass a bundle written by slmops pack',
          });
        }
        const chunks: Buffer[] = [];
        for await (const chunk of entry.stream) chunks.push(Buffer.from(chunk));
        manifestBytes = Buffer.concat(chunks);
        manifest = parseManifest(manifestBytes, `${archive}: ${MANIFEST_FILE}`);
        return;
      }
      const listed = manifest.files.find((f) => f.path === entry.path);
      if (!listed || seen.has(entry.path)) {
        problems.push(`${entry.path}: ${listed ? 'appears twice' : 'not in the manifest'}`);
        return;
      }
      seen.add(entry.path);
      const full = stagedPath(staging, entry.path);
      await mkdir(path.dirname(full), { recursive: true });
      const hash = createHash('sha256');
      let bytes = 0;
      await pipeline(
        entry.stream,
        new Transform({
          transform(chunk: Buffer, _e, done) {
            bytes += chunk.length;
            // Stop at the size the manifest declares: a file that runs on is not written out to its end.
            if (bytes > listed.bytes) {
              done(
                new VerificationError(archive, [
                  `${entry.path}: more than the ${listed.bytes} bytes the manifest says`,
                ]),
              );
              return;
            }
            hash.update(chunk);
            done(null, chunk);
          },
        }),
        createWriteStream(full, { flags: 'wx' }),
      );
      const sha256 = hash.digest('hex');
      if (bytes !== listed.bytes)
        problems.push(`${entry.path}: ${bytes} bytes, the manifest says ${listed.bytes}`);
      else if (sha256 !== listed.sha256)
        problems.push(`${entry.path}: sha256 ${sha256}, the manifest says ${listed.sha256}`);
    });
    if (!manifest || !manifestBytes) {
      throw new ConfigurationError(`is empty or has no ${MANIFEST_FILE}`, {
        subject: archive,
        fix: 'Pass a bundle written by slmops pack',
      });
    }
    const found: Manifest = manifest;
    for (const f of found.files) if (!seen.has(f.path)) problems.push(`${f.path}: missing`);
    if (problems.length > 0) throw new VerificationError(archive, problems);
    await writeFile(path.join(staging, MANIFEST_FILE), manifestBytes);
    await install(staging, out);
    return {
      name: found.name,
      version: found.version,
      tag: '',
      out: path.resolve(out),
      files: found.files.map((f) => ({ path: f.path, bytes: f.bytes, sha256: f.sha256 })),
    };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
