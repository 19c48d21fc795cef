/**
 * `slmops pack`: a folder of models → one reproducible `.tar.gz` (manifest.json first, then the bundle files in
 * path order) and, when anything was measured, results.json beside it.
 */
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../config/types.ts';
import { type CollectedBundle, type CollectOptions, collectBundle } from './bundle.ts';
import { buildManifest, MANIFEST_FILE, serializeManifest } from './manifest.ts';
import {
  buildResults,
  hasMeasurements,
  loadMeasured,
  type ResultsDocument,
  serializeResults,
} from './results.ts';
import { resolveVersion, type VersionRequest, versionFromRef } from './semver.ts';
import { resolveSource, type SourceInfo } from './source.ts';
import { type TarSource, type WrittenArchive, writeTarGz } from './tar.ts';

export interface PreparedBundle {
  readonly bundle: CollectedBundle;
  readonly source: SourceInfo;
  readonly version: string;
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  readonly results: ResultsDocument;
  /** Bench results given that measured none of the bundle's models. */
  readonly skippedResults: number;
}

export interface PrepareOptions extends CollectOptions {
  /** Bench results, verdict, compress reports: files, folders or globs. */
  readonly results?: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly commitTime?: (sha: string) => Promise<string | undefined>;
  /** The version, or a function choosing it once the bundle's name is known. */
  readonly version: string | ((name: string, source: SourceInfo) => Promise<string> | string);
}

/** Collects, hashes and describes a bundle: everything a pack or a publish needs before writing anything. */
export async function prepareBundle(options: PrepareOptions): Promise<PreparedBundle> {
  const measured = await loadMeasured(options.results ?? [], options.cwd);
  const bundle = await collectBundle(options);
  const source = await resolveSource({
    dir: bundle.root,
    env: options.env,
    ...(options.commitTime ? { commitTime: options.commitTime } : {}),
  });
  const version =
    typeof options.version === 'string' ? options.version : await options.version(bundle.name, source);
  const manifest = buildManifest(bundle, version, source);
  const { results, skipped } = buildResults(bundle, version, measured);
  return {
    bundle,
    source,
    version,
    manifest,
    manifestBytes: serializeManifest(manifest),
    results,
    skippedResults: skipped.length,
  };
}

/** The tar entries of a bundle: manifest.json first (a reader can check each file as it streams by), then the files. */
export function bundleEntries(prepared: PreparedBundle): TarSource[] {
  const manifest = prepared.manifestBytes;
  return [
    {
      path: MANIFEST_FILE,
      bytes: manifest.length,
      open: async function* () {
        yield manifest;
      },
    },
    ...prepared.bundle.files.map((f) => ({
      path: f.path,
      bytes: f.bytes,
      open: () => createReadStream(f.source, { highWaterMark: 4 * 2 ** 20 }),
    })),
  ];
}

export interface PackOptions extends Omit<PrepareOptions, 'version'> {
  readonly out: string;
  /** An exact version; default the version of the pushed tag (`GITHUB_REF`), else `0.0.0+g<12 hex of the commit>`. */
  readonly version?: VersionRequest;
  /** Where results.json goes; default beside the archive, when anything was measured. */
  readonly resultsOut?: string;
  readonly level?: number;
}

export interface PackResult {
  readonly prepared: PreparedBundle;
  readonly archive: WrittenArchive;
  readonly resultsPath: string | undefined;
}

export async function packBundle(options: PackOptions): Promise<PackResult> {
  const request = options.version;
  const prepared = await prepareBundle({
    ...options,
    version: (name, source) => {
      if (request?.kind === 'exact' || versionFromRef(options.env.GITHUB_REF, name)) {
        return resolveVersion({
          name,
          request,
          ref: options.env.GITHUB_REF,
          releaseTags: [],
          subject: '--version',
        }).version;
      }
      return `0.0.0+g${source.commit.slice(0, 12)}`;
    },
  });
  const out = path.resolve(options.out);
  await mkdir(path.dirname(out), { recursive: true });
  const archive = await writeTarGz(out, bundleEntries(prepared), {
    mtime: new Date(prepared.source.time),
    ...(options.level === undefined ? {} : { level: options.level }),
  });
  let resultsPath: string | undefined;
  if (options.resultsOut || hasMeasurements(prepared.results)) {
    resultsPath = path.resolve(options.resultsOut ?? path.join(path.dirname(out), 'results.json'));
    await writeFile(resultsPath, serializeResults(prepared.results));
  }
  return { prepared, archive, resultsPath };
}
