import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerProfiles } from '../../src/cli/profiles-command.ts';
import { builtInProfileIds } from '../../src/devices/profiles.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

/** Runs `slmops <argv>` with only the profiles command registered (program.ts wires it in for real). */
async function cli(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
  const program = new Command('slmops')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  registerProfiles(program, io);
  await program.parseAsync(argv, { from: 'user' });
  return out.join('\n');
}

describe('slmops profiles', () => {
  it('prints every built-in profile as JSON with --json', async () => {
    const profiles = JSON.parse(await cli('profiles', '--json'));
    expect(profiles.map((p: { id: string }) => p.id)).toEqual(builtInProfileIds());
    expect(profiles.length).toBeGreaterThanOrEqual(9);
    expect(profiles[0]).toHaveProperty('sources');
  });

  it('prints a table with a header and one row per built-in profile', async () => {
    const text = await cli('profiles');
    expect(text).toContain('raspberry-pi-5');
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+ARCH\s+CORES\s+GHZ\s+KEY ISA\s+FP32 GFLOP\/S\/CORE\s+INT8/);
    for (const id of builtInProfileIds()) expect(lines.filter((l) => l.startsWith(`${id} `))).toHaveLength(1);
    const pi5 = lines.find((l) => l.startsWith('raspberry-pi-5 '))!;
    expect(pi5).toMatch(/arm64\s+4\s+2\.4\s+asimddp asimdhp\s+38\.4\s+153\.6\s+17\.1\s+8 GiB/);
    const laptop = lines.find((l) => l.startsWith('x86-laptop-i5-1235u '))!;
    expect(laptop).toMatch(/2c\/4t\+8\s+4\.4\/3\.3\s+avx2 fma avx_vnni\s+140\.8\/52\.8\s+563\.2\/211\.2/);
    expect(lines.find((l) => l.startsWith('github-ubuntu-x64 '))).toMatch(/\s204\.8 shared\s+16 GiB$/);
  });

  it('shows one built-in profile with the source of each figure', async () => {
    const text = await cli('profiles', 'raspberry-pi-5');
    expect(text).toMatch(/^raspberry-pi-5 {2}Raspberry Pi 5/);
    expect(text).toContain(
      'cores       4x cortex-a76 at 2.4 GHz (cpu); per core 38.4 GFLOP/s fp32, 153.6 GOP/s int8',
    );
    expect(text).toContain('peaks.fp32GflopsPerCore = 38.4 (derived)');
    expect(text).toContain('qemu -cpu   cortex-a76');
  });

  it('shows a profile file given by its path', async () => {
    const example = fileURLToPath(new URL('../../schemas/examples/profile.example.json', import.meta.url));
    const path = join(tmp.path, 'my-device.json');
    writeFileSync(path, readFileSync(example));
    expect(JSON.parse(await cli('profiles', path, '--json')).id).toBe('rpi5-8gb');
  });

  it('rejects an unknown profile id, suggesting the closest built-in', async () => {
    await expect(cli('profiles', 'raspberry-pi-6')).rejects.toThrow(ConfigurationError);
    await expect(cli('profiles', 'raspberry-pi-6')).rejects.toThrow(/did you mean "raspberry-pi-\d"/);
  });
});
