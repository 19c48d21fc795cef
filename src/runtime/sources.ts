import { createWriteStream } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { list } from 'tar';
import type { Logger } from '../action-kit/logger.ts';
import { ConfigurationError } from '../errors.ts';
import {
  fileIntegrity,
  formatIntegrity,
  type IntegrityHash,
  integrityHasher,
  parseIntegrity,
  sameIntegrity,
} from './integrity.ts';
import { type LockedPackage, packFileName } from './lock.ts';

export const DEFAULT_REGISTRY = 'https://registry.npmjs.org';

/** Where the runtime tarballs come from. */
export type RuntimeSource =
  /** A folder of `npm pack` tarballs (offline runners, tests): `SLMOPS_RUNTIME_TARBALLS`. */
  | { readonly kind: 'tarballs'; readonly dir: string }
  /** An npm registry or mirror (`SLMOPS_NPM_REGISTRY`, default registry.npmjs.org). */
  | { readonly kind: 'registry'; readonly url: string; readonly download?: DownloadOptions };

export interface DownloadOptions {
  /** Injected in tests; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Attempts per tarball (default 4). */
  readonly attempts?: number;
  /** Delay before retry n (1-based) in ms; default 1 s, 2 s, 4 s … */
  readonly retryDelayMs?: (attempt: number) => number;
  /** Abort an attempt when no byte arrived for this long (default 60 s). */
  readonly stallTimeoutMs?: number;
  /** The environment, to explain proxy settings in errors (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
}

/** TLS errors that no retry fixes: the certificate chain is not trusted by this Node. */
const CERTIFICATE_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A tarball on disk, and whether its bytes were checked against the lock's integrity. */
export interface ObtainedTarball {
  readonly file: string;
  readonly integrityVerified: boolean;
  /** Whether the file is a temporary download the caller may delete. */
  readonly temporary: boolean;
}

export function describeSource(source: RuntimeSource): string {
  return source.kind === 'tarballs' ? `local tarballs in ${source.dir}` : `registry ${source.url}`;
}

/** A download or local tarball whose bytes differ from the lock: refused, naming both digests. */
export class RuntimeIntegrityError extends ConfigurationError {
  constructor(pkg: LockedPackage, origin: string, actual: IntegrityHash) {
    super(
      `${pkg.name}@${pkg.version} from ${origin} has integrity ${formatIntegrity(actual)}, ` +
        `but package-lock.json locks ${pkg.integrity}; refusing to install it`,
      {
        subject: 'onnxruntime',
        fix: 'Point SLMOPS_NPM_REGISTRY at a faithful mirror of registry.npmjs.org, or remove the tarball',
      },
    );
    this.name = 'RuntimeIntegrityError';
  }
}

/**
 * Gets the tarball of `pkg` into `workDir` (downloads) or finds it (local folder). `unreachableFix` is the fix
 * named when the registry cannot be reached.
 */
export async function obtainTarball(
  pkg: LockedPackage,
  source: RuntimeSource,
  workDir: string,
  log: Logger,
  unreachableFix: string,
): Promise<ObtainedTarball> {
  if (source.kind === 'tarballs') return findLocalTarball(pkg, source.dir, log);
  const file = path.join(workDir, packFileName(pkg));
  await downloadTarball(pkg, source.url, file, log, unreachableFix, source.download);
  return { file, integrityVerified: true, temporary: true };
}

// ---------------------------------------------------------------------------------------------------------------
// Local folder

/**
 * Finds `pkg` in a folder of tarballs: first a file whose bytes match the lock's integrity (`npm pack` of the
 * registry package reproduces it), else one whose package.json names the locked name and version (accepted with
 * a warning: its bytes were not checked against the lock).
 */
export async function findLocalTarball(
  pkg: LockedPackage,
  dir: string,
  log: Logger,
): Promise<ObtainedTarball> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.tgz') || n.endsWith('.tar.gz'));
  } catch (error) {
    throw new ConfigurationError(`cannot read the folder ${dir}: ${(error as Error).message}`, {
      subject: 'SLMOPS_RUNTIME_TARBALLS',
      fix: 'Set it to a folder holding the tarballs of onnxruntime-node and onnxruntime-common (npm pack)',
      cause: error,
    });
  }
  const conventional = packFileName(pkg);
  const candidates = [...names].sort(
    (a, b) => Number(b === conventional) - Number(a === conventional) || a.localeCompare(b),
  );
  const expected = parseIntegrity(pkg.integrity);
  for (const name of candidates) {
    const file = path.join(dir, name);
    if (sameIntegrity(await fileIntegrity(file, expected.algorithm), expected)) {
      log.info(`${pkg.name}@${pkg.version}: ${file} matches the integrity locked in package-lock.json`);
      return { file, integrityVerified: true, temporary: false };
    }
  }
  for (const name of candidates) {
    const file = path.join(dir, name);
    const manifest = await readTarballManifest(file);
    if (manifest?.name === pkg.name && manifest.version === pkg.version) {
      log.warning(
        `${pkg.name}@${pkg.version}: using ${file} by its package.json; its bytes differ from the registry ` +
          `tarball locked in package-lock.json (${pkg.integrity}), so integrity was not checked against the lock`,
      );
      return { file, integrityVerified: false, temporary: false };
    }
  }
  throw new ConfigurationError(
    `no tarball of ${pkg.name}@${pkg.version} in ${dir} (found: ${names.length > 0 ? names.join(', ') : 'none'})`,
    {
      subject: 'SLMOPS_RUNTIME_TARBALLS',
      fix: `Add it on a connected machine with: npm pack ${pkg.name}@${pkg.version} --pack-destination ${dir}`,
    },
  );
}

/** The name and version in a tarball's `package/package.json`, or undefined when it has none or is unreadable. */
export async function readTarballManifest(
  file: string,
): Promise<{ name?: string; version?: string } | undefined> {
  let text: string | undefined;
  try {
    await list({
      file,
      filter: (p) => p === 'package/package.json',
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => {
          text = Buffer.concat(chunks).toString('utf8');
        });
      },
    });
    return text === undefined ? undefined : (JSON.parse(text) as { name?: string; version?: string });
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Registry

/** The URL of `pkg`'s tarball on `registry` (the lock's `resolved` path on another host). */
export function tarballUrl(pkg: LockedPackage, registry: string): string {
  return `${registry.replace(/\/+$/, '')}/${pkg.tarball}`;
}

class RetryableError extends Error {}

/**
 * Downloads `pkg` from `registry` to `file`, streaming, with retries on network errors, 429 and 5xx, and refuses
 * bytes whose sha512 differs from the lock.
 */
export async function downloadTarball(
  pkg: LockedPackage,
  registry: string,
  file: string,
  log: Logger,
  unreachableFix: string,
  options: DownloadOptions = {},
): Promise<void> {
  const url = tarballUrl(pkg, registry);
  const attempts = options.attempts ?? 4;
  const delay = options.retryDelayMs ?? ((n: number) => 1000 * 2 ** (n - 1));
  const expected = parseIntegrity(pkg.integrity);
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      log.info(`downloading ${url}${attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''}`);
      const actual = await downloadOnce(url, file, expected, options);
      if (!sameIntegrity(actual, expected)) throw new RuntimeIntegrityError(pkg, url, actual);
      return;
    } catch (error) {
      await rm(file, { force: true });
      if (!(error instanceof RetryableError)) throw error;
      lastError = error;
      log.debug(`download of ${url} failed: ${error.message}`);
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delay(attempt)));
    }
  }
  throw new ConfigurationError(
    `could not download ${pkg.name}@${pkg.version} from ${url} after ${attempts} attempts ` +
      `(${(lastError as Error).message})${proxyHint(options.env ?? process.env)}`,
    { subject: 'onnxruntime', fix: unreachableFix, cause: lastError },
  );
}

/** Node's fetch ignores HTTPS_PROXY unless NODE_USE_ENV_PROXY=1 (Node 22.21+, 24.5+) is set when it starts. */
function proxyHint(env: NodeJS.ProcessEnv): string {
  const proxy = env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy;
  if (!proxy || env.NODE_USE_ENV_PROXY === '1') return '';
  return '; a proxy is configured (HTTPS_PROXY), which Node uses only with NODE_USE_ENV_PROXY=1 in the runner environment';
}

async function downloadOnce(
  url: string,
  file: string,
  expected: IntegrityHash,
  options: DownloadOptions,
): Promise<IntegrityHash> {
  const fetchImpl = options.fetch ?? fetch;
  const stallMs = options.stallTimeoutMs ?? 60_000;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetchImpl(url, {
        signal: controller.signal,
        headers: { accept: 'application/octet-stream', 'user-agent': 'slmops' },
      });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code && CERTIFICATE_ERRORS.has(code)) {
        throw new ConfigurationError(`${url}: the TLS certificate is not trusted (${code})`, {
          subject: 'onnxruntime',
          fix:
            'If a TLS-inspecting proxy sits between this runner and the registry, point NODE_EXTRA_CA_CERTS at its ' +
            'CA certificate (in the runner .env file for self-hosted runners), or use SLMOPS_RUNTIME_TARBALLS',
          cause: error,
        });
      }
      throw new RetryableError(describeFetchError(error), { cause: error });
    }
    if (!response.ok || !response.body) {
      const message = `HTTP ${response.status} ${response.statusText}`.trim();
      if (response.status === 429 || response.status >= 500) throw new RetryableError(message);
      throw new ConfigurationError(`${url} answered ${message}`, {
        subject: 'onnxruntime',
        fix: 'Check that SLMOPS_NPM_REGISTRY (if set) is an npm registry that serves this package',
      });
    }
    const { hash, result } = integrityHasher(expected.algorithm);
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        arm();
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
        tap,
        createWriteStream(file),
      );
    } catch (error) {
      throw new RetryableError(describeFetchError(error), { cause: error });
    }
    return result();
  } finally {
    clearTimeout(timer);
  }
}

function describeFetchError(error: unknown): string {
  const err = error as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message ?? String(error)}: ${cause}` : (err.message ?? String(error));
}
