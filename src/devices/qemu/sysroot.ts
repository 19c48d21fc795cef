/**
 * The arm64 emulator: a Debian/Ubuntu arm64 sysroot holding Node (the `nodejs` package and its dependency closure)
 * and a static qemu-aarch64, both taken from the host's package archive with `apt-get download` + extraction, no
 * root, no `dpkg --add-architecture`. Cached in `RUNNER_TOOL_CACHE/slmops-arm64-sysroot` on a runner, else
 * `~/.cache/slmops/arm64-sysroot` (`SLMOPS_ARM64_CACHE` overrides both), one folder per host distribution:
 *
 *   <cache>/<os>-<codename>-<arch>/
 *     .complete             JSON: the packages, their versions, sizes and the time it took (written last)
 *     sysroot/              the arm64 root: usr/bin/node, lib/aarch64-linux-gnu/…
 *     qemu/qemu-aarch64     the static emulator (from qemu-user-static, or qemu-user where that is static)
 *
 * It is built in a temporary sibling and renamed into place, so a concurrent job never sees half of it.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extract } from 'tar';
import type { Logger } from '../../action-kit/logger.ts';
import { ConfigurationError } from '../../errors.ts';
import {
  type AptSource,
  downloadSpec,
  parseOsRelease,
  parseSimulatedInstall,
  parseSources,
  privateAptConfig,
  type ResolvedPackage,
  renderDeb822,
  requireSources,
  SYSROOT_FIX,
  sourcesFor,
} from './apt.ts';
import { parseCpuModels, parseQemuVersion, type QemuVersion } from './qemu-version.ts';

/** The package whose dependency closure makes the sysroot. */
export const GUEST_PACKAGES = ['nodejs'];
/** Packages that may hold a static qemu-aarch64, in order (Debian 13 made qemu-user-static a transitional one). */
export const QEMU_PACKAGES = ['qemu-user-static', 'qemu-user'];
/** The install hint every skip names. */
export const INSTALL_HINT =
  'Run `slmops functional --prepare` (or call prepareArm64Emulator) on a Debian or Ubuntu host with access to its package archive: it downloads qemu-user-static and an arm64 Node sysroot (~90 MB, cached); or set SLMOPS_QEMU to a qemu-aarch64 binary';

const MARKER = '.complete';
const MARKER_SCHEMA = 'slmops.arm64-sysroot/v1';
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

export interface Arm64Emulator {
  /** The cache folder of this host distribution. */
  dir: string;
  /** The arm64 root (`QEMU_LD_PREFIX`). */
  sysroot: string;
  /** The qemu-aarch64 binary. */
  qemu: string;
  qemuVersion: QemuVersion;
  /** The CPU models this qemu has (`-cpu help`). */
  cpuModels: string[];
  /** Host path of the guest's Node (`<sysroot>/usr/bin/node`). */
  node: string;
  /** Host path of the guest's libc.so.6 (run with LD_SHOW_AUXV=1, it prints the hwcaps of a CPU model). */
  libc: string;
  /** The packages the sysroot holds (empty when it was pre-seeded without a marker list). */
  packages: ResolvedPackage[];
  qemuPackage?: ResolvedPackage;
  /** Whether the cache already held it. */
  fromCache: boolean;
  /** Seconds the preparation took (downloads and extraction; the first time only). */
  prepareSeconds?: number;
  /** Bytes of the cache folder. */
  bytes?: number;
}

interface Marker {
  schema: string;
  distro: string;
  hostArch: string;
  packages: ResolvedPackage[];
  qemuPackage?: ResolvedPackage;
  qemu: string;
  bytes: number;
  seconds: number;
  createdAt: string;
}

export interface EmulatorOptions {
  /** Default: `process.env` (RUNNER_TOOL_CACHE, HOME, SLMOPS_ARM64_CACHE, SLMOPS_QEMU, SLMOPS_ARM64_APT_SOURCES). */
  env?: NodeJS.ProcessEnv;
  /** The cache root (default from the environment, see `emulatorCacheRoot`). */
  cacheRoot?: string;
  log?: Logger;
  /** The host's apt configuration folder (default /etc/apt) and os-release file, for tests. */
  aptEtc?: string;
  osRelease?: string;
}

/** `SLMOPS_ARM64_CACHE`, else `RUNNER_TOOL_CACHE/slmops-arm64-sysroot`, else `~/.cache/slmops/arm64-sysroot`. */
export function emulatorCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLMOPS_ARM64_CACHE) return path.resolve(env.SLMOPS_ARM64_CACHE);
  if (env.RUNNER_TOOL_CACHE) return path.join(env.RUNNER_TOOL_CACHE, 'slmops-arm64-sysroot');
  return path.join(env.HOME || os.homedir(), '.cache', 'slmops', 'arm64-sysroot');
}

/** The Debian architecture of this host (`amd64`, `arm64`). */
export function debianArch(nodeArch: string = process.arch): string {
  return (
    ({ x64: 'amd64', arm64: 'arm64', ia32: 'i386', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x' } as const)[
      nodeArch as 'x64'
    ] ?? nodeArch
  );
}

async function distro(options: EmulatorOptions): Promise<{ key: string; name: string }> {
  const text = await readFile(options.osRelease ?? '/etc/os-release', 'utf8').catch(() => '');
  const release = parseOsRelease(text);
  return { key: `${release.id}-${release.codename}-${debianArch()}`, name: release.name };
}

// -----------------------------------------------------------------------------------------------------------------
// Commands

interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs a command; a failure is a ConfigurationError naming it, its output's last lines and `fix`. */
function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; fix?: string; subject?: string } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env, maxBuffer: 64 * 2 ** 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        const tail = `${stderr}\n${stdout}`
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !/^(W|N): /.test(l))
          .slice(-4)
          .join(' | ');
        const problem =
          code === 'ENOENT'
            ? `${command} is not installed`
            : `\`${command} ${args.filter((a) => !a.startsWith('-o')).join(' ')}\` failed${tail ? `: ${tail}` : ''}`;
        reject(
          new ConfigurationError(problem, {
            subject: options.subject ?? 'arm64 sysroot',
            fix: options.fix ?? SYSROOT_FIX,
            cause: error,
          }),
        );
      },
    );
  });
}

/** A private apt state for one architecture (see ./apt.ts), set up in `dir`; returns `apt-get` arguments prefix. */
async function privateApt(dir: string, arch: string, sources: readonly AptSource[]): Promise<string[]> {
  for (const sub of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d', 'preferences.d'])
    await mkdir(path.join(dir, sub), { recursive: true });
  await writeFile(path.join(dir, 'state', 'status'), '');
  await writeFile(path.join(dir, 'sources.list'), '');
  await writeFile(path.join(dir, 'preferences'), '');
  await writeFile(path.join(dir, 'sources.list.d', 'slmops.sources'), renderDeb822(sources));
  const sandboxUser = process.getuid?.() === 0 ? 'root' : undefined;
  await writeFile(path.join(dir, 'apt.conf'), privateAptConfig(dir, arch, sandboxUser));
  return ['-c', path.join(dir, 'apt.conf'), '-q'];
}

/** The host's apt sources (sources.list, sources.list.d/*.list and *.sources), or SLMOPS_ARM64_APT_SOURCES. */
async function hostSources(options: EmulatorOptions): Promise<{ sources: AptSource[]; files: string[] }> {
  const env = options.env ?? process.env;
  const files: string[] = [];
  if (env.SLMOPS_ARM64_APT_SOURCES) files.push(path.resolve(env.SLMOPS_ARM64_APT_SOURCES));
  else {
    const etc = options.aptEtc ?? '/etc/apt';
    files.push(path.join(etc, 'sources.list'));
    const parts = path.join(etc, 'sources.list.d');
    const names = await readdir(parts).catch(() => [] as string[]);
    for (const name of names.sort()) if (/\.(list|sources)$/.test(name)) files.push(path.join(parts, name));
  }
  const sources: AptSource[] = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) sources.push(...parseSources(text, file));
  }
  return { sources, files: files.filter((f) => existsSync(f)) };
}

/** `apt-get update` into the private state, then the dependency closure of `packages`, then their downloads. */
async function downloadClosure(
  apt: string[],
  packages: readonly string[],
  into: string,
  arch: string,
  log: Logger,
): Promise<ResolvedPackage[]> {
  const update = await run('apt-get', [...apt, 'update']);
  log.debug(update.stdout.trim().split('\n').slice(-2).join(' | '));
  const simulated = await run('apt-get', [...apt, '-s', 'install', '--no-install-recommends', ...packages], {
    fix: `The ${arch} archive of this distribution must hold ${packages.join(', ')}; ${SYSROOT_FIX}`,
  });
  const resolved = parseSimulatedInstall(simulated.stdout);
  if (resolved.length === 0) {
    throw new ConfigurationError(`apt resolved no ${arch} packages for ${packages.join(', ')}`, {
      subject: 'arm64 sysroot',
      fix: SYSROOT_FIX,
    });
  }
  await mkdir(into, { recursive: true });
  await run('apt-get', [...apt, 'download', ...resolved.map(downloadSpec)], { cwd: into });
  return resolved;
}

/** The .deb file of a package in a folder (apt names them `name_version_arch.deb`, the epoch colon escaped). */
async function debFile(dir: string, pkg: ResolvedPackage): Promise<string> {
  const names = await readdir(dir);
  const found = names.find((n) => n.startsWith(`${pkg.name}_`) && n.endsWith(`_${pkg.arch}.deb`));
  if (!found) throw new Error(`apt-get download left no .deb of ${pkg.name} in ${dir}`);
  return path.join(dir, found);
}

/** Extracts a .deb's files (`dpkg-deb --fsys-tarfile`) into `root`; `only` keeps the named entries. */
function extractDeb(deb: string, root: string, only?: (entry: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error) =>
      reject(
        new ConfigurationError('dpkg-deb is not installed', {
          subject: 'arm64 sysroot',
          fix: SYSROOT_FIX,
          cause: error,
        }),
      ),
    );
    const untar = extract({
      cwd: root,
      preserveOwner: false,
      ...(only ? { filter: (entry: string) => only(entry.replace(/^\.\//, '')) } : {}),
    });
    child.stdout.pipe(untar);
    let exited: number | null | undefined;
    let finished = false;
    const settle = () => {
      if (exited === undefined || !finished) return;
      if (exited === 0) resolve();
      else reject(new Error(`dpkg-deb --fsys-tarfile ${deb} exited with ${exited}: ${stderr.trim()}`));
    };
    untar.on('finish', () => {
      finished = true;
      settle();
    });
    untar.on('error', reject);
    child.on('close', (code) => {
      exited = code;
      settle();
    });
  });
}

/**
 * Makes the sysroot self-contained: absolute symlinks become relative (so they point inside it, not at the host),
 * and a merged-/usr layout gets its `lib`, `bin`, `sbin` links (Ubuntu 24.04 ships the loader under /usr/lib and
 * relies on base-files for the /lib link, which the closure of `nodejs` does not pull in).
 */
async function fixSysroot(root: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) {
        const target = await readlink(full);
        if (path.isAbsolute(target)) {
          await unlink(full);
          await symlink(path.relative(dir, path.join(root, target)) || '.', full);
        }
      } else if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(root);
  for (const name of ['lib', 'bin', 'sbin']) {
    const top = path.join(root, name);
    if (!existsSync(top) && existsSync(path.join(root, 'usr', name)))
      await symlink(path.join('usr', name), top);
  }
  await mkdir(path.join(root, 'proc'), { recursive: true });
}

/** Whether an ELF file is statically linked (no PT_INTERP program header). */
export async function isStaticElf(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(64);
    await handle.read(header, 0, 64, 0);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2) return false;
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    await handle.read(table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false;
    return true;
  } finally {
    await handle.close();
  }
}

/** Downloads the first of QEMU_PACKAGES that holds a static qemu-aarch64 and extracts only that binary. */
async function downloadQemu(
  apt: string[],
  hostArch: string,
  into: string,
  qemuDir: string,
  log: Logger,
): Promise<{ pkg: ResolvedPackage; binary: string }> {
  const tried: string[] = [];
  await run('apt-get', [...apt, 'update']);
  for (const name of QEMU_PACKAGES) {
    const simulated = await run('apt-get', [...apt, '-s', 'install', '--no-install-recommends', name]).catch(
      () => undefined,
    );
    const pkg = simulated && parseSimulatedInstall(simulated.stdout).find((p) => p.name === name);
    if (!pkg) {
      tried.push(`${name} (not in the archive)`);
      continue;
    }
    await mkdir(into, { recursive: true });
    await run('apt-get', [...apt, 'download', downloadSpec(pkg)], { cwd: into });
    const deb = await debFile(into, pkg);
    const staging = path.join(into, `x-${name}`);
    await mkdir(staging, { recursive: true });
    await extractDeb(deb, staging, (entry) => /^usr\/bin\/qemu-aarch64(-static)?$/.test(entry));
    await rm(deb, { force: true });
    for (const candidate of ['qemu-aarch64-static', 'qemu-aarch64']) {
      const file = path.join(staging, 'usr', 'bin', candidate);
      if (!existsSync(file) || !(await isStaticElf(file))) continue;
      await mkdir(qemuDir, { recursive: true });
      const binary = path.join(qemuDir, 'qemu-aarch64');
      await rename(file, binary);
      await chmod(binary, 0o755);
      await rm(staging, { recursive: true, force: true });
      log.info(`qemu: ${name} ${pkg.version} (${hostArch}), ${candidate}`);
      return { pkg, binary };
    }
    await rm(staging, { recursive: true, force: true });
    tried.push(`${name} ${pkg.version} (no static qemu-aarch64 in it)`);
  }
  throw new ConfigurationError(`no static qemu-aarch64 in this archive: tried ${tried.join(', ')}`, {
    subject: 'qemu',
    fix: `Install qemu-user-static and set SLMOPS_QEMU to its qemu-aarch64-static; ${SYSROOT_FIX}`,
  });
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(full);
    else if (entry.isFile()) total += (await lstat(full)).size;
  }
  return total;
}

// -----------------------------------------------------------------------------------------------------------------
// Finding and preparing

async function readMarker(dir: string): Promise<Marker | undefined> {
  try {
    const marker = JSON.parse(await readFile(path.join(dir, MARKER), 'utf8')) as Marker;
    return marker.schema === MARKER_SCHEMA ? marker : undefined;
  } catch {
    return undefined;
  }
}

/** `--version` and `-cpu help` of a qemu-aarch64 binary; undefined when it does not run. */
export async function probeQemu(
  qemu: string,
): Promise<{ version: QemuVersion; cpuModels: string[] } | undefined> {
  try {
    const versionOut = await run(qemu, ['--version'], { subject: 'qemu' });
    const version = parseQemuVersion(versionOut.stdout);
    if (!version) return undefined;
    // `-cpu help` prints the models and exits with status 1.
    const help = await new Promise<string>((resolve) => {
      execFile(qemu, ['-cpu', 'help'], { encoding: 'utf8' }, (_error, stdout) => resolve(stdout));
    });
    return { version, cpuModels: parseCpuModels(help) };
  } catch {
    return undefined;
  }
}

/** The first executable named `names` on PATH. */
function onPath(names: readonly string[], env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    for (const name of names) {
      const file = path.join(dir, name);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

/** Where a guest's libc is in a sysroot (Debian: /lib/aarch64-linux-gnu; merged /usr: /usr/lib/…). */
function findLibc(sysroot: string): string | undefined {
  return ['lib/aarch64-linux-gnu/libc.so.6', 'usr/lib/aarch64-linux-gnu/libc.so.6']
    .map((p) => path.join(sysroot, p))
    .find((p) => existsSync(p));
}

export type FindResult =
  | { found: true; emulator: Arm64Emulator }
  | { found: false; reason: string; hint: string };

/**
 * The cached emulator, without downloading anything. qemu: `SLMOPS_QEMU`, else the cached one, else
 * qemu-aarch64-static / qemu-aarch64 on PATH.
 */
export async function findArm64Emulator(options: EmulatorOptions = {}): Promise<FindResult> {
  const env = options.env ?? process.env;
  const root = options.cacheRoot ?? emulatorCacheRoot(env);
  const { key } = await distro(options);
  const dir = path.join(root, key);
  const marker = await readMarker(dir);
  const sysroot = path.join(dir, 'sysroot');
  const node = path.join(sysroot, 'usr', 'bin', 'node');
  const libc = findLibc(sysroot);
  if (!marker || !existsSync(node) || !libc) {
    return {
      found: false,
      reason: `no arm64 sysroot with Node in ${dir}`,
      hint: INSTALL_HINT,
    };
  }
  const cached = path.join(dir, 'qemu', 'qemu-aarch64');
  const qemu =
    env.SLMOPS_QEMU || (existsSync(cached) ? cached : onPath(['qemu-aarch64-static', 'qemu-aarch64'], env));
  if (!qemu)
    return { found: false, reason: 'no qemu-aarch64 (cache, SLMOPS_QEMU or PATH)', hint: INSTALL_HINT };
  const probe = await probeQemu(qemu);
  if (!probe) return { found: false, reason: `${qemu} does not run as qemu-aarch64`, hint: INSTALL_HINT };
  return {
    found: true,
    emulator: {
      dir,
      sysroot,
      qemu,
      qemuVersion: probe.version,
      cpuModels: probe.cpuModels,
      node,
      libc,
      packages: marker.packages ?? [],
      ...(marker.qemuPackage ? { qemuPackage: marker.qemuPackage } : {}),
      fromCache: true,
      bytes: marker.bytes,
      prepareSeconds: marker.seconds,
    },
  };
}

/**
 * The emulator from the cache, or prepared into it: an `apt-get update` of the host's Debian/Ubuntu archives for
 * arm64 (Ubuntu's via ports.ubuntu.com) and for the host's architecture, in private apt states; the dependency
 * closure of `nodejs:arm64` downloaded and extracted into the sysroot; qemu-aarch64 from qemu-user-static.
 */
export async function prepareArm64Emulator(options: EmulatorOptions = {}): Promise<Arm64Emulator> {
  const env = options.env ?? process.env;
  const log = options.log ?? silentLog;
  const existing = await findArm64Emulator(options);
  if (existing.found) {
    log.info(`arm64 emulator: cache hit in ${existing.emulator.dir}`);
    return existing.emulator;
  }
  const root = options.cacheRoot ?? emulatorCacheRoot(env);
  const { key, name } = await distro(options);
  const dir = path.join(root, key);
  const started = performance.now();
  let temp: string;
  try {
    await mkdir(root, { recursive: true });
    await removeStaleTemps(root, key);
    temp = await mkdtemp(path.join(root, `.tmp-${key}-`));
  } catch (error) {
    throw new ConfigurationError(`cannot write to ${root}: ${(error as Error).message}`, {
      subject: 'arm64 sysroot',
      fix: 'Set SLMOPS_ARM64_CACHE (or RUNNER_TOOL_CACHE) to a writable folder',
      cause: error,
    });
  }
  try {
    const hostArch = debianArch();
    const { sources, files } = await hostSources(options);
    const arm64Sources = sourcesFor(sources, 'arm64', hostArch);
    requireSources(arm64Sources, 'arm64', files);
    const prepared = await log.group(`Preparing the arm64 sysroot (${name}) in ${dir}`, async () => {
      const apt = await privateApt(path.join(temp, 'apt-arm64'), 'arm64', arm64Sources);
      const debs = path.join(temp, 'debs');
      const packages = await downloadClosure(apt, GUEST_PACKAGES, debs, 'arm64', log);
      log.info(
        `arm64: ${packages.length} packages: ${packages.map((p) => `${p.name} ${p.version}`).join(', ')}`,
      );
      const sysroot = path.join(temp, 'sysroot');
      await mkdir(sysroot, { recursive: true });
      for (const pkg of packages) await extractDeb(await debFile(debs, pkg), sysroot);
      await fixSysroot(sysroot);
      await rm(debs, { recursive: true, force: true });

      let qemuPackage: ResolvedPackage | undefined;
      if (!env.SLMOPS_QEMU) {
        const hostSourcesForArch = sourcesFor(sources, hostArch, hostArch);
        requireSources(hostSourcesForArch, hostArch, files);
        const hostApt = await privateApt(path.join(temp, `apt-${hostArch}`), hostArch, hostSourcesForArch);
        const q = await downloadQemu(
          hostApt,
          hostArch,
          path.join(temp, 'qemu-debs'),
          path.join(temp, 'qemu'),
          log,
        );
        qemuPackage = q.pkg;
        await rm(path.join(temp, 'qemu-debs'), { recursive: true, force: true });
      }
      return { packages, qemuPackage };
    });
    for (const sub of await readdir(temp))
      if (sub.startsWith('apt-')) await rm(path.join(temp, sub), { recursive: true, force: true });
    const seconds = (performance.now() - started) / 1000;
    const bytes = await folderBytes(temp);
    const marker: Marker = {
      schema: MARKER_SCHEMA,
      distro: name,
      hostArch,
      packages: prepared.packages,
      ...(prepared.qemuPackage ? { qemuPackage: prepared.qemuPackage } : {}),
      qemu: 'qemu/qemu-aarch64',
      bytes,
      seconds: Math.round(seconds * 10) / 10,
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(temp, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    await publish(temp, dir);
    log.info(
      `arm64 emulator: prepared in ${seconds.toFixed(1)} s, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${dir}`,
    );
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  const found = await findArm64Emulator(options);
  if (!found.found) throw new Error(`the arm64 emulator prepared in ${dir} is not usable: ${found.reason}`);
  return { ...found.emulator, fromCache: false };
}

/** Renames the finished folder into place; a complete folder another job put there first wins. */
async function publish(temp: string, dir: string): Promise<void> {
  try {
    await rename(temp, dir);
  } catch (error) {
    if (await readMarker(dir)) return;
    const code = (error as NodeJS.ErrnoException).code;
    if (!['EEXIST', 'ENOTEMPTY', 'EPERM', 'EACCES', 'EBUSY'].includes(code ?? '')) throw error;
    const aside = `${dir}.stale-${process.pid}-${Date.now()}`;
    await rename(dir, aside);
    await rm(aside, { recursive: true, force: true });
    await rename(temp, dir);
  }
}

async function removeStaleTemps(root: string, key: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(root)) {
    if (!name.startsWith(`.tmp-${key}-`) && !name.startsWith(`${key}.stale-`)) continue;
    const info = await stat(path.join(root, name)).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_TEMP_MS)
      await rm(path.join(root, name), { recursive: true, force: true });
  }
}

const silentLog: Logger = {
  info() {},
  warning() {},
  error() {},
  debug() {},
  group: (_name, fn) => fn(),
};

/**
 * A root for one guest run: the sysroot's top-level entries linked in, plus `proc/cpuinfo` with the profile's
 * text. Each check gets its own, so checks of different profiles can run at the same time on one cache.
 */
export async function guestRoot(sysroot: string, cpuinfo: string, workDir: string): Promise<string> {
  const root = path.join(workDir, 'root');
  await mkdir(path.join(root, 'proc'), { recursive: true });
  for (const entry of await readdir(sysroot)) {
    if (entry === 'proc') continue;
    await symlink(path.join(sysroot, entry), path.join(root, entry));
  }
  await writeFile(path.join(root, 'proc', 'cpuinfo'), cpuinfo);
  return root;
}

/** The number of CPUs the kernel could bring online (`/sys/devices/system/cpu/possible`, `0-3` → 4). */
export async function possibleCpus(): Promise<number> {
  const text = await readFile('/sys/devices/system/cpu/possible', 'utf8').catch(() => '');
  let count = 0;
  for (const range of text.trim().split(',').filter(Boolean)) {
    const [a, b] = range.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    count += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
  }
  return count || os.cpus().length || 1;
}
