import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { validateDocument } from '../../src/config/load.ts';
import type { ProfileDocument } from '../../src/config/types.ts';
import { KERNEL_FLAGS } from '../../src/devices/fingerprint.ts';
import {
  builtInProfileIds,
  citationProblems,
  isProfilePath,
  listProfiles,
  resolveProfile,
} from '../../src/devices/profiles.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { tempDir } from '../helpers/fixtures.ts';

const profilesDir = fileURLToPath(new URL('../../profiles/', import.meta.url));
const profileFiles = readdirSync(profilesDir).filter((f) => f.endsWith('.json'));
const example = fileURLToPath(new URL('../../schemas/examples/profile.example.json', import.meta.url));

const tmp = tempDir();
afterAll(() => tmp.remove());

function profile(id: string): ProfileDocument {
  const found = listProfiles().find((p) => p.id === id);
  if (!found) throw new Error(`no built-in profile ${id}`);
  return found;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('built-in profiles', () => {
  it('has the profiles the issue asks for', () => {
    expect(builtInProfileIds()).toEqual(
      expect.arrayContaining([
        'raspberry-pi-4',
        'raspberry-pi-5',
        'jetson-orin-nano',
        'rk3588',
        'snapdragon-7-gen-1',
        'intel-n100',
        'x86-laptop-i5-1235u',
        'github-ubuntu-x64',
        'github-ubuntu-arm64',
      ]),
    );
  });

  it.each(profileFiles)('validates %s against the profile schema', (file) => {
    const value = JSON.parse(readFileSync(join(profilesDir, file), 'utf8'));
    expect(validateDocument('profile', value, file).schema).toBe('slmops.profile/v1');
  });

  it('bundles exactly the files of profiles/, each id unique and equal to its file name', () => {
    const ids = builtInProfileIds();
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(profileFiles.map((f) => f.replace(/\.json$/, '')).sort());
  });

  it.each(profileFiles.map((f) => f.replace(/\.json$/, '')))(
    'cites every number of %s with its value, and says how each derived or assumed figure was reached',
    (id) => {
      expect(citationProblems(profile(id))).toEqual([]);
    },
  );

  it.each(profileFiles.map((f) => f.replace(/\.json$/, '')))(
    'gives %s per-core peaks that are whole FLOP and op counts per cycle at its clock',
    (id) => {
      const p = profile(id);
      p.clusters.forEach((cluster, index) => {
        const peaks = index === 0 ? p.peaks : cluster.peaks;
        if (!peaks) return;
        const flopPerCycle = peaks.fp32GflopsPerCore / cluster.maxClockGHz;
        const opsPerCycle = peaks.int8GopsPerCore / cluster.maxClockGHz;
        expect([8, 16, 32]).toContain(Math.round(flopPerCycle));
        expect(flopPerCycle).toBeCloseTo(Math.round(flopPerCycle), 6);
        expect([16, 32, 64, 128]).toContain(Math.round(opsPerCycle));
        expect(opsPerCycle).toBeCloseTo(Math.round(opsPerCycle), 6);
      });
    },
  );

  it('gives every multi-cluster profile the peaks of each cluster', () => {
    for (const p of listProfiles()) {
      for (const cluster of p.clusters.slice(1))
        expect(cluster.peaks, `${p.id} ${cluster.name}`).toBeDefined();
    }
  });

  it('derives each DRAM bandwidth from bus width x transfer rate where the memory gives both', () => {
    for (const p of listProfiles()) {
      const { busWidthBits, transferRateMTs } = p.memory ?? {};
      if (busWidthBits === undefined || transferRateMTs === undefined) continue;
      expect(Math.abs((busWidthBits / 8) * (transferRateMTs / 1000) - p.dramBandwidthGBs), p.id).toBeLessThan(
        0.1,
      );
    }
  });

  it('lists only ISA flags the host fingerprint records, so a profile can match the host it describes', () => {
    for (const p of listProfiles()) {
      expect(
        p.isaFeatures.filter((f) => !KERNEL_FLAGS.includes(f)),
        p.id,
      ).toEqual([]);
    }
  });

  it('tells arm64 from x86_64 by the ISA flags', () => {
    for (const p of listProfiles()) {
      const arm = p.isaFeatures.includes('asimd');
      expect(p.arch, p.id).toBe(arm ? 'arm64' : 'x86_64');
    }
  });

  it('keeps the Raspberry Pi 4 without dot product and the Pi 5 with it', () => {
    expect(profile('raspberry-pi-4').isaFeatures).not.toContain('asimddp');
    expect(profile('raspberry-pi-5').isaFeatures).toContain('asimddp');
  });

  it('leaves the little cores out of the big.LITTLE profiles and says so', () => {
    for (const id of ['rk3588', 'snapdragon-7-gen-1']) {
      const p = profile(id);
      expect(p.clusters.map((c) => c.microarchitecture)).not.toContain('cortex-a55');
      expect(p.clusters.map((c) => c.microarchitecture)).not.toContain('cortex-a510');
      expect(p.description).toMatch(/little cores .*excluded/);
    }
  });

  it('returns copies, so a caller changing a profile does not change the next caller’s', async () => {
    const first = listProfiles()[0]!;
    first.peaks.fp32GflopsPerCore = 1;
    const resolved = await resolveProfile(first.id);
    resolved.isaFeatures.push('changed');
    expect(listProfiles()[0]!.peaks.fp32GflopsPerCore).not.toBe(1);
    expect((await resolveProfile(first.id)).isaFeatures).not.toContain('changed');
  });

  it('drops the $schema editor hint, which only means something inside the repository', () => {
    for (const p of listProfiles()) expect(p).not.toHaveProperty('$schema');
  });
});

describe('docs/profiles.md', () => {
  const docs = readFileSync(fileURLToPath(new URL('../../docs/profiles.md', import.meta.url)), 'utf8');

  it('lists every built-in profile in its table', () => {
    for (const id of builtInProfileIds()) expect(docs).toMatch(new RegExp(`\\| \`${id}\` +\\|`));
  });

  it('shows a profile of your own that validates and resolves from its file', async () => {
    const block = /```json\n([\s\S]*?)\n```/.exec(docs)?.[1];
    expect(block).toBeDefined();
    writeFileSync(join(tmp.path, 'docs-example.json'), block!);
    const p = await resolveProfile('docs-example.json', tmp.path);
    expect(p.id).toBe('lab-pi5-4gb');
    expect(p.peaks.fp32GflopsPerCore).toBeCloseTo(16 * p.clusters[0]!.maxClockGHz, 6);
  });
});

describe('citationProblems', () => {
  it('names a number without a source, a source that disagrees and a derivation that is missing', () => {
    const p = profile('raspberry-pi-5');
    p.ramBytes = 4 * 1024 ** 3;
    p.sources = p.sources.filter((s) => s.field !== 'dramBandwidthGBs');
    const fp32 = p.sources.find((s) => s.field === 'peaks.fp32GflopsPerCore')!;
    delete fp32.derivation;
    expect(citationProblems(p)).toEqual([
      'dramBandwidthGBs: 17.1 has no entry in sources',
      'ramBytes: is 4294967296, but its source entry says 8589934592',
      expect.stringMatching(
        /^sources\[\d+\] \(peaks\.fp32GflopsPerCore\): a derived figure needs its derivation$/,
      ),
    ]);
  });

  it('names a source that cites a field the profile does not have, and uncited ISA features', () => {
    const p = profile('intel-n100');
    p.sources = p.sources.filter((s) => s.field !== 'isaFeatures');
    p.sources.push({ field: 'clusters[1].cores', value: 4, kind: 'spec', source: 'nowhere' });
    expect(citationProblems(p)).toEqual([
      'isaFeatures: has no entry in sources',
      `sources[${p.sources.length - 1}]: cites "clusters[1].cores", which is not a field of this profile`,
    ]);
  });
});

describe('resolveProfile', () => {
  it('resolves a built-in id', async () => {
    const p = await resolveProfile('raspberry-pi-5');
    expect(p.clusters[0]).toMatchObject({ cores: 4, microarchitecture: 'cortex-a76', maxClockGHz: 2.4 });
  });

  it('rejects an unknown id with the list of built-in ids and the closest one', async () => {
    const error = await rejection(resolveProfile('raspbery-pi-5'));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('unknown device profile "raspbery-pi-5"; did you mean "raspberry-pi-5"?');
    for (const id of builtInProfileIds()) expect(error.message).toContain(id);
    expect(error.message).toContain('./my-device.json');
  });

  it('does not guess when no built-in id is close', async () => {
    const error = await rejection(resolveProfile('toaster'));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).not.toContain('did you mean');
    expect(error.message).toContain('built-in profiles: raspberry-pi-4,');
  });

  it('rejects an empty reference', async () => {
    const error = await rejection(resolveProfile('  '));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toMatch(/^the device profile is empty/);
  });

  it('loads a user profile file, relative to baseDir', async () => {
    const mine = { ...JSON.parse(readFileSync(example, 'utf8')), id: 'lab-pi5' };
    writeFileSync(join(tmp.path, 'my-device.json'), JSON.stringify(mine));
    expect((await resolveProfile('my-device.json', tmp.path)).id).toBe('lab-pi5');
    expect((await resolveProfile(join(tmp.path, 'my-device.json'))).id).toBe('lab-pi5');
  });

  it('loads a user profile written in YAML', async () => {
    const yaml = [
      'schema: slmops.profile/v1',
      'id: lab-box',
      'name: Lab box',
      'arch: x86_64',
      'clusters: [{ name: cpu, cores: 8, microarchitecture: zen4, maxClockGHz: 5.1 }]',
      'isaFeatures: [avx2, avx512_vnni]',
      'peaks: { fp32GflopsPerCore: 163.2, int8GopsPerCore: 652.8 }',
      'dramBandwidthGBs: 120',
      'ramBytes: 34359738368',
      'sources: [{ field: dramBandwidthGBs, value: 120, kind: measured, source: our lab }]',
    ].join('\n');
    writeFileSync(join(tmp.path, 'lab.yml'), yaml);
    expect((await resolveProfile('lab.yml', tmp.path)).clusters[0]?.microarchitecture).toBe('zen4');
  });

  it('names the problem path of a malformed user profile', async () => {
    const bad = JSON.parse(readFileSync(example, 'utf8'));
    bad.clusters[0].cores = 'four';
    bad.sources[1].kind = 'guessed';
    writeFileSync(join(tmp.path, 'bad.json'), JSON.stringify(bad));
    const error = await rejection(resolveProfile('./bad.json', tmp.path));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('bad.json: not a valid device profile (2 problems)');
    expect(error.message).toContain('clusters[0].cores: must be an integer (got "four")');
    expect(error.message).toContain(
      'sources[1].kind: must be one of "spec", "measured", "derived", "assumed" (got "guessed")',
    );
  });

  it('treats a reference with a path separator as a file, not as an unknown id', async () => {
    expect(isProfilePath('lab/pi5')).toBe(true);
    expect(isProfilePath('C:\\lab\\pi5')).toBe(true);
    expect(isProfilePath('pi5.YAML')).toBe(true);
    expect(isProfilePath('raspberry-pi-5')).toBe(false);
    const error = await rejection(resolveProfile('lab/pi5', tmp.path));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toContain('file not found');
  });
});
