/**
 * Checking a bundle on disk (`slmops verify DIR`) or as an archive (`slmops verify bundle.tar.gz`): every file the
 * manifest lists (or, after a pull for one profile, every file that was pulled) is present, a regular file, and has
 * its size and sha256. Anything else is refused, naming the file.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import { digestStream } from './digest.ts';
import { MANIFEST_FILE, parseManifest } from './manifest.ts';
import { RESULTS_FILE } from './results.ts';
import { readArchive } from './tar.ts';

/** What a pull records about itself inside the folder (which files it took, from where). */
export const PULL_RECORD = '.slmops/pull.json';

export interface PullRecord {
  schema: 'slmops.pull/v1';
  repository: string;
  tag: string;
  version: string;
  /** The variant pulled for a profile (absent: every file). */
  variant?: string;
  profile?: string;
  /** Bundle paths pulled, sorted. */
  files: string[];
}

export type FileStatus =
  | 'ok'
  | 'missing'
  | 'not a regular file'
  | 'outside the folder'
  | 'wrong size'
  | 'wrong sha256'
  | 'unexpected'
  | 'duplicate';

export interface CheckedFile {
  readonly path: string;
  readonly status: FileStatus;
  readonly expected?: { bytes: number; sha256: string };
  readonly actual?: { bytes: number; sha256?: string };
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly name: string;
  readonly version: string;
  readonly identity: string | undefined;
  readonly files: readonly CheckedFile[];
  /** Files in the folder the manifest does not list (not an error). */
  readonly extra: readonly string[];
}

/** The problems of a report, one line each: `path: problem`. */
export function problemsOf(report: VerifyReport): string[] {
  return report.files
    .filter((f) => f.status !== 'ok')
    .map((f) => {
      switch (f.status) {
        case 'wrong size':
          return `${f.path}: ${f.actual?.bytes} bytes, the manifest says ${f.expected?.bytes}`;
        case 'wrong sha256':
          return `${f.path}: sha256 ${f.actual?.sha256}, the manifest says ${f.expected?.sha256}`;
        case 'unexpected':
          return `${f.path}: not in the manifest`;
        case 'duplicate':
          return `${f.path}: appears twice`;
        default:
          return `${f.path}: ${f.status}`;
      }
    });
}

/** A bundle that does not check out: names every file that is missing or differs. */
export class VerificationError extends ConfigurationError {
  readonly problems: readonly string[];
  constructor(subject: string, problems: readonly string[]) {
    const count = problems.length === 1 ? '1 file' : `${problems.length} files`;
    super(
      `does not match its manifest (${count}): ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; … and ${problems.length - 20} more` : ''}`,
      {
        subject,
        fix: 'Do not use these files: pull the version again (slmops pull), which replaces the folder only once every file checks out',
      },
    );
    this.name = 'VerificationError';
    this.problems = problems;
  }
}

export function assertVerified(report: VerifyReport, subject: string): VerifyReport {
  if (!report.ok) throw new VerificationError(subject, problemsOf(report));
  return report;
}

async function readPullRecord(dir: string, manifest: Manifest): Promise<PullRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dir, ...PULL_RECORD.split('/')), 'utf8');
  } catch {
    return undefined;
  }
  let record: PullRecord;
  try {
    record = JSON.parse(text) as PullRecord;
  } catch {
    throw new ConfigurationError('is not JSON', {
      subject: path.join(dir, PULL_RECORD),
      fix: 'Pull the version again',
    });
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  if (
    record.schema !== 'slmops.pull/v1' ||
    !Array.isArray(record.files) ||
    !record.files.every((f) => listed.has(f)) ||
    (record.files.length === 0 && listed.size > 0)
  ) {
    throw new ConfigurationError('does not match the manifest', {
      subject: path.join(dir, PULL_RECORD),
      fix: 'Pull the version again',
    });
  }
  return record;
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string, prefix: string): Promise<void> {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (rel !== '.slmops') await walk(path.join(dir, entry.name), rel);
      } else out.push(rel);
    }
  }
  await walk(root, '');
  return out.sort();
}

/** Checks a folder holding a bundle (unpacked or pulled). Reads every listed file once, streamed. */
export async function verifyDir(dir: string): Promise<VerifyReport> {
  const manifestPath = path.join(dir, MANIFEST_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(manifestPath);
  } catch {
    throw new ConfigurationError(`has no ${MANIFEST_FILE}`, {
      subject: dir,
      fix: 'Pass the folder slmops pull wrote (or where a bundle was unpacked)',
    });
  }
  const manifest = parseManifest(bytes, manifestPath);
  const record = await readPullRecord(dir, manifest);
  const wanted = record ? new Set(record.files) : undefined;
  const files: CheckedFile[] = [];
  const realDir = await realpath(dir);
  for (const file of manifest.files) {
    if (wanted && !wanted.has(file.path)) continue;
    const expected = { bytes: file.bytes, sha256: file.sha256 };
    const full = path.join(dir, ...file.path.split('/'));
    let stat: Awaited<ReturnType<typeof lstat>>;
    try {
      stat = await lstat(full);
    } catch {
      files.push({ path: file.path, status: 'missing', expected });
      continue;
    }
    if (!stat.isFile()) {
      files.push({ path: file.path, status: 'not a regular file', expected });
      continue;
    }
    // A folder on the way may be a symbolic link out of the pulled folder: the file read would not be the pull's.
    const inside = path.relative(realDir, await realpath(full));
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      files.push({ path: file.path, status: 'outside the folder', expected });
      continue;
    }
    if (stat.size !== file.bytes) {
      files.push({ path: file.path, status: 'wrong size', expected, actual: { bytes: stat.size } });
      continue;
    }
    const actual = await digestStream(createReadStream(full, { highWaterMark: 4 * 2 ** 20 }));
    files.push({
      path: file.path,
      status: actual.sha256 === file.sha256 ? 'ok' : 'wrong sha256',
      expected,
      actual,
    });
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  const extra = (await listFiles(dir)).filter(
    (f) => f !== MANIFEST_FILE && f !== RESULTS_FILE && !listed.has(f),
  );
  return {
    ok: files.every((f) => f.status === 'ok'),
    name: manifest.name,
    version: manifest.version,
    identity: manifest.identity,
    files,
    extra,
  };
}

/** Checks a bundle archive as it streams by (manifest.json must be its first entry, as `slmops pack` writes it). */
export async function verifyArchive(file: string): Promise<VerifyReport> {
  let manifest: Manifest | undefined;
  const files: CheckedFile[] = [];
  const seen = new Set<string>();
  await readArchive(createReadStream(file), file, async (entry) => {
    if (!manifest) {
      if (entry.path !== MANIFEST_FILE) {
        throw new ConfigurationError(`does not start with ${MANIFEST_FILE} (first entry: ${entry.path})`, {
          subject: file,
          fix: 'Pass a bundle written by slmops pack',
        });
      }
      const chunks: Buffer[] = [];
      for await (const chunk of entry.stream) chunks.push(Buffer.from(chunk));
      manifest = parseManifest(Buffer.concat(chunks), `${file}: ${MANIFEST_FILE}`);
      return;
    }
    const listed = manifest.files.find((f) => f.path === entry.path);
    if (!listed) {
      files.push({ path: entry.path, status: 'unexpected', actual: { bytes: entry.bytes } });
      return;
    }
    if (seen.has(entry.path)) {
      files.push({ path: entry.path, status: 'duplicate' });
      return;
    }
    seen.add(entry.path);
    const expected = { bytes: listed.bytes, sha256: listed.sha256 };
    const actual = await digestStream(entry.stream);
    const status: FileStatus =
      actual.bytes !== listed.bytes ? 'wrong size' : actual.sha256 !== listed.sha256 ? 'wrong sha256' : 'ok';
    files.push({ path: entry.path, status, expected, actual });
  });
  if (!manifest) {
    throw new ConfigurationError(`is empty or has no ${MANIFEST_FILE}`, {
      subject: file,
      fix: 'Pass a bundle written by slmops pack',
    });
  }
  const found = manifest;
  for (const f of found.files) {
    if (!seen.has(f.path))
      files.push({ path: f.path, status: 'missing', expected: { bytes: f.bytes, sha256: f.sha256 } });
  }
  return {
    ok: files.every((f) => f.status === 'ok'),
    name: found.name,
    version: found.version,
    identity: found.identity,
    files,
    extra: [],
  };
}
