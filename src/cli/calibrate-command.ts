import { writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { validateDocument } from '../config/load.ts';
import type { HostFingerprint, ProfileDocument } from '../config/types.ts';
import { type Calibration, calibrateHost, type ProbeSizes } from '../devices/calibrate.ts';
import { hostFingerprint } from '../devices/fingerprint.ts';
import { resolveProfile } from '../devices/profiles.ts';
import { ConfigurationError } from '../errors.ts';
import { checkOutputFile } from '../util/output-path.ts';
import type { CliIo } from './io.ts';

/** Default budgets (ms): this host's calibration, and a device's (node probes repeat to 14–20 % at 12 s of probing,
 * 23–30 % at 4 s: docs/calibration.md). */
const HOST_BUDGET_MS = 10_000;
const DEVICE_BUDGET_MS = 30_000;

interface CalibrateFlags {
  profile?: string;
  threads?: string;
  json?: boolean;
  force?: boolean;
  out?: string;
  budgetMs?: string;
  gemmSize?: string;
  gemvBytes?: string;
}

/** `1,2,4` → [1, 2, 4]. */
export function parseThreadList(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const threads = parts.map(Number);
  if (parts.length === 0 || threads.some((t, i) => !Number.isInteger(t) || t < 1 || parts[i] === '')) {
    throw new ConfigurationError(`--threads "${text}" is not a list of positive whole numbers`, {
      subject: 'slmops calibrate',
      fix: 'Pass thread counts separated by commas, such as --threads 1,2,4',
    });
  }
  return [...new Set(threads)].sort((a, b) => a - b);
}

/** 1, 2, 4, … up to `cores`, and `cores` itself. */
export function defaultThreads(cores: number): number[] {
  const out: number[] = [];
  for (let t = 1; t < cores; t *= 2) out.push(t);
  out.push(Math.max(1, cores));
  return out;
}

function positiveInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigurationError(`${flag} "${value}" is not a positive whole number`, {
      subject: 'slmops calibrate',
    });
  }
  return n;
}

function describeHost(host: HostFingerprint): string {
  const flags = host.isaFlags.length > 0 ? ` [${host.isaFlags.join(' ')}]` : '';
  const ram = (host.ramBytes / 2 ** 30).toFixed(1);
  const limits: string[] = [];
  if (host.cgroup?.cpuMax != null) limits.push(`cpu.max ${host.cgroup.cpuMax} CPUs`);
  if (host.cgroup?.memoryMax != null)
    limits.push(`memory.max ${(host.cgroup.memoryMax / 2 ** 30).toFixed(1)} GiB`);
  return (
    `${host.cpuModel}${flags}, ${host.physicalCores} physical / ${host.logicalCores} logical cores, ${ram} GiB RAM` +
    `${limits.length > 0 ? ` (${limits.join(', ')})` : ''}; ${host.os}, Node ${host.node}, onnxruntime ${host.onnxruntime}`
  );
}

function figure(value: number, madPct: number, width: number): string {
  return `${value.toFixed(1)} ±${madPct.toFixed(1)} %`.padStart(width);
}

/** The calibration as a table: one row per thread count, each figure with its MAD in percent. */
export function formatCalibration(calibration: Calibration): string {
  const p = calibration.probes;
  const lines = [
    `host: ${describeHost(calibration.host)}`,
    `measured ${calibration.measuredAt} in ${(calibration.elapsedMs / 1000).toFixed(1)} s` +
      (calibration.cache
        ? ` (${calibration.cache.reused ? 'reused from' : 'cached at'} ${calibration.cache.path})`
        : ''),
    `probes: GEMM ${p.gemm.m}×${p.gemm.k}×${p.gemm.n}; GEMV over ${(p.gemv.weightBytes / 2 ** 20).toFixed(0)} MiB of fp32 weights` +
      (p.llcBytes
        ? ` (last-level cache ${(p.llcBytes / 2 ** 20).toFixed(1)} MiB)`
        : ' (last-level cache unknown)'),
    '',
    `${'threads'.padStart(7)}  ${'fp32 GEMM GFLOPS'.padStart(18)}  ${'int8 GEMM GOPS'.padStart(18)}  ${'bandwidth GB/s'.padStart(18)}`,
  ];
  for (const [threads, t] of Object.entries(calibration.threads)) {
    lines.push(
      `${threads.padStart(7)}  ${figure(t.fp32Gflops, t.spread.fp32Gflops.madPct, 18)}  ` +
        `${figure(t.int8Gops, t.spread.int8Gops.madPct, 18)}  ${figure(t.bandwidthGBs, t.spread.bandwidthGBs.madPct, 18)}`,
    );
  }
  lines.push('', 'figures: median over timed runs; ± the median absolute deviation between runs');
  const nodes = calibration.nodeProbes;
  if (nodes?.points.length) {
    const threads = Object.keys(nodes.points[0]!.us);
    lines.push(
      '',
      `node probes, µs per node (the emulator scales each node of a model by its kind's probes; the profiler adds ${nodes.profilerUs.toFixed(1)} µs per node):`,
      `${'kind'.padStart(7)}  ${'shape'.padEnd(20)}${threads.map((t) => `${t} thr`.padStart(10)).join('')}`,
    );
    for (const point of nodes.points) {
      lines.push(
        `${point.kind.padStart(7)}  ${point.shape.padEnd(20)}${threads.map((t) => (point.us[t]?.toFixed(1) ?? '–').padStart(10)).join('')}`,
      );
    }
  }
  for (const note of p.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

/** The `calibration` block a profile carries: the device's measured figures and what they were measured with. */
export function profileCalibrationBlock(calibration: Calibration): Record<string, unknown> {
  return {
    measuredAt: calibration.measuredAt,
    onnxruntime: calibration.onnxruntime,
    fingerprintKey: calibration.fingerprintKey,
    host: calibration.host,
    probes: calibration.probes,
    threads: calibration.threads,
    ...(calibration.nodeProbes ? { nodeProbes: calibration.nodeProbes } : {}),
  };
}

function normalized(text: string): string {
  return text.toLowerCase().replace(/[\s_-]/g, '');
}

/** Why this host does not look like the profile's device (architecture or core type), or undefined when it does. */
export function profileMismatch(
  host: HostFingerprint,
  profile: ProfileDocument,
  hostArch = arch(),
): string | undefined {
  const archName = hostArch === 'x64' ? 'x86_64' : hostArch;
  if (archName !== profile.arch) return `this host is ${archName}, the profile ${profile.arch}`;
  const model = normalized(host.cpuModel);
  const names = [...(profile.cpuModels ?? []), ...profile.clusters.map((c) => c.microarchitecture)];
  if (!names.some((name) => model.includes(normalized(name)))) {
    return `this host's CPU (${host.cpuModel}) is none of ${names.join(', ')}`;
  }
  return undefined;
}

export function registerCalibrate(program: Command, io: CliIo): void {
  program
    .command('calibrate')
    .description(
      "measure this host's onnxruntime throughput per thread count (fp32 and int8 GEMM, memory bandwidth); " +
        'with --profile, write the figures into a copy of a device profile (run it on the device)',
    )
    .option(
      '--profile <id or file>',
      'device profile to calibrate (a built-in id or a profile file): run on that device, writes a calibrated copy',
    )
    .option('--threads <list>', 'intra-op thread counts, comma separated (default 1, 2, 4… up to the cores)')
    .option('--out <file>', 'where --profile writes the calibrated profile (default <id>.calibrated.json)')
    .option('--force', 'measure again even when a cached calibration of this host exists')
    .option(
      '--budget-ms <ms>',
      `total measuring time in ms (default ${HOST_BUDGET_MS}; ${DEVICE_BUDGET_MS} with --profile, as a device's figures feed every prediction for it)`,
    )
    .option('--gemm-size <n>', 'GEMM probe side (default: chosen from 512 so a run takes ≤ 20 ms)')
    .option('--gemv-bytes <bytes>', 'GEMV probe weight bytes (default: 8× the last-level cache, ≥ 64 MiB)')
    .option('--json', 'print the calibration as JSON')
    .action(async (flags: CalibrateFlags) => {
      const budgetMs =
        positiveInteger(flags.budgetMs, '--budget-ms') ?? (flags.profile ? DEVICE_BUDGET_MS : HOST_BUDGET_MS);
      const gemm = positiveInteger(flags.gemmSize, '--gemm-size');
      const gemvBytes = positiveInteger(flags.gemvBytes, '--gemv-bytes');
      const sizes: ProbeSizes = {
        ...(gemm === undefined ? {} : { gemm }),
        ...(gemvBytes === undefined ? {} : { gemvBytes }),
      };
      if (flags.out && !flags.profile) {
        throw new ConfigurationError('--out needs --profile', {
          subject: 'slmops calibrate',
          fix: 'Add --profile <id or file>, or use --json > file to save the host calibration',
        });
      }
      if (flags.out) checkOutputFile(flags.out, '--out');
      const host = await hostFingerprint();
      const profile = flags.profile ? await resolveProfile(flags.profile) : undefined;
      if (profile) {
        const mismatch = profileMismatch(host, profile);
        if (mismatch) {
          io.err(
            `warning: ${mismatch}: the figures describe this host, not ${profile.name}. ` +
              'Run slmops calibrate --profile on the device itself (a self-hosted runner).',
          );
        }
      }
      const cores = profile ? profile.clusters.reduce((n, c) => n + c.cores, 0) : host.physicalCores;
      const threads = flags.threads ? parseThreadList(flags.threads) : defaultThreads(cores);
      const calibration = await calibrateHost({
        threads,
        budgetMs,
        ...(flags.force ? { force: true } : {}),
        sizes,
        fingerprint: host,
        log: (message) => io.err(message),
      });

      if (!profile) {
        io.out(flags.json ? JSON.stringify(calibration, null, 2) : formatCalibration(calibration));
        return;
      }
      const outPath = resolve(flags.out ?? `${profile.id}.calibrated.json`);
      const calibrated = {
        $schema: 'https://slmops.dev/schemas/profile.schema.json',
        ...profile,
        calibration: profileCalibrationBlock(calibration),
      };
      validateDocument('profile', calibrated, outPath);
      writeFileSync(outPath, `${JSON.stringify(calibrated, null, 2)}\n`);
      if (flags.json) {
        io.out(JSON.stringify({ profile: outPath, calibration }, null, 2));
        return;
      }
      io.out(formatCalibration(calibration));
      io.out(`\ncalibrated profile ${profile.id} written to ${outPath}`);
    });
}
