/**
 * The host fingerprint every result records: CPU model, the ISA flags onnxruntime's kernels dispatch on, cores, RAM,
 * OS, Node and onnxruntime versions, and the cgroup limits of this process. Results are only comparable within one
 * fingerprint class, and calibrations are cached per `fingerprintKey`.
 *
 * The parsers are pure functions over the texts of /proc and /sys files; `hostFingerprint` reads the files (through
 * a replaceable `readText`) and falls back to `node:os` where a file is missing (macOS, Windows, locked-down hosts).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { posix } from 'node:path';
import type { HostFingerprint } from '../config/types.ts';
import { loadOnnxRuntime } from '../inference/ort.ts';

export type { HostFingerprint };

/**
 * The ISA flags that change which kernels onnxruntime (MLAS, KleidiAI) runs, in this order. x86: AVX2/FMA GEMM,
 * F16C conversions, AVX-512 and the VNNI/AMX int8 paths. Arm (`Features` line, see the kernel's elf_hwcaps): NEON,
 * dot product, i8mm, SVE/SVE2, SME, bf16 and fp16 arithmetic.
 */
export const KERNEL_FLAGS: readonly string[] = [
  'avx',
  'avx2',
  'fma',
  'f16c',
  'avx512f',
  'avx512bw',
  'avx512_vnni',
  'avx512_bf16',
  'avx_vnni',
  'amx_tile',
  'amx_int8',
  'asimd',
  'asimddp',
  'asimdhp',
  'fphp',
  'i8mm',
  'bf16',
  'sve',
  'sve2',
  'sme',
  'sme2',
];

/** Arm Ltd (implementer 0x41) CPU parts, as `/proc/cpuinfo` reports them in `CPU part`. */
export const ARM_PARTS: Readonly<Record<number, string>> = {
  3331: 'Cortex-A53',
  3332: 'Cortex-A35',
  3333: 'Cortex-A55',
  3335: 'Cortex-A57',
  3336: 'Cortex-A72',
  3337: 'Cortex-A73',
  3338: 'Cortex-A75',
  3339: 'Cortex-A76',
  3340: 'Neoverse-N1',
  3341: 'Cortex-A77',
  3392: 'Neoverse-V1',
  3393: 'Cortex-A78',
  3394: 'Cortex-A78AE',
  3396: 'Cortex-X1',
  3398: 'Cortex-A510',
  3399: 'Cortex-A710',
  3400: 'Cortex-X2',
  3401: 'Neoverse-N2',
  3403: 'Cortex-A78C',
  3407: 'Neoverse-V2',
};

const ARM_IMPLEMENTERS: Readonly<Record<number, string>> = {
  65: 'Arm',
  66: 'Broadcom',
  78: 'NVIDIA',
  81: 'Qualcomm',
  97: 'Apple',
  192: 'Ampere',
};

/** What /proc/cpuinfo says about the CPU. `null` where it does not say. */
export interface CpuInfo {
  /** `model name` (x86), or the Arm parts decoded (`Cortex-A76`; big.LITTLE: `4x Cortex-A55 + 4x Cortex-A76`). */
  model: string | null;
  /** The `KERNEL_FLAGS` present in the `flags` / `Features` line of the first processor, in that list's order. */
  isaFlags: string[];
  /** Number of `processor` entries. */
  logicalCores: number;
  /** Unique (physical id, core id) pairs; the logical count when those fields are absent (arm64). */
  physicalCores: number;
}

/** Splits /proc/cpuinfo into one key → value map per blank-line separated block. */
function cpuinfoBlocks(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  let current = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (line.trim() === '' || colon < 0) {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      continue;
    }
    current.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (current.size > 0) blocks.push(current);
  return blocks;
}

/** `0x41`, `0xd0b` → number; NaN when absent or malformed. */
function hex(value: string | undefined): number {
  return value && /^0x[0-9a-f]+$/i.test(value) ? Number.parseInt(value.slice(2), 16) : Number.NaN;
}

/** A readable name for an Arm core: the part table for Arm Ltd parts, else implementer and part in hex. */
export function armCoreName(implementer: number, part: number): string {
  const known = implementer === 0x41 ? ARM_PARTS[part] : undefined;
  if (known) return known;
  const vendor = ARM_IMPLEMENTERS[implementer] ?? `implementer 0x${implementer.toString(16)}`;
  return `${vendor} part 0x${part.toString(16).padStart(3, '0')}`;
}

/** Parses the text of /proc/cpuinfo (x86-64 or arm64). */
export function parseCpuInfo(text: string): CpuInfo {
  const blocks = cpuinfoBlocks(text);
  const processors = blocks.filter((b) => b.has('processor'));
  const flagLine = processors.map((b) => b.get('flags') ?? b.get('features')).find((f) => f !== undefined);
  const present = new Set((flagLine ?? '').split(/\s+/).filter(Boolean));
  const isaFlags = KERNEL_FLAGS.filter((f) => present.has(f));

  let model: string | null = processors.map((b) => b.get('model name')).find((m) => m) ?? null;
  if (!model) {
    // arm64: count the cores of each (implementer, part), in order of first appearance.
    const counts = new Map<string, number>();
    for (const b of processors) {
      const implementer = hex(b.get('cpu implementer'));
      const part = hex(b.get('cpu part'));
      if (Number.isNaN(implementer) || Number.isNaN(part)) continue;
      const name = armCoreName(implementer, part);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    if (counts.size === 1) model = [...counts.keys()][0] ?? null;
    else if (counts.size > 1) {
      model = [...counts]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, n]) => `${n}x ${name}`)
        .join(' + ');
    }
  }

  const pairs = new Set<string>();
  for (const b of processors) {
    const physical = b.get('physical id');
    const core = b.get('core id');
    if (physical !== undefined && core !== undefined) pairs.add(`${physical}/${core}`);
  }
  const logicalCores = processors.length;
  return {
    model,
    isaFlags,
    logicalCores,
    physicalCores: pairs.size > 0 ? pairs.size : logicalCores,
  };
}

/** `PRETTY_NAME` of /etc/os-release (quotes and escapes removed), or null. */
export function parseOsRelease(text: string): string | null {
  for (const line of text.split('\n')) {
    const match = /^PRETTY_NAME=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = (match[1] ?? '').trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
    }
    value = value.replace(/\\(["'$`\\])/g, '$1').trim();
    return value || null;
  }
  return null;
}

/** One line of /proc/self/cgroup: hierarchy id, controllers (empty for cgroup v2) and the path. */
export interface CgroupMembership {
  hierarchy: number;
  controllers: string[];
  path: string;
}

/** Parses /proc/self/cgroup (`0::/path` for cgroup v2, `4:memory:/path` or `2:cpu,cpuacct:/path` for v1). */
export function parseProcCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    out.push({
      hierarchy: Number(match[1]),
      controllers: match[2] ? match[2].split(',').filter(Boolean) : [],
      path: match[3] || '/',
    });
  }
  return out;
}

/** A cgroup mount from /proc/self/mountinfo: the cgroup path it exposes (`root`) and where (`mountPoint`). */
export interface CgroupMount {
  version: 1 | 2;
  root: string;
  mountPoint: string;
  /** v1: the controllers in the super options (`cpu`, `cpuacct`, `memory`…); v2: empty. */
  controllers: string[];
}

/** Un-escapes mountinfo's octal escapes (`\040` is a space). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) =>
    String.fromCharCode(Number.parseInt(octal, 8)),
  );
}

/** The cgroup and cgroup2 mounts listed in /proc/self/mountinfo. */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    const root = fields[3];
    const mountPoint = fields[4];
    if (!root || !mountPoint) continue;
    if (fsType === 'cgroup2') {
      out.push({
        version: 2,
        root: unescapeMount(root),
        mountPoint: unescapeMount(mountPoint),
        controllers: [],
      });
    } else if (fsType === 'cgroup') {
      out.push({
        version: 1,
        root: unescapeMount(root),
        mountPoint: unescapeMount(mountPoint),
        controllers: superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro' && !o.includes('=')),
      });
    }
  }
  return out;
}

/** cgroup v2 `cpu.max` (`$MAX $PERIOD`) as a number of CPUs; null for `max` (no quota) or an unreadable text. */
export function parseCpuMax(text: string): number | null {
  const [quota, period = '100000'] = text.trim().split(/\s+/);
  if (!quota || quota === 'max') return null;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 && Number.isFinite(q / p) ? q / p : null;
}

/** Limits at or above this many bytes mean "unlimited" (cgroup v1 reports 2^63 rounded down to a page). */
const UNLIMITED_BYTES = 2 ** 60;

/** cgroup v2 `memory.max` (or v1 `memory.limit_in_bytes`) in bytes; null for `max` or an effectively unlimited value. */
export function parseMemoryMax(text: string): number | null {
  const value = text.trim();
  if (!value || value === 'max' || !/^\d+$/.test(value)) return null;
  const bytes = Number(value);
  return bytes >= UNLIMITED_BYTES ? null : bytes;
}

/** cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` as a number of CPUs; null for -1 (no quota). */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  const quota = Number(quotaText.trim());
  const period = Number(periodText.trim());
  return quota > 0 && period > 0 ? quota / period : null;
}

/** Reads a text file; undefined when it is missing or unreadable. */
export type ReadText = (path: string) => string | undefined;

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** The folders of `cgroupPath` inside `mount`, from the deepest one up to the mount's root. */
function cgroupDirs(mount: CgroupMount, cgroupPath: string): string[] {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/$/, '');
  // Inside a cgroup namespace the mount root and the process path are both relative to the namespace.
  let relative = cgroupPath;
  if (root && (cgroupPath === root || cgroupPath.startsWith(`${root}/`)))
    relative = cgroupPath.slice(root.length);
  const parts = relative.split('/').filter((p) => p && p !== '..' && p !== '.');
  const dirs: string[] = [];
  for (let depth = parts.length; depth >= 0; depth--) {
    dirs.push(posix.join(mount.mountPoint, ...parts.slice(0, depth)));
  }
  return dirs;
}

/** The smallest non-null value, or null. */
function tightest(values: (number | null)[]): number | null {
  const limits = values.filter((v): v is number => v !== null);
  return limits.length > 0 ? Math.min(...limits) : null;
}

/**
 * The CPU and memory limits of this process's cgroup: cgroup v2 `cpu.max` / `memory.max`, or the v1 equivalents
 * when the controller is only mounted as v1. A limit set on an ancestor cgroup applies too, so the tightest value
 * from the process's cgroup up to the mount root wins. Null: unlimited (or not visible from here).
 */
export function readCgroupLimits(readText: ReadText = readTextFile): {
  cpuMax: number | null;
  memoryMax: number | null;
} {
  const memberships = parseProcCgroup(readText('/proc/self/cgroup') ?? '');
  const mounts = parseCgroupMounts(readText('/proc/self/mountinfo') ?? '');
  const unified = memberships.find((m) => m.hierarchy === 0 && m.controllers.length === 0);
  const v2Mount = mounts.find((m) => m.version === 2) ?? {
    version: 2 as const,
    root: '/',
    mountPoint: '/sys/fs/cgroup',
    controllers: [],
  };
  const v2Dirs = unified ? cgroupDirs(v2Mount, unified.path) : [];
  const v2Controllers = new Set(
    (readText(posix.join(v2Mount.mountPoint, 'cgroup.controllers')) ?? '').split(/\s+/).filter(Boolean),
  );

  const v1Dirs = (controller: string): string[] => {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const member = memberships.find((m) => m.controllers.includes(controller));
    return mount && member ? cgroupDirs(mount, member.path) : [];
  };

  const readV2 = (file: string, parse: (text: string) => number | null): (number | null)[] =>
    v2Dirs.map((dir) => {
      const text = readText(posix.join(dir, file));
      return text === undefined ? null : parse(text);
    });

  let cpuMax: number | null = null;
  const cpuV2 = v2Dirs.length > 0 && (v2Controllers.has('cpu') || v2Controllers.size === 0);
  if (cpuV2) cpuMax = tightest(readV2('cpu.max', parseCpuMax));
  if (cpuMax === null && !v2Controllers.has('cpu')) {
    cpuMax = tightest(
      v1Dirs('cpu').map((dir) => {
        const quota = readText(posix.join(dir, 'cpu.cfs_quota_us'));
        const period = readText(posix.join(dir, 'cpu.cfs_period_us'));
        return quota === undefined || period === undefined ? null : parseCfsQuota(quota, period);
      }),
    );
  }

  let memoryMax: number | null = null;
  const memoryV2 = v2Dirs.length > 0 && (v2Controllers.has('memory') || v2Controllers.size === 0);
  if (memoryV2) memoryMax = tightest(readV2('memory.max', parseMemoryMax));
  if (memoryMax === null && !v2Controllers.has('memory')) {
    memoryMax = tightest(
      v1Dirs('memory').map((dir) => {
        const text = readText(posix.join(dir, 'memory.limit_in_bytes'));
        return text === undefined ? null : parseMemoryMax(text);
      }),
    );
  }
  return { cpuMax, memoryMax };
}

export interface FingerprintOptions {
  /** Reads /proc, /sys and /etc files (tests pass canned texts). */
  readText?: ReadText;
  /** The onnxruntime version; default: asked of the loaded onnxruntime-node. */
  onnxruntime?: string;
}

/** The onnxruntime-node version (`ort.env.versions`), `unknown` when the package does not report one. */
export async function onnxRuntimeVersion(): Promise<string> {
  const ort = await loadOnnxRuntime();
  const versions = (ort.env as { versions?: { node?: string; common?: string } }).versions;
  return versions?.node ?? versions?.common ?? 'unknown';
}

/** Describes this host (see `HostFingerprint`). Loads onnxruntime-node unless `options.onnxruntime` is given. */
export async function hostFingerprint(options: FingerprintOptions = {}): Promise<HostFingerprint> {
  const readText = options.readText ?? readTextFile;
  const platform = os.platform();
  const cpus = os.cpus();
  const cpuinfoText = platform === 'linux' ? readText('/proc/cpuinfo') : undefined;
  const cpuinfo = cpuinfoText === undefined ? undefined : parseCpuInfo(cpuinfoText);

  const fallbackModel = cpus[0]?.model.trim();
  const cpuModel =
    cpuinfo?.model ??
    (fallbackModel && fallbackModel.toLowerCase() !== 'unknown' ? fallbackModel : 'unknown');
  const logicalCores = Math.max(1, cpuinfo?.logicalCores || cpus.length || os.availableParallelism());
  const physicalCores = Math.max(1, Math.min(cpuinfo?.physicalCores || logicalCores, logicalCores));

  const distro = platform === 'linux' ? parseOsRelease(readText('/etc/os-release') ?? '') : null;
  const osName = `${platform}-${os.arch()}${distro ? `, ${distro}` : ''}`;

  const fingerprint: HostFingerprint = {
    cpuModel,
    isaFlags: cpuinfo?.isaFlags ?? [],
    physicalCores,
    logicalCores,
    ramBytes: os.totalmem(),
    os: osName,
    kernel: os.release(),
    node: process.versions.node,
    onnxruntime: options.onnxruntime ?? (await onnxRuntimeVersion()),
  };
  if (platform === 'linux') fingerprint.cgroup = readCgroupLimits(readText);
  return fingerprint;
}

/**
 * A stable key for caching per host class: sha256 (hex) over what decides onnxruntime's speed here — CPU model,
 * ISA flags, physical and logical cores, RAM, onnxruntime version, and the cgroup CPU quota. OS, kernel and Node
 * versions are left out on purpose: they do not change the kernels that run.
 */
export function fingerprintKey(fp: HostFingerprint): string {
  const fields = {
    cpuModel: fp.cpuModel,
    isaFlags: [...fp.isaFlags].sort(),
    physicalCores: fp.physicalCores,
    logicalCores: fp.logicalCores,
    ramBytes: fp.ramBytes,
    onnxruntime: fp.onnxruntime,
    cpuMax: fp.cgroup?.cpuMax ?? null,
  };
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}
