/** The functional check where it must not run: no emulator, an x86-64 profile, a CPU model qemu lacks. No qemu needed. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateDocument } from '../../../src/config/load.ts';
import { runFunctionalCheck } from '../../../src/devices/qemu/functional.ts';
import type { Arm64Emulator } from '../../../src/devices/qemu/sysroot.ts';
import { fixtureModel, tempDir } from '../../helpers/fixtures.ts';
import { benchResult } from '../../helpers/results.ts';

const emptyCache = tempDir('slmops-no-qemu-');
afterAll(() => emptyCache.remove());
const model = fixtureModel('digits-cnn');
const noEmulatorEnv = (extra: Record<string, string> = {}) => {
  const { SLMOPS_QEMU: _q, SLMOPS_REQUIRE_QEMU: _r, ...env } = process.env;
  return { ...env, SLMOPS_ARM64_CACHE: emptyCache.path, ...extra };
};

describe('a functional check that cannot run', () => {
  it('is skipped with the install hint when there is no qemu or sysroot, never passed', async () => {
    const result = await runFunctionalCheck({ model, profile: 'raspberry-pi-5', env: noEmulatorEnv() });
    expect(result).toMatchObject({
      status: 'skipped',
      profile: 'raspberry-pi-5',
      qemuCpu: 'cortex-a76',
      samples: 0,
    });
    expect(result.reason).toContain(`no arm64 sysroot with Node in ${emptyCache.path}`);
    expect(result.reason).toContain('slmops functional --prepare');
    expect(result.features).toContain('asimddp');
  });

  it('fails instead when SLMOPS_REQUIRE_QEMU=1, as in CI', async () => {
    const result = await runFunctionalCheck({
      model,
      profile: 'raspberry-pi-4',
      env: noEmulatorEnv({ SLMOPS_REQUIRE_QEMU: '1' }),
    });
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(/no arm64 sysroot.*SLMOPS_REQUIRE_QEMU=1 makes a skipped check a failure/);
  });

  it('is skipped, not thrown, when preparing the emulator fails (no package source here)', async () => {
    const sources = path.join(emptyCache.path, 'none.sources');
    writeFileSync(sources, '# no sources\n');
    const result = await runFunctionalCheck({
      model,
      profile: 'raspberry-pi-5',
      prepare: true,
      env: noEmulatorEnv({ SLMOPS_ARM64_APT_SOURCES: sources }),
    });
    expect(result.status).toBe('skipped');
    expect(result.reason).toMatch(
      /raspberry-pi-5: the arm64 emulator could not be prepared: arm64 sysroot: no Debian or Ubuntu package source for arm64/,
    );
  });

  it('skips an x86-64 profile, which it does not emulate, even when qemu is required', async () => {
    const result = await runFunctionalCheck({
      model,
      profile: 'intel-n100',
      env: noEmulatorEnv({ SLMOPS_REQUIRE_QEMU: '1' }),
    });
    expect(result).toMatchObject({ status: 'skipped', qemuCpu: null, features: [] });
    expect(result.reason).toMatch(/intel-n100 is an x86_64 profile/);
  });

  it('says which profiles the installed qemu cannot emulate: a CPU model it does not have', async () => {
    const emulator = {
      qemu: '/nonexistent/qemu-aarch64',
      qemuVersion: { major: 7, minor: 2, patch: 22, text: 'qemu-aarch64 version 7.2.22' },
      cpuModels: ['a64fx', 'cortex-a53', 'cortex-a72', 'cortex-a76', 'max', 'neoverse-n1'],
    } as Arm64Emulator;
    const result = await runFunctionalCheck({
      model,
      profile: 'snapdragon-7-gen-1',
      emulator,
      guestOrtDir: path.resolve(import.meta.dirname, '..', '..', '..'),
      env: noEmulatorEnv(),
    });
    expect(result).toMatchObject({
      status: 'skipped',
      qemuVersion: '7.2.22',
      qemuCpu: 'cortex-a710,sve=off',
    });
    expect(result.reason).toMatch(
      /QEMU 7\.2\.22 cannot emulate snapdragon-7-gen-1: it has no CPU model cortex-a710/,
    );
  });

  it('produces a block the bench schema accepts', async () => {
    const functional = await runFunctionalCheck({ model, profile: 'raspberry-pi-5', env: noEmulatorEnv() });
    const result = benchResult({ functional } as never);
    expect(() => validateDocument('bench', result, 'result.json')).not.toThrow();
    const broken = benchResult({ functional: { ...functional, status: 'maybe' } } as never);
    expect(() => validateDocument('bench', broken, 'result.json')).toThrow(/functional/);
  });
});
