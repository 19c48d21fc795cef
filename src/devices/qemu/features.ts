/**
 * What an arm64 profile looks like to software running on it, derived from the profile: the Linux feature flags
 * (the `Features` line of /proc/cpuinfo and the AT_HWCAP/AT_HWCAP2 bits), the core's MIDR (`CPU part` …), and the
 * QEMU CPU model that executes the same instructions.
 *
 * How onnxruntime picks its arm64 kernels (pytorch/cpuinfo, src/arm/linux/aarch64-isa.c, which MLAS uses): the
 * feature bits come from getauxval(AT_HWCAP/AT_HWCAP2), which qemu-user fills from its CPU model (`QEMU_CPU`); the
 * core's identity comes from the `CPU implementer`/`CPU part`/`CPU variant` lines of /proc/cpuinfo, and some cores
 * are trusted to have dot product and fp16 arithmetic from their part number alone (Cortex-A76, Neoverse N1 …),
 * whatever the Features line says. So an emulated profile needs both: a QEMU CPU model whose hwcaps are the
 * profile's, and a cpuinfo naming the profile's core. Without any cpuinfo the binding parses the x86 host's file
 * and crashes at load.
 */
import type { ProfileDocument } from '../../config/types.ts';
import { ARM_PARTS } from '../fingerprint.ts';

/** Linux arm64 AT_HWCAP bit names, bit 0 first (arch/arm64/include/uapi/asm/hwcap.h). */
export const HWCAP_NAMES: readonly string[] = [
  'fp',
  'asimd',
  'evtstrm',
  'aes',
  'pmull',
  'sha1',
  'sha2',
  'crc32',
  'atomics',
  'fphp',
  'asimdhp',
  'cpuid',
  'asimdrdm',
  'jscvt',
  'fcma',
  'lrcpc',
  'dcpop',
  'sha3',
  'sm3',
  'sm4',
  'asimddp',
  'sha512',
  'sve',
  'asimdfhm',
  'dit',
  'uscat',
  'ilrcpc',
  'flagm',
  'ssbs',
  'sb',
  'paca',
  'pacg',
];

/** Linux arm64 AT_HWCAP2 bit names, bit 0 first. */
export const HWCAP2_NAMES: readonly string[] = [
  'dcpodp',
  'sve2',
  'sveaes',
  'svepmull',
  'svebitperm',
  'svesha3',
  'svesm4',
  'flagm2',
  'frint',
  'svei8mm',
  'svef32mm',
  'svef64mm',
  'svebf16',
  'i8mm',
  'bf16',
  'dgh',
  'rng',
  'bti',
  'mte',
  'ecv',
  'afp',
  'rpres',
  'mte3',
  'sme',
  'smei16i64',
  'smef64f64',
  'smei8i32',
  'smef16f32',
  'smeb16f32',
  'smef32f32',
  'smefa64',
  'wfxt',
  'ebf16',
  'sveebf16',
  'cssc',
  'rprfm',
  'sve2p1',
  'sme2',
  'sme2p1',
  'smei16i32',
  'smebi32i32',
  'smeb16b16',
  'smef16f16',
  'mops',
  'hbc',
  'sveb16b16',
  'lrcpc3',
  'lse128',
];

/** Every flag in the order the kernel prints them in /proc/cpuinfo (hwcap bits, then hwcap2 bits). */
export const KERNEL_ORDER: readonly string[] = [...HWCAP_NAMES, ...HWCAP2_NAMES];

/**
 * The flags onnxruntime's CPU kernels are chosen by (MLAS and KleidiAI: dot product, fp16 arithmetic, int8 matrix
 * multiply, bf16, SVE, SME). The guest must see exactly the profile's set of these; the other flags (crypto,
 * `evtstrm`, atomics …) change no kernel, and differences in them are only noted.
 */
export const DISPATCH_FEATURES: readonly string[] = [
  'asimd',
  'asimddp',
  'fphp',
  'asimdhp',
  'i8mm',
  'bf16',
  'sve',
  'sve2',
  'sme',
  'sme2',
];

/** A core's MIDR fields as /proc/cpuinfo prints them. */
export interface Midr {
  implementer: number;
  variant: number;
  part: number;
  revision: number;
}

interface CoreTraits {
  /** Flags of the core that no kernel choice depends on, as typical parts report them (crypto included or not). */
  base: readonly string[];
  variant: number;
  revision: number;
}

const V80 = ['fp', 'asimd', 'evtstrm', 'crc32', 'cpuid'];
const V82 = [
  'fp',
  'asimd',
  'evtstrm',
  'aes',
  'pmull',
  'sha1',
  'sha2',
  'crc32',
  'atomics',
  'cpuid',
  'asimdrdm',
  'lrcpc',
  'dcpop',
];
const V84 = [...V82, 'uscat', 'ilrcpc', 'flagm'];
const V9 = [
  ...V84,
  'jscvt',
  'fcma',
  'sha3',
  'sm3',
  'sm4',
  'sha512',
  'asimdfhm',
  'dit',
  'ssbs',
  'sb',
  'paca',
  'pacg',
  'dcpodp',
  'flagm2',
  'frint',
];

/**
 * The non-dispatch flags and the revision of each core as the devices of the built-in profiles report them. The
 * Armv8.0 cores carry no crypto flags: the Raspberry Pi 4's BCM2711 has none (its cpuinfo: `fp asimd evtstrm crc32
 * cpuid`); the Armv8.2 cores carry them as the Pi 5, RK3588 and Jetson Orin report. A profile adds any flag in its
 * `isaFeatures`; the dispatch flags come from `isaFeatures` only.
 */
const CORES: Readonly<Record<string, CoreTraits>> = {
  'cortex-a35': { base: V80, variant: 0, revision: 2 },
  'cortex-a53': { base: V80, variant: 0, revision: 4 },
  'cortex-a57': { base: V80, variant: 1, revision: 1 },
  'cortex-a72': { base: V80, variant: 0, revision: 3 },
  'cortex-a73': { base: V80, variant: 0, revision: 2 },
  'cortex-a55': { base: V82, variant: 2, revision: 0 },
  'cortex-a75': { base: V82, variant: 3, revision: 1 },
  'cortex-a76': { base: V82, variant: 4, revision: 1 },
  'cortex-a77': { base: V82, variant: 1, revision: 0 },
  'neoverse-n1': { base: V82, variant: 3, revision: 1 },
  'cortex-a78': { base: V84, variant: 1, revision: 1 },
  'cortex-a78ae': { base: [...V84, 'paca', 'pacg'], variant: 0, revision: 1 },
  'cortex-a78c': { base: [...V84, 'paca', 'pacg'], variant: 0, revision: 0 },
  'cortex-x1': { base: V84, variant: 1, revision: 0 },
  'neoverse-v1': {
    base: [...V84, 'jscvt', 'fcma', 'sha3', 'sha512', 'asimdfhm', 'dit', 'ssbs', 'paca', 'pacg'],
    variant: 1,
    revision: 1,
  },
  'cortex-a510': { base: V9, variant: 0, revision: 1 },
  'cortex-a710': { base: V9, variant: 2, revision: 0 },
  'cortex-x2': { base: V9, variant: 2, revision: 0 },
  'neoverse-n2': { base: V9, variant: 0, revision: 0 },
  'neoverse-v2': { base: V9, variant: 0, revision: 1 },
};

/** Flags SVE implies together with another flag (the kernel reports `svei8mm` on a core with SVE and i8mm …). */
const SVE_IMPLIED: readonly (readonly [needs: readonly string[], implied: string])[] = [
  [['sve', 'i8mm'], 'svei8mm'],
  [['sve', 'bf16'], 'svebf16'],
  [['sve2', 'aes'], 'sveaes'],
  [['sve2', 'pmull'], 'svepmull'],
  [['sve2'], 'svebitperm'],
];

/** `Cortex-A76`, `cortex_a76`, `Neoverse N1` → `cortex-a76` / `neoverse-n1`. */
export function normalizeCore(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
}

/** The MIDR part number of a core name, from the Arm part table of the host fingerprint; undefined if unknown. */
export function armPart(core: string): number | undefined {
  const wanted = normalizeCore(core);
  for (const [part, name] of Object.entries(ARM_PARTS))
    if (normalizeCore(name) === wanted) return Number(part);
  return undefined;
}

/** Sorts flags in the kernel's order (unknown ones last, alphabetically) and drops duplicates. */
export function kernelOrder(flags: Iterable<string>): string[] {
  const unique = [...new Set(flags)];
  const rank = (f: string) => {
    const i = KERNEL_ORDER.indexOf(f);
    return i < 0 ? KERNEL_ORDER.length : i;
  };
  return unique.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The QEMU CPU model of a `QEMU_CPU` value (`cortex-a710,sve=off` → `cortex-a710`). */
export function qemuModel(qemuCpu: string): string {
  return qemuCpu.split(',')[0]!.trim();
}

export interface DerivedCpu {
  profile: string;
  /** The `QEMU_CPU` value: the profile's `emulation.qemuCpu`, else its core's name. */
  qemuCpu: string;
  /** The core the cpuinfo names (the profile's `clusters[0].microarchitecture`). */
  core: string;
  /** Whether the core is in the table above (else only the profile's flags and fp/asimd/cpuid are listed). */
  knownCore: boolean;
  /** The Features line, in the kernel's order. */
  features: string[];
  midr: Midr;
}

/** Derives what the guest must see for an arm64 profile. Throws for other architectures. */
export function deriveCpu(profile: ProfileDocument): DerivedCpu {
  if (profile.arch !== 'arm64') throw new Error(`profile ${profile.id} is ${profile.arch}, not arm64`);
  const core = normalizeCore(profile.clusters[0]?.microarchitecture ?? '');
  const traits = CORES[core];
  const qemuCpu = profile.emulation?.qemuCpu?.trim() || core;
  const base = (traits?.base ?? ['fp', 'asimd', 'evtstrm', 'cpuid']).filter(
    (f) => !DISPATCH_FEATURES.includes(f),
  );
  const flags = new Set([...base, 'fp', 'asimd', ...profile.isaFeatures]);
  for (const [needs, implied] of SVE_IMPLIED) if (needs.every((f) => flags.has(f))) flags.add(implied);
  const part = armPart(core) ?? armPart(qemuModel(qemuCpu)) ?? 0xd08;
  return {
    profile: profile.id,
    qemuCpu,
    core,
    knownCore: traits !== undefined,
    features: kernelOrder(flags),
    midr: { implementer: 0x41, variant: traits?.variant ?? 0, part, revision: traits?.revision ?? 0 },
  };
}

/**
 * The /proc/cpuinfo text of the profile's device as arm64 Linux prints it: one block per processor (the guest sees
 * the host's CPU count in /sys, so `processors` should be that count).
 */
export function renderCpuinfo(cpu: DerivedCpu, processors: number): string {
  const hex = (n: number, width: number) => `0x${n.toString(16).padStart(width, '0')}`;
  const blocks: string[] = [];
  for (let i = 0; i < Math.max(1, processors); i++) {
    blocks.push(
      [
        `processor\t: ${i}`,
        'BogoMIPS\t: 108.00',
        `Features\t: ${cpu.features.join(' ')}`,
        `CPU implementer\t: ${hex(cpu.midr.implementer, 2)}`,
        'CPU architecture: 8',
        `CPU variant\t: ${hex(cpu.midr.variant, 1)}`,
        `CPU part\t: ${hex(cpu.midr.part, 3)}`,
        `CPU revision\t: ${cpu.midr.revision}`,
        '',
      ].join('\n'),
    );
  }
  return `${blocks.join('\n')}\n`;
}

/** The flags of AT_HWCAP and AT_HWCAP2 values (hex strings or numbers), unknown bits as `hwcap:N` / `hwcap2:N`. */
export function decodeHwcaps(
  hwcap: bigint | number | string,
  hwcap2: bigint | number | string = 0,
): string[] {
  const big = (v: bigint | number | string) =>
    typeof v === 'bigint' ? v : BigInt(typeof v === 'string' && !v.startsWith('0x') ? `0x${v}` : v);
  const flags: string[] = [];
  const decode = (value: bigint, names: readonly string[], label: string) => {
    for (let bit = 0; bit < 64; bit++) {
      if (((value >> BigInt(bit)) & 1n) === 0n) continue;
      flags.push(names[bit] ?? `${label}:${bit}`);
    }
  };
  decode(big(hwcap), HWCAP_NAMES, 'hwcap');
  decode(big(hwcap2), HWCAP2_NAMES, 'hwcap2');
  return flags;
}

export interface FeatureComparison {
  /** Dispatch flags the profile has and the guest lacks: kernels the device would use cannot run. */
  missing: string[];
  /** Dispatch flags the guest has and the profile lacks: onnxruntime would pick kernels the device never runs. */
  extra: string[];
  /** Other flags that differ (`+aes` the guest has in addition, `-evtstrm` it lacks): no kernel depends on them. */
  other: string[];
}

/** Compares what the guest sees with what the profile says, on the dispatch flags and on the rest. */
export function compareFeatures(expected: readonly string[], seen: readonly string[]): FeatureComparison {
  const want = new Set(expected);
  const have = new Set(seen);
  const missing = DISPATCH_FEATURES.filter((f) => want.has(f) && !have.has(f));
  const extra = DISPATCH_FEATURES.filter((f) => have.has(f) && !want.has(f));
  const other = [
    ...kernelOrder([...have].filter((f) => !want.has(f) && !DISPATCH_FEATURES.includes(f))).map(
      (f) => `+${f}`,
    ),
    ...kernelOrder([...want].filter((f) => !have.has(f) && !DISPATCH_FEATURES.includes(f))).map(
      (f) => `-${f}`,
    ),
  ];
  return { missing, extra, other };
}

/** Whether a comparison allows trusting a run: the dispatch flags are the same. */
export function sameDispatch(comparison: FeatureComparison): boolean {
  return comparison.missing.length === 0 && comparison.extra.length === 0;
}

/** One sentence about a comparison (`lacks asimddp; has i8mm the device lacks; also +aes -evtstrm`). */
export function describeComparison(comparison: FeatureComparison): string {
  const parts: string[] = [];
  if (comparison.missing.length) parts.push(`lacks ${comparison.missing.join(' ')}`);
  if (comparison.extra.length) parts.push(`has ${comparison.extra.join(' ')} the device lacks`);
  if (comparison.other.length)
    parts.push(`differs in flags no kernel depends on (${comparison.other.join(' ')})`);
  return parts.length ? parts.join('; ') : 'same flags';
}
