/**
 * What the installed qemu-user can do: its version, its arm64 CPU models, and where its guests' /proc/cpuinfo
 * comes from. QEMU 7.2 (Debian 12) lets `<QEMU_LD_PREFIX>/proc/cpuinfo` stand in for the host's file; QEMU 8.2 and
 * later (Ubuntu 24.04, Debian 13) build /proc/cpuinfo themselves from the CPU model, so there the model (with its
 * properties) alone carries the profile, including the MIDR that names the core.
 */

export interface QemuVersion {
  major: number;
  minor: number;
  patch: number;
  /** The first line of `qemu-aarch64 --version`. */
  text: string;
}

/** Parses `qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. */
export function parseQemuVersion(output: string): QemuVersion | undefined {
  const line = output.split('\n').find((l) => /version\s+\d+\.\d+/.test(l));
  const match = line ? /version\s+(\d+)\.(\d+)(?:\.(\d+))?/.exec(line) : null;
  if (!line || !match) return undefined;
  return {
    major: Number(match[1]),
    minor: Number(match[2]),
    patch: Number(match[3] ?? 0),
    text: line.trim(),
  };
}

/** `7.2.22`. */
export function formatQemuVersion(version: QemuVersion): string {
  return `${version.major}.${version.minor}.${version.patch}`;
}

/** Whether this QEMU builds the guest's /proc/cpuinfo from the CPU model (8.2 and later) instead of the sysroot's. */
export function qemuBuildsCpuinfo(version: QemuVersion): boolean {
  return version.major > 8 || (version.major === 8 && version.minor >= 2);
}

/** The CPU models of `qemu-aarch64 -cpu help` (`Available CPUs:` then one indented name per line). */
export function parseCpuModels(output: string): string[] {
  const models: string[] = [];
  let inList = false;
  for (const line of output.split('\n')) {
    if (/available cpus/i.test(line)) {
      inList = true;
      continue;
    }
    if (!inList) continue;
    const match = /^\s+([a-z0-9][\w.-]*)/i.exec(line);
    if (match) models.push(match[1]!);
    else if (line.trim() !== '') break;
  }
  return models;
}
