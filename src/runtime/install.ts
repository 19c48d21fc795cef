/**
 * Delivers onnxruntime-node to a runner that has no node_modules (docs/adr/0001-onnxruntime-delivery.md): the
 * action, running on the runner's own node, installs the locked packages into the tool cache before anything
 * loads onnxruntime, and points `SLMOPS_ORT_DIR` at them (src/inference/ort.ts loads from there).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../action-kit/logger.ts';
import { ConfigurationError } from '../errors.ts';
import { extractPackage } from './extract.ts';
import { LOCKED_RUNTIME } from './lock.generated.ts';
import type { LockedPackage, LockedRuntime } from './lock.ts';
import { currentHost, type HostDescription, type RuntimePlatform, resolvePlatform } from './platform.ts';
import { DEFAULT_REGISTRY, describeSource, obtainTarball, type RuntimeSource } from './sources.ts';

/** The environment variable src/inference/ort.ts loads onnxruntime-node from. */
export const ORT_DIR_ENV = 'SLMOPS_ORT_DIR';
/** The marker written inside an installed folder before it is renamed into place. */
export const COMPLETE_MARKER = '.complete';
const CACHE_NAME = 'slmops-onnxruntime';
/** Temporary folders of crashed installs older than this are removed. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export interface EnsureOnnxRuntimeOptions {
  /** The tool-cache root: `RUNNER_TOOL_CACHE`, else `~/.cache/slmops`. */
  readonly toolCache: string;
  readonly source: RuntimeSource;
  readonly log: Logger;
  /** Default: the packages locked in package-lock.json at build time. */
  readonly lock?: LockedRuntime;
  /** Default: this process's platform, arch and libc. */
  readonly host?: HostDescription;
  /** Where `SLMOPS_ORT_DIR` is set (default `process.env`, which child processes inherit). */
  readonly env?: NodeJS.ProcessEnv;
}

/** What the `.complete` marker records: the packages the folder holds. */
interface CompleteMarker {
  readonly packages: { name: string; version: string; integrity: string; integrityVerified: boolean }[];
}

/** The options of `ensureOnnxRuntime` from the runner's environment. */
export function runtimeOptionsFromEnv(env: NodeJS.ProcessEnv, log: Logger): EnsureOnnxRuntimeOptions {
  const toolCache = env.RUNNER_TOOL_CACHE || path.join(env.HOME || os.homedir(), '.cache', 'slmops');
  const tarballs = env.SLMOPS_RUNTIME_TARBALLS;
  const source: RuntimeSource = tarballs
    ? { kind: 'tarballs', dir: path.resolve(tarballs) }
    : { kind: 'registry', url: env.SLMOPS_NPM_REGISTRY || DEFAULT_REGISTRY, download: { env } };
  return { toolCache, source, log, env };
}

/** The folder the runtime for `platform` lives in: `<toolCache>/slmops-onnxruntime/<version>/<platform>-<arch>`. */
export function runtimeDir(toolCache: string, lock: LockedRuntime, platform: RuntimePlatform): string {
  return path.join(toolCache, CACHE_NAME, mainPackage(lock).version, platform.key);
}

/**
 * Makes the locked onnxruntime-node loadable and returns its folder (holding `node_modules/onnxruntime-node` and
 * `node_modules/onnxruntime-common`); sets `SLMOPS_ORT_DIR` to it. Reuses a complete folder in the tool cache;
 * else installs into a temporary sibling and renames it into place, so concurrent jobs on one machine never see
 * a partial folder (the loser of the rename uses the winner's folder).
 */
export async function ensureOnnxRuntime(options: EnsureOnnxRuntimeOptions): Promise<string> {
  const lock = options.lock ?? LOCKED_RUNTIME;
  const { log } = options;
  const main = mainPackage(lock);
  const platform = resolvePlatform(options.host ?? currentHost(), lock.platforms, main.version);
  const dir = runtimeDir(options.toolCache, lock, platform);
  const label = `onnxruntime-node ${main.version} (${platform.key})`;

  if (await isComplete(dir, lock)) {
    log.info(`${label}: cache hit in ${dir}`);
  } else {
    const started = performance.now();
    await log.group(`Installing ${label} from ${describeSource(options.source)}`, () =>
      install(dir, lock, platform, options),
    );
    log.info(`${label}: installed into ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  (options.env ?? process.env)[ORT_DIR_ENV] = dir;
  return dir;
}

function mainPackage(lock: LockedRuntime): LockedPackage {
  const main = lock.packages[0];
  if (!main) throw new Error('the locked runtime lists no packages');
  return main;
}

async function isComplete(dir: string, lock: LockedRuntime): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(path.join(dir, COMPLETE_MARKER), 'utf8');
  } catch {
    return false;
  }
  // An empty marker (written by hand when pre-seeding, like @actions/tool-cache's markers) is trusted.
  if (text.trim() === '') return true;
  let marker: CompleteMarker;
  try {
    marker = JSON.parse(text) as CompleteMarker;
  } catch {
    return false;
  }
  // A folder of other versions under this version's path (a hand-made pre-seed) is not ours.
  return lock.packages.every((p) =>
    marker.packages?.some((m) => m.name === p.name && m.version === p.version),
  );
}

async function install(
  dir: string,
  lock: LockedRuntime,
  platform: RuntimePlatform,
  options: EnsureOnnxRuntimeOptions,
): Promise<void> {
  const { log, source } = options;
  const parent = path.dirname(dir);
  let temp: string;
  try {
    await mkdir(parent, { recursive: true });
    await removeStaleTemps(parent, platform.key, log);
    temp = await mkdtemp(path.join(parent, `.tmp-${platform.key}-`));
  } catch (error) {
    throw new ConfigurationError(`cannot write to ${parent}: ${(error as Error).message}`, {
      subject: 'RUNNER_TOOL_CACHE',
      fix: 'Give the runner user write access to its tool cache, or set RUNNER_TOOL_CACHE to a writable folder',
      cause: error,
    });
  }
  try {
    const downloads = path.join(temp, '.downloads');
    await mkdir(downloads);
    const unreachableFix = noSourceFix(dir, lock);
    const marker: CompleteMarker = { packages: [] };
    for (const pkg of lock.packages) {
      const tarball = await obtainTarball(pkg, source, downloads, log, unreachableFix);
      const dest = path.join(temp, 'node_modules', ...pkg.name.split('/'));
      let found: { name: string; version: string };
      try {
        found = await extractPackage(tarball.file, dest, platform);
      } catch (error) {
        throw new ConfigurationError(`cannot extract ${tarball.file}: ${(error as Error).message}`, {
          subject: 'onnxruntime',
          fix: `Replace it with the npm tarball of ${pkg.name}@${pkg.version}`,
          cause: error,
        });
      }
      if (found.name !== pkg.name || found.version !== pkg.version) {
        throw new ConfigurationError(
          `${tarball.file} holds ${found.name}@${found.version}, not ${pkg.name}@${pkg.version}`,
          { subject: 'onnxruntime', fix: `Replace it with the npm tarball of ${pkg.name}@${pkg.version}` },
        );
      }
      if (tarball.temporary) await rm(tarball.file, { force: true });
      marker.packages.push({ ...pkg, integrityVerified: tarball.integrityVerified });
      log.info(`extracted ${pkg.name}@${pkg.version}`);
    }
    await rm(downloads, { recursive: true, force: true });
    await checkBinaries(temp, lock, platform);
    await writeFile(
      path.join(temp, 'package.json'),
      `${JSON.stringify({ name: 'slmops-onnxruntime', private: true, description: 'installed by slmops' }, null, 2)}\n`,
    );
    await writeFile(path.join(temp, COMPLETE_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    await publish(temp, dir, lock, log);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** The onnxruntime binding of this platform must be there, or loading fails later with an obscure dlopen error. */
async function checkBinaries(root: string, lock: LockedRuntime, platform: RuntimePlatform): Promise<void> {
  const main = mainPackage(lock);
  const napi = path.join(root, 'node_modules', main.name, 'bin');
  const folders = existsSync(napi) ? await readdir(napi) : [];
  const binding = folders
    .map((f) => path.join(napi, f, platform.platform, platform.arch, 'onnxruntime_binding.node'))
    .find((f) => existsSync(f));
  if (!binding) {
    throw new ConfigurationError(
      `the ${main.name}@${main.version} tarball holds no onnxruntime_binding.node for ${platform.platform}/${platform.arch}`,
      {
        subject: 'onnxruntime',
        fix: `Use the registry tarball of ${main.name}@${main.version}, which ships it`,
      },
    );
  }
}

/** Renames the finished temporary folder into place; if another job won the race, keeps the winner's. */
async function publish(temp: string, dir: string, lock: LockedRuntime, log: Logger): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await rename(temp, dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!['EEXIST', 'ENOTEMPTY', 'EPERM', 'EACCES', 'EBUSY'].includes(code ?? '')) throw error;
      if (await isComplete(dir, lock)) {
        log.info(`another job installed ${dir} at the same time; using that one`);
        return;
      }
      if (attempt === 0) {
        // An incomplete folder (a crashed hand copy, or an older layout): move it aside, then retry once.
        log.warning(`replacing the incomplete runtime folder ${dir}`);
        const aside = `${dir}.stale-${process.pid}-${Date.now()}`;
        await rename(dir, aside).catch(() => undefined);
        await rm(aside, { recursive: true, force: true });
      } else {
        throw error;
      }
    }
  }
}

async function removeStaleTemps(parent: string, key: string, log: Logger): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(parent)) {
    if (!name.startsWith(`.tmp-${key}-`) && !name.startsWith(`${key}.stale-`)) continue;
    const full = path.join(parent, name);
    const info = await stat(full).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_TEMP_MS) {
      log.debug(`removing ${full}, left by an interrupted install`);
      await rm(full, { recursive: true, force: true });
    }
  }
}

/** The one fix named when the runtime cannot be obtained: the three ways to provide it. */
function noSourceFix(dir: string, lock: LockedRuntime): string {
  const specs = lock.packages.map((p) => `${p.name}@${p.version}`).join(' ');
  return (
    'Give this runner one of: network access to the npm registry (or a mirror in SLMOPS_NPM_REGISTRY); ' +
    `a folder of tarballs made with \`npm pack ${specs}\` in SLMOPS_RUNTIME_TARBALLS; ` +
    `or a pre-seeded tool cache at ${dir} (see docs/adr/0001-onnxruntime-delivery.md)`
  );
}
