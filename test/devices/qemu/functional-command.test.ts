import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { formatFunctionalResult, registerFunctional } from '../../../src/cli/functional-command.ts';
import { ConfigurationError, GateFailedError } from '../../../src/errors.ts';
import { fixtureModel, tempDir } from '../../helpers/fixtures.ts';

const emptyCache = tempDir('slmops-cli-no-qemu-');
afterAll(() => emptyCache.remove());

async function cli(args: string[]): Promise<{ out: string[]; err: string[]; error?: unknown }> {
  const out: string[] = [];
  const err: string[] = [];
  const program = new Command('slmops').exitOverride();
  registerFunctional(program, { out: (t) => out.push(t), err: (t) => err.push(t) });
  try {
    await program.parseAsync(['functional', ...args], { from: 'user' });
    return { out, err };
  } catch (error) {
    return { out, err, error };
  }
}

describe('slmops functional', () => {
  it('asks for a model and for an arm64 profile, listing them', async () => {
    expect((await cli(['--profile', 'raspberry-pi-5'])).error).toBeInstanceOf(ConfigurationError);
    const noProfile = await cli([fixtureModel('digits-cnn')]);
    expect(noProfile.error).toBeInstanceOf(ConfigurationError);
    expect(String((noProfile.error as Error).message)).toContain('raspberry-pi-4, raspberry-pi-5');
  });

  it('prints a skipped check with its reason and exits 0 when nothing can run, unless qemu is required', async () => {
    const saved = { ...process.env };
    try {
      process.env.SLMOPS_ARM64_CACHE = emptyCache.path;
      delete process.env.SLMOPS_QEMU;
      delete process.env.SLMOPS_REQUIRE_QEMU;
      const skipped = await cli([fixtureModel('digits-cnn'), '--profile', 'raspberry-pi-4', '--no-prepare']);
      expect(skipped.error).toBeUndefined();
      expect(skipped.out.join('\n')).toMatch(
        /^– skipped raspberry-pi-4 \(QEMU_CPU=cortex-a72\)\n {2}raspberry-pi-4: no arm64 sysroot/,
      );
      process.env.SLMOPS_REQUIRE_QEMU = '1';
      const required = await cli([
        fixtureModel('digits-cnn'),
        '--profile',
        'raspberry-pi-4',
        '--no-prepare',
        '--json',
      ]);
      expect(required.error).toBeInstanceOf(GateFailedError);
      expect(JSON.parse(required.out.join('\n'))[0]).toMatchObject({
        status: 'failed',
        profile: 'raspberry-pi-4',
      });
    } finally {
      process.env = saved;
    }
  });

  it('formats a passed check with its figures and says its time is not a latency', () => {
    const text = formatFunctionalResult({
      status: 'passed',
      profile: 'raspberry-pi-5',
      qemuCpu: 'cortex-a76',
      qemuVersion: '7.2.22',
      features: [],
      samples: 8,
      seconds: 6.9,
      agreement: 1,
      maxAbsDiff: 5.7e-6,
      metric: { name: 'accuracy', arm64: 1, x86: 1 },
      metricDelta: 0,
    });
    expect(text).toBe(
      [
        '✓ passed raspberry-pi-5 (QEMU_CPU=cortex-a76, QEMU 7.2.22)',
        '  8 inputs, top-1 agreement with x86-64 1.0000, max |Δ| 5.70e-6, accuracy 1.0000 (Δ +0.0000)',
        '  6.9 s wall time under emulation (not a device latency)',
      ].join('\n'),
    );
  });
});
