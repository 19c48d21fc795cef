/**
 * Rollout channels and the release index (`slmops.index/v1`): which versions of which models are published, what
 * each channel (canary, stable, …) points at, and the per-profile metrics of every version, so a device can ask
 * "what is stable for raspberry-pi-5?" with two requests.
 *
 * Where it lives: a dedicated, published pre-release with the tag `slmops-index` (never "latest"). Each update
 * uploads the whole index as a new asset `index-<8-digit sequence>.json`; readers take the highest sequence.
 * Because GitHub refuses a second asset with the same name, uploading sequence N+1 is a compare-and-swap: of two
 * concurrent updates one wins, the other reads the new index and applies its change again. After an update the
 * writer checks that no higher sequence appeared meanwhile. `index.json` is kept as a convenience copy of the
 * latest (a stable download URL); the sequenced assets are the source of truth.
 */

import type { Logger } from '../action-kit/logger.ts';
import { ConfigurationError } from '../errors.ts';
import { statusOf } from '../github/client.ts';
import { AssetExistsError, type ReleaseAsset, type ReleaseInfo, type ReleasePort } from '../github/ports.ts';
import type { ProfileMetric } from './results.ts';
import { compareSemver, parseSemver, type SemVer } from './semver.ts';

export const INDEX_TAG = 'slmops-index';
export const INDEX_COPY = 'index.json';
const SEQUENCED = /^index-(\d{8})\.json$/;
const KEEP_SEQUENCED = 3;
const MAX_CONFLICTS = 8;

/** Channel names: lowercase letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface IndexVersion {
  version: string;
  tag: string;
  releaseId: number;
  identity: string;
  publishedAt: string;
  prerelease: boolean;
  /** The variants of the bundle: id, bundle path of the .onnx file, bytes of the model and its data. */
  variants: { id: string; path: string; bytes: number }[];
  /** Profile id → one entry per measured variant, fastest first. */
  profiles: Record<string, ProfileMetric[]>;
}

export interface ChannelMove {
  channel: string;
  version: string;
  previous: string | null;
  at: string;
  by?: string;
}

export interface IndexModel {
  /** Channel → version. */
  channels: Record<string, string>;
  /** Newest first. */
  versions: IndexVersion[];
  /** Channel moves, newest last (at most 100 kept). */
  history: ChannelMove[];
}

export interface IndexDocument {
  schema: 'slmops.index/v1';
  updatedAt: string;
  models: Record<string, IndexModel>;
}

export interface LoadedIndex {
  readonly doc: IndexDocument;
  readonly sequence: number;
  readonly release: ReleaseInfo | undefined;
}

export function emptyIndex(now: string): IndexDocument {
  return { schema: 'slmops.index/v1', updatedAt: now, models: {} };
}

export function checkChannel(channel: string, subject: string): string {
  if (!CHANNEL_NAME.test(channel)) {
    throw new ConfigurationError(`'${channel}' is not a valid channel name`, {
      subject,
      fix: 'Use lowercase letters, digits, ".", "_" and "-", e.g. canary or stable',
    });
  }
  return channel;
}

export async function readSmallAsset(
  stream: AsyncIterable<Uint8Array>,
  limit = 64 * 2 ** 20,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    n += chunk.length;
    if (n > limit) throw new Error(`an index or manifest larger than ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function sequenceOf(name: string): number | undefined {
  const m = SEQUENCED.exec(name);
  return m ? Number(m[1]) : undefined;
}

function latestSequenced(
  assets: readonly ReleaseAsset[],
): { asset: ReleaseAsset; sequence: number } | undefined {
  let best: { asset: ReleaseAsset; sequence: number } | undefined;
  for (const asset of assets) {
    const sequence = sequenceOf(asset.name);
    if (sequence !== undefined && asset.state === 'uploaded' && (!best || sequence > best.sequence)) {
      best = { asset, sequence };
    }
  }
  return best;
}

function parseIndex(bytes: Buffer, subject: string): IndexDocument {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ConfigurationError(`is not JSON (${(error as Error).message})`, {
      subject,
      fix: `Delete the broken asset from the ${INDEX_TAG} release; the next publish or promote writes a new one`,
    });
  }
  const doc = value as Partial<IndexDocument> | null;
  if (doc?.schema !== 'slmops.index/v1' || typeof doc.models !== 'object' || doc.models === null) {
    throw new ConfigurationError('is not an slmops.index/v1 document', {
      subject,
      fix: `Delete it from the ${INDEX_TAG} release; the next publish or promote writes a new one`,
    });
  }
  return doc as IndexDocument;
}

/** The current index (empty when the repository has none yet). */
export async function readIndex(releases: ReleasePort): Promise<LoadedIndex> {
  const release = await releases.releaseByTag(INDEX_TAG);
  if (!release) return { doc: emptyIndex(new Date(0).toISOString()), sequence: 0, release: undefined };
  const latest = latestSequenced(await releases.listAssets(release.id));
  if (!latest) return { doc: emptyIndex(new Date(0).toISOString()), sequence: 0, release };
  const bytes = await readSmallAsset(await releases.downloadAsset(latest.asset.id));
  return { doc: parseIndex(bytes, `${INDEX_TAG}/${latest.asset.name}`), sequence: latest.sequence, release };
}

async function ensureIndexRelease(
  releases: ReleasePort,
  existing: ReleaseInfo | undefined,
): Promise<ReleaseInfo> {
  if (existing) return existing;
  try {
    return await releases.createRelease({
      tag: INDEX_TAG,
      name: 'slmops index',
      body: [
        'The release index of this repository, written by slmops: every published model version, the version',
        'each rollout channel points at, and per-profile metrics. Devices read the newest `index-<sequence>.json`',
        '(`slmops pull --channel stable`); `index.json` is a copy of it. Do not edit or publish to this release by hand.',
      ].join('\n'),
      draft: false,
      prerelease: true,
      makeLatest: 'false',
    });
  } catch (error) {
    // Another run created it a moment ago: use that one.
    const found = statusOf(error) === 422 ? await releases.releaseByTag(INDEX_TAG) : undefined;
    if (found) return found;
    throw error;
  }
}

function bytesOf(doc: IndexDocument): Buffer {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
}

function pad(sequence: number): string {
  return String(sequence).padStart(8, '0');
}

/**
 * Applies `change` to the newest index and writes it as the next sequence, retrying on a concurrent update (the
 * change is applied again to the index that won). Returns the index as written.
 */
export async function updateIndex(
  releases: ReleasePort,
  change: (doc: IndexDocument) => void,
  log: Logger,
  now: () => string = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
): Promise<IndexDocument> {
  for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
    const current = await readIndex(releases);
    const doc = structuredClone(current.doc);
    change(doc);
    doc.updatedAt = now();
    const release = await ensureIndexRelease(releases, current.release);
    const sequence = current.sequence + 1;
    const body = bytesOf(doc);
    const name = `index-${pad(sequence)}.json`;
    let uploaded: ReleaseAsset;
    try {
      uploaded = await releases.uploadAsset(release, {
        name,
        bytes: body.length,
        contentType: 'application/json',
        open: async function* () {
          yield body;
        },
      });
    } catch (error) {
      if (error instanceof AssetExistsError) {
        log.info(
          `the index changed while it was updated (sequence ${sequence} taken); applying the change again`,
        );
        continue;
      }
      throw error;
    }
    const assets = await releases.listAssets(release.id);
    const newest = latestSequenced(assets);
    if (newest && newest.sequence > sequence) {
      // A writer that read an older index got in after the old sequences were cleaned up: ours is stale.
      await releases.deleteAsset(uploaded.id);
      log.info(
        `a newer index (sequence ${newest.sequence}) appeared while writing ${sequence}; applying the change again`,
      );
      continue;
    }
    await tidy(releases, release, assets, sequence, body, log);
    return doc;
  }
  throw new Error(`the release index kept changing under ${MAX_CONFLICTS} attempts to update it; try again`);
}

/** Keeps the last sequences and refreshes the `index.json` copy (best effort: the sequenced assets are the truth). */
async function tidy(
  releases: ReleasePort,
  release: ReleaseInfo,
  assets: readonly ReleaseAsset[],
  sequence: number,
  body: Buffer,
  log: Logger,
): Promise<void> {
  try {
    for (const asset of assets) {
      const s = sequenceOf(asset.name);
      if (s !== undefined && s <= sequence - KEEP_SEQUENCED) await releases.deleteAsset(asset.id);
    }
    for (const asset of assets.filter((a) => a.name === INDEX_COPY)) await releases.deleteAsset(asset.id);
    await releases.uploadAsset(release, {
      name: INDEX_COPY,
      bytes: body.length,
      contentType: 'application/json',
      open: async function* () {
        yield body;
      },
    });
  } catch (error) {
    log.warning(
      `could not refresh ${INDEX_COPY} of the ${INDEX_TAG} release (${(error as Error).message}); devices read the sequenced index, which is up to date`,
    );
  }
}

function byVersionDesc(a: IndexVersion, b: IndexVersion): number {
  return compareSemver(parseSemver(b.version) as SemVer, parseSemver(a.version) as SemVer);
}

/** Adds or replaces a version of a model in the index. */
export function upsertVersion(doc: IndexDocument, name: string, entry: IndexVersion): void {
  const model = doc.models[name] ?? { channels: {}, versions: [], history: [] };
  doc.models[name] = model;
  model.versions = [...model.versions.filter((v) => v.version !== entry.version), entry].sort(byVersionDesc);
}

/** Points a channel at a version the index lists; returns the version it pointed at before (null: none). */
export function moveChannel(
  doc: IndexDocument,
  name: string,
  channel: string,
  version: string,
  at: string,
  by?: string,
): string | null {
  const model = doc.models[name];
  if (!model?.versions.some((v) => v.version === version)) {
    const known = model?.versions.map((v) => v.version) ?? [];
    throw new ConfigurationError(`version ${version} of ${name} is not published`, {
      subject: `channel ${channel}`,
      fix:
        known.length > 0
          ? `Promote one of the published versions: ${known.slice(0, 10).join(', ')}`
          : `Publish ${name} ${version} first`,
    });
  }
  const previous = model.channels[channel] ?? null;
  model.channels[channel] = version;
  if (previous !== version) {
    model.history.push({ channel, version, previous, at, ...(by ? { by } : {}) });
    model.history = model.history.slice(-100);
  }
  return previous;
}

/** The model of the index a command is about: the one named, or the only one. */
export function pickModel(
  doc: IndexDocument,
  name: string | undefined,
  subject: string,
): [string, IndexModel] {
  const names = Object.keys(doc.models).sort();
  if (name !== undefined) {
    const model = doc.models[name];
    if (!model) {
      throw new ConfigurationError(`the release index has no model ${name}`, {
        subject,
        fix: names.length > 0 ? `Use one of: ${names.join(', ')}` : 'Publish a version first',
      });
    }
    return [name, model];
  }
  if (names.length === 1 && names[0]) return [names[0], doc.models[names[0]] as IndexModel];
  throw new ConfigurationError(
    names.length === 0
      ? 'the repository has no published slmops versions'
      : `the release index has several models (${names.join(', ')})`,
    {
      subject,
      fix:
        names.length === 0
          ? 'Publish a version first (slmops publish or actions/publish)'
          : 'Name one with --model',
    },
  );
}

/** Metrics grouped by profile, fastest first within a profile. */
export function metricsByProfile(metrics: readonly ProfileMetric[]): Record<string, ProfileMetric[]> {
  const out: Record<string, ProfileMetric[]> = {};
  for (const m of metrics) {
    const list = out[m.profile] ?? [];
    list.push(m);
    out[m.profile] = list;
  }
  for (const list of Object.values(out)) list.sort((a, b) => a.p50Ms - b.p50Ms);
  return out;
}
