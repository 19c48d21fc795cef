/**
 * The real thing: prepares the arm64 sysroot and qemu through apt (about 90 MB downloaded once, then cached in
 * RUNNER_TOOL_CACHE/slmops-arm64-sysroot or ~/.cache/slmops/arm64-sysroot), then runs the digits CNN and its int8
 * variant under qemu on the Raspberry Pi 4 and Pi 5 profiles, and the illegal-instruction case. Without apt or
 * network the tests are skipped with the reason, unless SLMOPS_REQUIRE_QEMU=1 (.ci/run sets it): then they fail.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingLogger } from '../../../src/action-kit/logger.ts';
import { compressModel } from '../../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../../src/compress/recipe-spec.ts';
import { listProfiles, resolveProfile } from '../../../src/devices/profiles.ts';
import { emulationSupport, runFunctionalCheck } from '../../../src/devices/qemu/functional.ts';
import { resolveGuestRuntime } from '../../../src/devices/qemu/guest-runtime.ts';
import { qemuBuildsCpuinfo } from '../../../src/devices/qemu/qemu-version.ts';
import {
  type Arm64Emulator,
  findArm64Emulator,
  prepareArm64Emulator,
} from '../../../src/devices/qemu/sysroot.ts';
import { fixtureModel, tempDir } from '../../helpers/fixtures.ts';

const required = process.env.SLMOPS_REQUIRE_QEMU === '1';
const digits = fixtureModel('digits-cnn');
const evalData = fixtureModel('digits-cnn', 'eval.jsonl');
const work = tempDir('slmops-emulation-');
afterAll(() => work.remove());

let emulator: Arm64Emulator | undefined;
let ortDir: string | undefined;
let unavailable = '';
let int8 = '';

beforeAll(async () => {
  const log = recordingLogger();
  try {
    emulator = await prepareArm64Emulator({ log });
    const runtime = await resolveGuestRuntime({ log, prepare: true });
    if (runtime.found) ortDir = runtime.dir;
    else unavailable = runtime.reason;
  } catch (error) {
    if (required) throw error;
    unavailable = `apt or its network is not available here (${(error as Error).message.split('. ')[0]}); set SLMOPS_REQUIRE_QEMU=1 to make this a failure`;
    return;
  }
  const variant = await compressModel({
    modelPath: digits,
    recipe: parseRecipeSpec('int8'),
    outDir: path.join(work.path, 'int8'),
    fidelity: 'off',
  });
  int8 = variant.modelPath;
}, 900_000);

function need(skip: (note?: string) => never): { emulator: Arm64Emulator; ortDir: string } {
  if (!emulator || !ortDir) skip(`arm64 emulation unavailable: ${unavailable}`);
  return { emulator: emulator!, ortDir: ortDir! };
}

describe('the cached arm64 emulator', () => {
  it('holds Node for arm64 from the distribution and a static qemu-aarch64, found again without downloading', async ({
    skip,
    annotate,
  }) => {
    const { emulator: e } = need(skip);
    expect(existsSync(e.node)).toBe(true);
    expect(e.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['nodejs', 'libc6']));
    expect(e.packages.filter((p) => p.arch !== 'all').every((p) => p.arch === 'arm64')).toBe(true);
    expect(e.cpuModels).toEqual(expect.arrayContaining(['cortex-a72', 'cortex-a76']));
    const again = await findArm64Emulator();
    expect(again.found && again.emulator.dir).toBe(e.dir);
    await annotate(
      `arm64 emulator: QEMU ${e.qemuVersion.text}; ${e.packages.length} packages; ${((e.bytes ?? 0) / 2 ** 20).toFixed(0)} MiB; prepared in ${e.prepareSeconds} s`,
    );
  });

  it('says which built-in arm64 profiles this qemu can emulate', async ({ skip }) => {
    const { emulator: e } = need(skip);
    const support = await emulationSupport(listProfiles(), e);
    const byId = new Map(support.map((s) => [s.profile, s]));
    expect(byId.get('raspberry-pi-4')?.emulable).toBe(true);
    expect(byId.get('raspberry-pi-5')?.emulable).toBe(true);
    if (!e.cpuModels.includes('cortex-a710'))
      expect(byId.get('snapdragon-7-gen-1')).toMatchObject({
        emulable: false,
        detail: expect.stringContaining('no CPU model cortex-a710'),
      });
  }, 120_000);
});

describe('one shared model on the Raspberry Pi profiles', () => {
  it.for([
    ['raspberry-pi-4', 'fp32'],
    ['raspberry-pi-4', 'int8'],
    ['raspberry-pi-5', 'fp32'],
    ['raspberry-pi-5', 'int8'],
  ] as const)(
    'runs the digits CNN on %s (%s) on 8 inputs and agrees with x86-64',
    { timeout: 180_000 },
    async ([profile, precision], { skip, annotate }) => {
      const { emulator: e, ortDir: dir } = need(skip);
      const result = await runFunctionalCheck({
        model: precision === 'int8' ? int8 : digits,
        reference: digits,
        profile,
        evalData,
        emulator: e,
        guestOrtDir: dir,
      });
      expect(result.reason).toBeUndefined();
      expect(result).toMatchObject({ status: 'passed', profile, samples: 8, agreement: 1 });
      expect(result.metric).toMatchObject({ name: 'accuracy' });
      expect(result.reference?.agreement).toBeGreaterThanOrEqual(0.875);
      if (precision === 'fp32') expect(result.maxAbsDiff).toBeLessThan(1e-3);
      const cpu = (await resolveProfile(profile)).emulation?.qemuCpu;
      expect(result.qemuCpu).toBe(cpu);
      // What the guest saw before it ran: the profile's dispatch flags.
      const dot = profile === 'raspberry-pi-5';
      expect(result.guest?.hwcaps.includes('asimddp')).toBe(dot);
      expect(result.guest?.cpuinfo.includes('asimddp')).toBe(dot);
      expect(result.guest?.cpuinfoFrom).toBe(qemuBuildsCpuinfo(e.qemuVersion) ? 'qemu' : 'sysroot');
      await annotate(`${profile} ${precision}: ${result.seconds} s, max |Δ| ${result.maxAbsDiff}`);
    },
  );
});

describe('a device that advertises a feature its CPU lacks', () => {
  it('fails with SIGILL naming the profile and the dot-product instruction', async ({ skip, annotate }) => {
    const { emulator: e, ortDir: dir } = need(skip);
    if (qemuBuildsCpuinfo(e.qemuVersion))
      skip(
        `QEMU ${e.qemuVersion.text} builds /proc/cpuinfo itself: the guest cannot be told it runs on a Cortex-A76`,
      );
    const pi4 = await resolveProfile('raspberry-pi-4');
    // A Pi 4 whose /proc/cpuinfo claims a Cortex-A76 with asimddp, on qemu's real Cortex-A72.
    const wrong = {
      ...pi4,
      id: 'pi4-advertising-asimddp',
      isaFeatures: ['asimd', 'asimddp'],
      clusters: [{ ...pi4.clusters[0]!, microarchitecture: 'cortex-a76' }],
      emulation: { qemuCpu: 'cortex-a72' },
    };
    const refused = await runFunctionalCheck({
      model: int8,
      profile: wrong,
      evalData,
      emulator: e,
      guestOrtDir: dir,
      samples: 2,
    });
    expect(refused.status).toBe('skipped');
    expect(refused.reason).toMatch(
      /cannot emulate pi4-advertising-asimddp faithfully: qemu's cortex-a72 lacks asimddp/,
    );

    const result = await runFunctionalCheck({
      model: int8,
      profile: wrong,
      evalData,
      emulator: e,
      guestOrtDir: dir,
      samples: 2,
      onMismatch: 'run',
    });
    expect(result.status).toBe('failed');
    expect(result.reason).toMatch(
      /^pi4-advertising-asimddp \(QEMU_CPU=cortex-a72, QEMU [\d.]+\): the arm64 run crashed with SIGILL \(Illegal instruction\) while running input 1 of 2 at [us]dot v\d+\.4s/,
    );
    expect(result.fault).toMatchObject({ signal: 'SIGILL', stage: 'sample 1/2', feature: 'asimddp' });
    expect(result.fault?.instruction).toMatch(
      /^[us]dot v\d+\.4s, v\d+\.16b, v\d+\.(4b\[\d\]|16b) \(0x[0-9a-f]{8}, needs asimddp\)$/,
    );
    expect(result.reason).toContain('the emulated cortex-a72 has no asimddp');
    await annotate(`SIGILL case: ${result.seconds} s: ${result.reason}`);
  }, 300_000);
});
