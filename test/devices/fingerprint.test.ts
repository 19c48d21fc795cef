import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateDocument } from '../../src/config/load.ts';
import type { HostFingerprint } from '../../src/config/types.ts';
import {
  armCoreName,
  fingerprintKey,
  hostFingerprint,
  parseCfsQuota,
  parseCgroupMounts,
  parseCpuInfo,
  parseCpuMax,
  parseMemoryMax,
  parseOsRelease,
  parseProcCgroup,
  readCgroupLimits,
} from '../../src/devices/fingerprint.ts';

/** Two processors of a 2-core / 4-thread AVX-512 VNNI x86-64 host (the other two differ only in ids). */
function x86Processor(processor: number, coreId: number): string {
  return `processor\t: ${processor}
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 106
model name\t: Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz
stepping\t: 6
cpu MHz\t\t: 2793.437
cache size\t: 49152 KB
physical id\t: 0
siblings\t: 4
core id\t\t: ${coreId}
cpu cores\t: 2
apicid\t\t: ${processor}
fpu\t\t: yes
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch bmi1 hle avx2 smep bmi2 erms invpcid rtm avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xsaves avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid fsrm arch_capabilities
bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs mmio_stale_data
bogomips\t: 5586.87
clflush size\t: 64
address sizes\t: 46 bits physical, 48 bits virtual
power management:
`;
}

const X86_CPUINFO = [x86Processor(0, 0), x86Processor(1, 1), x86Processor(2, 0), x86Processor(3, 1)].join(
  '\n',
);

function piProcessor(processor: number, part = '0xd0b'): string {
  return `processor\t: ${processor}
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: ${part}
CPU revision\t: 1
`;
}

/** /proc/cpuinfo of a Raspberry Pi 5 (4× Cortex-A76, BCM2712), as quoted in Stockfish issue 4931. */
const PI5_CPUINFO = `${[0, 1, 2, 3].map((p) => piProcessor(p)).join('\n')}
Revision\t: c04170
Serial\t\t: 6a8a3a1e5d2b8c9f
Model\t\t: Raspberry Pi 5 Model B Rev 1.0
`;

const PI5_OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
`;

describe('parseCpuInfo', () => {
  it('reads the model name, the kernel-relevant flags and unique (physical id, core id) pairs of an x86 host', () => {
    expect(parseCpuInfo(X86_CPUINFO)).toEqual({
      model: 'Intel(R) Xeon(R) Platinum 8370C CPU @ 2.80GHz',
      isaFlags: ['avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512_vnni'],
      logicalCores: 4,
      physicalCores: 2,
    });
  });

  it('decodes a Raspberry Pi 5 to Cortex-A76 with its NEON dot-product and fp16 features, one core per CPU', () => {
    expect(parseCpuInfo(PI5_CPUINFO)).toEqual({
      model: 'Cortex-A76',
      isaFlags: ['asimd', 'asimddp', 'asimdhp', 'fphp'],
      logicalCores: 4,
      physicalCores: 4,
    });
  });

  it('names both core types of a big.LITTLE chip with their counts', () => {
    const rk3588 = [0, 1, 2, 3].map((p) => piProcessor(p, p < 2 ? '0xd05' : '0xd0b')).join('\n');
    expect(parseCpuInfo(rk3588).model).toBe('2x Cortex-A55 + 2x Cortex-A76');
  });

  it('returns no model when neither a model name nor an Arm part is present', () => {
    expect(parseCpuInfo('processor\t: 0\n\n').model).toBeNull();
  });
});

describe('armCoreName', () => {
  it('knows the common Arm parts and spells out parts of other implementers', () => {
    expect(armCoreName(0x41, 0xd03)).toBe('Cortex-A53');
    expect(armCoreName(0x41, 0xd0c)).toBe('Neoverse-N1');
    expect(armCoreName(0x41, 0xd4f)).toBe('Neoverse-V2');
    expect(armCoreName(0x41, 0xd42)).toBe('Cortex-A78AE');
    expect(armCoreName(0x51, 0x1)).toBe('Qualcomm part 0x001');
    expect(armCoreName(0x41, 0xfff)).toBe('Arm part 0xfff');
  });
});

describe('parseOsRelease', () => {
  it('returns PRETTY_NAME without its quotes, or null when absent', () => {
    expect(parseOsRelease(PI5_OS_RELEASE)).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(parseOsRelease("PRETTY_NAME='Ubuntu 24.04.1 LTS'\n")).toBe('Ubuntu 24.04.1 LTS');
    expect(parseOsRelease('NAME=Alpine\n')).toBeNull();
  });
});

describe('cgroup parsing', () => {
  it('turns cpu.max into a CPU count and "max" into null', () => {
    expect(parseCpuMax('max 100000\n')).toBeNull();
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('150000 100000')).toBe(1.5);
    expect(parseCpuMax('')).toBeNull();
  });

  it('turns memory.max into bytes and "max" or cgroup v1 "unlimited" into null', () => {
    expect(parseMemoryMax('max\n')).toBeNull();
    expect(parseMemoryMax('8589934592\n')).toBe(8589934592);
    expect(parseMemoryMax('9223372036854771712\n')).toBeNull();
  });

  it('reads the v1 CFS quota as a CPU count, -1 as null', () => {
    expect(parseCfsQuota('-1\n', '100000\n')).toBeNull();
    expect(parseCfsQuota('50000\n', '100000\n')).toBe(0.5);
  });

  it('parses /proc/self/cgroup for v2 and v1 hierarchies', () => {
    expect(parseProcCgroup('0::/system.slice/runner.service\n')).toEqual([
      { hierarchy: 0, controllers: [], path: '/system.slice/runner.service' },
    ]);
    expect(parseProcCgroup('4:memory:/job\n2:cpu,cpuacct:/job\n0::/')).toEqual([
      { hierarchy: 4, controllers: ['memory'], path: '/job' },
      { hierarchy: 2, controllers: ['cpu', 'cpuacct'], path: '/job' },
      { hierarchy: 0, controllers: [], path: '/' },
    ]);
  });

  it('finds the cgroup mounts in mountinfo', () => {
    const mountinfo = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate',
      '32 31 0:29 /docker/abc /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct',
      '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
      '22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw',
    ].join('\n');
    expect(parseCgroupMounts(mountinfo)).toEqual([
      { version: 2, root: '/', mountPoint: '/sys/fs/cgroup', controllers: [] },
      { version: 1, root: '/docker/abc', mountPoint: '/sys/fs/cgroup/cpu', controllers: ['cpu', 'cpuacct'] },
      { version: 1, root: '/', mountPoint: '/sys/fs/cgroup/systemd', controllers: [] },
    ]);
  });

  it('takes the tightest cgroup v2 limit from the process cgroup up to the root', () => {
    const files: Record<string, string> = {
      '/proc/self/cgroup': '0::/runner/job\n',
      '/proc/self/mountinfo': '31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n',
      '/sys/fs/cgroup/runner/job/cpu.max': 'max 100000\n',
      '/sys/fs/cgroup/runner/cpu.max': '200000 100000\n',
      '/sys/fs/cgroup/runner/job/memory.max': '4294967296\n',
      '/sys/fs/cgroup/runner/memory.max': 'max\n',
    };
    expect(readCgroupLimits((path) => files[path])).toEqual({ cpuMax: 2, memoryMax: 4294967296 });
  });

  it('falls back to cgroup v1 controllers when v2 has none of them', () => {
    const files: Record<string, string> = {
      '/proc/self/cgroup': '4:memory:/job\n2:cpu,cpuacct:/job\n0::/\n',
      '/proc/self/mountinfo': [
        '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
        '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
        '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
      ].join('\n'),
      '/sys/fs/cgroup/unified/cgroup.controllers': '\n',
      '/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us': '150000\n',
      '/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/memory/job/memory.limit_in_bytes': '9223372036854771712\n',
    };
    expect(readCgroupLimits((path) => files[path])).toEqual({ cpuMax: 1.5, memoryMax: null });
  });

  it('reports no limits when nothing is readable', () => {
    expect(readCgroupLimits(() => undefined)).toEqual({ cpuMax: null, memoryMax: null });
  });
});

describe.runIf(process.platform === 'linux')('hostFingerprint', () => {
  it('describes a Raspberry Pi 5 from its files', async () => {
    const files: Record<string, string> = {
      '/proc/cpuinfo': PI5_CPUINFO,
      '/etc/os-release': PI5_OS_RELEASE,
      '/proc/self/cgroup': '0::/\n',
      '/proc/self/mountinfo': '31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n',
      '/sys/fs/cgroup/cpu.max': '300000 100000\n',
    };
    const fp = await hostFingerprint({ readText: (path) => files[path], onnxruntime: '1.30.0' });
    expect(fp).toMatchObject({
      cpuModel: 'Cortex-A76',
      isaFlags: ['asimd', 'asimddp', 'asimdhp', 'fphp'],
      physicalCores: 4,
      logicalCores: 4,
      onnxruntime: '1.30.0',
      node: process.versions.node,
      cgroup: { cpuMax: 3, memoryMax: null },
    });
    expect(fp.os).toMatch(/^linux-\w+, Debian GNU\/Linux 12 \(bookworm\)$/);
  });

  it('fingerprints this host with the onnxruntime version and fits the host block of bench results', async () => {
    const fp = await hostFingerprint();
    expect(fp.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(fp.cpuModel).not.toBe('');
    expect(fp.physicalCores).toBeLessThanOrEqual(fp.logicalCores);
    expect(fp.ramBytes).toBeGreaterThan(0);
    const example = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../schemas/examples/bench.example.json'), 'utf8'),
    );
    expect(() => validateDocument('bench', { ...example, host: fp }, 'bench with this host')).not.toThrow();
  });
});

describe('fingerprintKey', () => {
  const base: HostFingerprint = {
    cpuModel: 'AMD EPYC 7763 64-Core Processor',
    isaFlags: ['avx', 'avx2', 'fma'],
    physicalCores: 2,
    logicalCores: 4,
    ramBytes: 16 * 2 ** 30,
    os: 'linux-x64, Ubuntu 24.04.1 LTS',
    kernel: '6.8.0-1017-azure',
    node: '20.20.2',
    onnxruntime: '1.30.0',
    cgroup: { cpuMax: null, memoryMax: null },
  };

  it('is a sha256 hex digest that ignores OS, kernel, Node version and flag order', () => {
    const key = fingerprintKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(
      fingerprintKey({
        ...base,
        os: 'linux-x64, Ubuntu 22.04',
        kernel: '6.5',
        node: '24.1.0',
        isaFlags: ['fma', 'avx2', 'avx'],
      }),
    ).toBe(key);
  });

  it('changes with what changes the speed: CPU, flags, cores, RAM, onnxruntime, CPU quota', () => {
    const key = fingerprintKey(base);
    const variants: HostFingerprint[] = [
      { ...base, cpuModel: 'AMD EPYC 9V74' },
      { ...base, isaFlags: [...base.isaFlags, 'avx512_vnni'] },
      { ...base, physicalCores: 4 },
      { ...base, logicalCores: 8 },
      { ...base, ramBytes: 8 * 2 ** 30 },
      { ...base, onnxruntime: '1.31.0' },
      { ...base, cgroup: { cpuMax: 1, memoryMax: null } },
    ];
    for (const v of variants) expect(fingerprintKey(v)).not.toBe(key);
  });
});
