import { describe, expect, it } from 'vitest';
import { listProfiles, resolveProfile } from '../../../src/devices/profiles.ts';
import {
  armPart,
  compareFeatures,
  decodeHwcaps,
  deriveCpu,
  describeComparison,
  kernelOrder,
  qemuModel,
  renderCpuinfo,
  sameDispatch,
} from '../../../src/devices/qemu/features.ts';
import {
  parseCpuModels,
  parseQemuVersion,
  qemuBuildsCpuinfo,
} from '../../../src/devices/qemu/qemu-version.ts';

describe('the CPU an arm64 profile needs', () => {
  it('gives the Raspberry Pi 4 a Cortex-A72 with the Features line a real Pi 4 reports', async () => {
    const cpu = deriveCpu(await resolveProfile('raspberry-pi-4'));
    expect(cpu.qemuCpu).toBe('cortex-a72');
    expect(cpu.features.join(' ')).toBe('fp asimd evtstrm crc32 cpuid');
    expect(cpu.midr).toEqual({ implementer: 0x41, variant: 0, part: 0xd08, revision: 3 });
  });

  it('gives the Raspberry Pi 5 a Cortex-A76 with the Features line of the issue, in kernel order', async () => {
    const cpu = deriveCpu(await resolveProfile('raspberry-pi-5'));
    expect(cpu.qemuCpu).toBe('cortex-a76');
    expect(cpu.features.join(' ')).toBe(
      'fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp',
    );
    expect(cpu.midr.part).toBe(0xd0b);
  });

  it('takes the dispatch flags from the profile only, so a Snapdragon without SVE gets none', async () => {
    const cpu = deriveCpu(await resolveProfile('snapdragon-7-gen-1'));
    expect(cpu.qemuCpu).toBe('cortex-a710,sve=off');
    expect(cpu.features).toEqual(expect.arrayContaining(['i8mm', 'bf16', 'asimddp']));
    expect(cpu.features).not.toContain('sve');
    expect(cpu.features).not.toContain('sve2');
  });

  it('adds the SVE flags the kernel derives when a profile has SVE with i8mm and bf16', async () => {
    const cpu = deriveCpu(await resolveProfile('github-ubuntu-arm64'));
    expect(cpu.features).toEqual(expect.arrayContaining(['sve', 'sve2', 'svei8mm', 'svebf16']));
  });

  it('derives a CPU for every built-in arm64 profile and refuses an x86-64 one', async () => {
    for (const profile of listProfiles().filter((p) => p.arch === 'arm64')) {
      const cpu = deriveCpu(profile);
      expect(cpu.features.slice(0, 2), profile.id).toEqual(['fp', 'asimd']);
      expect(cpu.knownCore, profile.id).toBe(true);
    }
    expect(() => deriveCpu(listProfiles().find((p) => p.arch === 'x86_64')!)).toThrow(/not arm64/);
  });

  it('falls back to the QEMU model for the MIDR of a core it does not know', async () => {
    const pi5 = await resolveProfile('raspberry-pi-5');
    const odd = { ...pi5, clusters: [{ ...pi5.clusters[0]!, microarchitecture: 'mystery-core' }] };
    const cpu = deriveCpu(odd);
    expect(cpu.knownCore).toBe(false);
    expect(cpu.midr.part).toBe(0xd0b);
    expect(cpu.features).toEqual(['fp', 'asimd', 'evtstrm', 'fphp', 'asimdhp', 'cpuid', 'asimddp']);
  });

  it('writes a cpuinfo block per processor with the MIDR lines onnxruntime reads', async () => {
    const text = renderCpuinfo(deriveCpu(await resolveProfile('raspberry-pi-5')), 2);
    expect(text.match(/^processor\t: \d+$/gm)).toEqual(['processor\t: 0', 'processor\t: 1']);
    expect(text).toContain('CPU implementer\t: 0x41');
    expect(text).toContain('CPU part\t: 0xd0b');
    expect(text).toContain('CPU variant\t: 0x4');
    expect(text).toMatch(/^Features\t: fp asimd evtstrm aes .* asimddp$/m);
  });

  it('maps core names to Arm part numbers and QEMU_CPU values to their model', () => {
    expect(armPart('Cortex-A72')).toBe(0xd08);
    expect(armPart('neoverse n2')).toBe(0xd49);
    expect(armPart('cortex-z9')).toBeUndefined();
    expect(qemuModel('cortex-a710,sve=off')).toBe('cortex-a710');
    expect(kernelOrder(['asimddp', 'fp', 'i8mm', 'asimd', 'fp'])).toEqual(['fp', 'asimd', 'asimddp', 'i8mm']);
  });
});

describe('hwcaps and the comparison with the profile', () => {
  it('decodes the hwcaps QEMU 7.2 gives cortex-a72 and cortex-a76', () => {
    expect(decodeHwcaps('0x8fb').join(' ')).toBe('fp asimd aes pmull sha1 sha2 crc32 cpuid');
    expect(decodeHwcaps('0x119ffb').join(' ')).toBe(
      'fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp',
    );
    expect(decodeHwcaps(0, '0x6000')).toEqual(['i8mm', 'bf16']);
    expect(decodeHwcaps(0n, 1n << 60n)).toEqual(['hwcap2:60']);
  });

  it('accepts a CPU that differs only in flags no kernel depends on, and says which', async () => {
    const cpu = deriveCpu(await resolveProfile('raspberry-pi-4'));
    const comparison = compareFeatures(cpu.features, decodeHwcaps('0x8fb'));
    expect(sameDispatch(comparison)).toBe(true);
    expect(comparison.other).toEqual(['+aes', '+pmull', '+sha1', '+sha2', '-evtstrm']);
    expect(describeComparison(comparison)).toContain('no kernel depends on');
  });

  it('refuses a CPU without the dot product a profile has, or with one it lacks', async () => {
    const pi5 = deriveCpu(await resolveProfile('raspberry-pi-5'));
    const onA72 = compareFeatures(pi5.features, decodeHwcaps('0x8fb'));
    expect(sameDispatch(onA72)).toBe(false);
    expect(onA72.missing).toEqual(['asimddp', 'fphp', 'asimdhp']);
    const pi4 = deriveCpu(await resolveProfile('raspberry-pi-4'));
    const onA76 = compareFeatures(pi4.features, decodeHwcaps('0x119ffb'));
    expect(onA76.extra).toEqual(['asimddp', 'fphp', 'asimdhp']);
    expect(describeComparison(onA76)).toMatch(/^has asimddp fphp asimdhp the device lacks/);
  });
});

describe('the installed QEMU', () => {
  it('reads the version and whether it builds /proc/cpuinfo itself (8.2 and later)', () => {
    const v72 = parseQemuVersion('qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright');
    expect(v72).toMatchObject({ major: 7, minor: 2, patch: 22 });
    expect(qemuBuildsCpuinfo(v72!)).toBe(false);
    expect(
      qemuBuildsCpuinfo(parseQemuVersion('qemu-aarch64 version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)')!),
    ).toBe(true);
    expect(qemuBuildsCpuinfo(parseQemuVersion('qemu-aarch64 version 10.0.13')!)).toBe(true);
    expect(parseQemuVersion('not qemu')).toBeUndefined();
  });

  it('lists the CPU models of -cpu help', () => {
    const models = parseCpuModels(
      'Available CPUs:\n  a64fx\n  cortex-a35\n  cortex-a72\n  cortex-a76\n  max\n  neoverse-n1\n',
    );
    expect(models).toEqual(['a64fx', 'cortex-a35', 'cortex-a72', 'cortex-a76', 'max', 'neoverse-n1']);
  });
});
