import type { Command } from 'commander';
import type { ProfileCluster, ProfileDocument } from '../config/types.ts';
import { listProfiles, resolveProfile } from '../devices/profiles.ts';
import type { CliIo } from './io.ts';

/**
 * The ISA flags worth a column: the ones that change which onnxruntime kernels run. Baseline flags (asimd, avx,
 * fphp) are shown only for a profile that has none of these.
 */
const KEY_FEATURES = new Set([
  'asimddp',
  'asimdhp',
  'i8mm',
  'bf16',
  'sve',
  'sve2',
  'sme',
  'sme2',
  'avx2',
  'fma',
  'avx_vnni',
  'avx512f',
  'avx512_vnni',
  'avx512_bf16',
  'amx_int8',
]);

const GIB = 1024 ** 3;

function formatRam(bytes: number): string {
  const gib = bytes / GIB;
  return `${Number.isInteger(gib) ? gib : gib.toFixed(1)} GiB`;
}

/** `4`, or `2c/4t` for a cluster with SMT. */
function formatCores(cluster: ProfileCluster): string {
  const threads = cluster.threadsPerCore ?? 1;
  return threads > 1 ? `${cluster.cores}c/${cluster.cores * threads}t` : String(cluster.cores);
}

function keyFeatures(profile: ProfileDocument): string {
  const key = profile.isaFeatures.filter((flag) => KEY_FEATURES.has(flag));
  return (key.length > 0 ? key : profile.isaFeatures).join(' ');
}

/** Per-core peak of each cluster (`140.8/52.8`); `?` for a cluster that gives none. */
function clusterPeaks(profile: ProfileDocument, kind: 'fp32GflopsPerCore' | 'int8GopsPerCore'): string {
  return profile.clusters
    .map((cluster, index) => (index === 0 ? profile.peaks : cluster.peaks)?.[kind] ?? '?')
    .join('/');
}

/** Left-aligned columns separated by two spaces. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/**
 * The built-in profiles as a table: one row each, multi-cluster figures separated by `+` (cores) or `/`. A DRAM
 * figure marked `shared` is the whole host's (a cloud VM gets a part of it).
 */
export function formatProfileTable(profiles: readonly ProfileDocument[]): string {
  const header = [
    'ID',
    'NAME',
    'ARCH',
    'CORES',
    'GHZ',
    'KEY ISA',
    'FP32 GFLOP/S/CORE',
    'INT8 GOP/S/CORE',
    'DRAM GB/S',
    'RAM',
  ];
  const rows = profiles.map((p) => [
    p.id,
    p.name,
    p.arch,
    p.clusters.map(formatCores).join('+'),
    p.clusters.map((c) => c.maxClockGHz).join('/'),
    keyFeatures(p),
    clusterPeaks(p, 'fp32GflopsPerCore'),
    clusterPeaks(p, 'int8GopsPerCore'),
    `${p.dramBandwidthGBs}${p.memory?.shared ? ' shared' : ''}`,
    formatRam(p.ramBytes),
  ]);
  return table(header, rows);
}

/** One profile in full: its figures, then where each comes from. */
export function formatProfileDetails(p: ProfileDocument): string {
  const lines = [`${p.id}  ${p.name}`];
  if (p.description) lines.push(`  ${p.description}`);
  lines.push(`  arch        ${p.arch}`);
  p.clusters.forEach((c, index) => {
    const peaks = index === 0 ? p.peaks : c.peaks;
    const smt = (c.threadsPerCore ?? 1) > 1 ? `, ${c.threadsPerCore} threads each` : '';
    const peakText = peaks
      ? `; per core ${peaks.fp32GflopsPerCore} GFLOP/s fp32, ${peaks.int8GopsPerCore} GOP/s int8`
      : '';
    const label = (index === 0 ? 'cores' : '').padEnd(11);
    lines.push(
      `  ${label} ${c.cores}x ${c.microarchitecture} at ${c.maxClockGHz} GHz (${c.name})${smt}${peakText}`,
    );
  });
  lines.push(`  isa         ${p.isaFeatures.join(' ')}`);
  const memory = p.memory
    ? ` (${[
        p.memory.type,
        p.memory.busWidthBits && `${p.memory.busWidthBits}-bit`,
        p.memory.transferRateMTs && `${p.memory.transferRateMTs} MT/s`,
        p.memory.shared && 'shared with the other tenants of the host',
      ]
        .filter(Boolean)
        .join(', ')})`
    : '';
  lines.push(`  dram        ${p.dramBandwidthGBs} GB/s${memory}`);
  lines.push(`  ram         ${formatRam(p.ramBytes)}`);
  if (p.emulation?.qemuCpu) lines.push(`  qemu -cpu   ${p.emulation.qemuCpu}`);
  if (p.emulation?.note) lines.push(`              ${p.emulation.note}`);
  if (p.calibration)
    lines.push(`  calibration measured${p.calibration.measuredAt ? ` ${p.calibration.measuredAt}` : ''}`);
  lines.push('  sources:');
  for (const s of p.sources) {
    lines.push(`    ${s.field} = ${s.value} (${s.kind}) ${s.source}`);
    if (s.derivation) lines.push(`      ${s.derivation}`);
  }
  return lines.join('\n');
}

export function registerProfiles(program: Command, io: CliIo): void {
  program
    .command('profiles')
    .description(
      'list the built-in device profiles, or show one profile (a built-in id or your own profile file) with its sources',
    )
    .argument('[profile]', 'a built-in profile id or the path of a profile file (.json, .yml)')
    .option('--json', 'print the profiles (or the one profile) as JSON')
    .action(async (profile: string | undefined, options: { json?: boolean }) => {
      if (profile !== undefined) {
        const document = await resolveProfile(profile);
        io.out(options.json ? JSON.stringify(document, null, 2) : formatProfileDetails(document));
        return;
      }
      const profiles = listProfiles();
      if (options.json) {
        io.out(JSON.stringify(profiles, null, 2));
        return;
      }
      io.out(formatProfileTable(profiles));
      io.out('');
      io.out(
        `${profiles.length} built-in profiles. \`slmops profiles <id>\` shows one with its sources; a profile file path (./my-device.json) works wherever an id goes (docs/profiles.md).`,
      );
    });
}
