import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  defaultThreads,
  formatCalibration,
  parseThreadList,
  profileMismatch,
  registerCalibrate,
} from '../../src/cli/calibrate-command.ts';
import type { HostFingerprint, ProfileDocument } from '../../src/config/types.ts';
import {
  type Calibration,
  calibrateHost,
  chooseGemmSize,
  gemvShape,
  gemvWeightBytes,
  lastLevelCacheBytes,
  PROBE_VERSION,
  parseCacheSize,
  summarizeRates,
} from '../../src/devices/calibrate.ts';
import { calibrationCache, defaultCalibrationCacheDir } from '../../src/devices/calibration-cache.ts';
import { hostFingerprint } from '../../src/devices/fingerprint.ts';
import { fp32GemmModel, int8GemmModel, writeGemvModel } from '../../src/devices/probe-models.ts';
import { exitCodeOf } from '../../src/errors.ts';
import { createSession } from '../../src/inference/session.ts';
import { tempDir } from '../helpers/fixtures.ts';

const MiB = 2 ** 20;
const tmp = tempDir('slmops-calibrate-test-');
afterAll(() => tmp.remove());

/** Probe sizes small enough that a calibration takes well under a second. */
const TINY = { gemm: 64, gemvBytes: MiB };

let host: HostFingerprint;
beforeAll(async () => {
  host = await hostFingerprint();
});

let dirs = 0;
function freshDir(name: string): string {
  const dir = join(tmp.path, `${name}-${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function expectPositiveFigures(calibration: Calibration, threads: number[]): void {
  expect(Object.keys(calibration.threads)).toEqual(threads.map(String));
  for (const t of threads) {
    const figures = calibration.threads[String(t)]!;
    for (const value of [figures.fp32Gflops, figures.int8Gops, figures.bandwidthGBs]) {
      expect(Number.isFinite(value)).toBe(true);
      expect(value).toBeGreaterThan(0);
    }
    for (const spread of Object.values(figures.spread)) {
      expect(spread.runs).toBeGreaterThanOrEqual(5);
      expect(spread.p10).toBeLessThanOrEqual(spread.p90);
      expect(spread.madPct).toBeGreaterThanOrEqual(0);
    }
  }
}

describe('probe sizing', () => {
  it('parses cache sizes as sysfs writes them', () => {
    expect(parseCacheSize('32768K\n')).toBe(32 * MiB);
    expect(parseCacheSize('2M')).toBe(2 * MiB);
    expect(parseCacheSize('512')).toBe(512);
    expect(parseCacheSize('big')).toBeNull();
  });

  it('takes the largest data or unified cache at the highest level as the last-level cache', () => {
    const pi5: Record<string, string> = {};
    const caches = [
      [1, 'Data', '64K'],
      [1, 'Instruction', '64K'],
      [2, 'Unified', '512K'],
      [3, 'Unified', '2048K'],
    ] as const;
    caches.forEach(([level, type, size], i) => {
      const dir = `/sys/devices/system/cpu/cpu0/cache/index${i}`;
      pi5[`${dir}/level`] = `${level}\n`;
      pi5[`${dir}/type`] = `${type}\n`;
      pi5[`${dir}/size`] = `${size}\n`;
    });
    expect(lastLevelCacheBytes((path) => pi5[path])).toBe(2 * MiB);
    expect(lastLevelCacheBytes(() => undefined)).toBeNull();
  });

  it('streams at least 8x the last-level cache, 256 MiB when the cache is unknown, within 1 GiB and a quarter of free RAM', () => {
    const plenty = 64 * 2 ** 30;
    expect(gemvWeightBytes(32 * MiB, plenty)).toEqual({ bytes: 256 * MiB });
    expect(gemvWeightBytes(null, plenty)).toEqual({ bytes: 256 * MiB });
    expect(gemvWeightBytes(2 * MiB, plenty)).toEqual({ bytes: 64 * MiB });
    const huge = gemvWeightBytes(256 * MiB, plenty);
    expect(huge.bytes).toBe(1024 * MiB);
    expect(huge.note).toMatch(/capped at 1024 MiB \(the 1 GiB limit\) instead of 2048 MiB/);
    const capped = gemvWeightBytes(32 * MiB, 512 * MiB);
    expect(capped.bytes).toBe(128 * MiB);
    expect(capped.note).toMatch(/capped at 128 MiB \(a quarter of free memory\) instead of 256 MiB/);
  });

  it('shapes the GEMV weight as k = 2048 rows for large weights', () => {
    expect(gemvShape(256 * MiB)).toEqual({ k: 2048, n: 32768, weightBytes: 256 * MiB });
    const tiny = gemvShape(MiB);
    expect(tiny.weightBytes).toBeLessThanOrEqual(MiB);
    expect(tiny.weightBytes).toBeGreaterThan(MiB / 2);
  });

  it('grows the GEMM while one run at 512 extrapolates to at most 20 ms', () => {
    expect(chooseGemmSize(12)).toBe(512);
    expect(chooseGemmSize(10)).toBe(640);
    expect(chooseGemmSize(3.85)).toBe(768);
    expect(chooseGemmSize(0.5)).toBe(1536);
    expect(chooseGemmSize(0.05)).toBe(2048);
  });

  it('summarizes per-run rates as the median with percentiles and MAD in percent', () => {
    const s = summarizeRates([90, 100, 100, 110, 100]);
    expect(s.value).toBe(100);
    expect(s.spread).toEqual({ runs: 5, p10: 94, p90: 106, madPct: 0 });
    expect(summarizeRates([80, 100, 120]).spread.madPct).toBe(20);
  });
});

describe('probe models', () => {
  const n = 16;
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5);

  it('computes A·B in the fp32 GEMM model', async () => {
    const session = await createSession(fp32GemmModel(n, n, n));
    const { Y } = await session.run({ A: { type: 'float32', dims: [n, n], data: a } });
    await session.release();
    expect(Y?.dims).toEqual([n, n]);
    const y = Y!.data as Float32Array;
    expect(y.every((v) => Number.isFinite(v))).toBe(true);
    expect(y.some((v) => v !== 0)).toBe(true);
  });

  it('is fused by onnxruntime into one DynamicQuantizeMatMul for the int8 GEMM', async () => {
    const session = await createSession(int8GemmModel(n, n, n), { profiling: true });
    const { Y } = await session.run({ A: { type: 'float32', dims: [n, n], data: a } });
    const ops = new Set(
      session
        .endProfiling()
        .filter((e) => e.cat === 'Node')
        .map((e) => String(e.args?.op_name)),
    );
    await session.release();
    expect([...ops]).toEqual(['DynamicQuantizeMatMul']);
    expect(Y?.dims).toEqual([n, n]);
  });

  it('loads the GEMV weight from external data and computes x·W', async () => {
    const dir = freshDir('gemv');
    const path = writeGemvModel(dir, 32, 48);
    const session = await createSession(path);
    const x = new Float32Array(32);
    x[0] = 1;
    const { y } = await session.run({ x: { type: 'float32', dims: [1, 32], data: x } });
    await session.release();
    // x selects row 0 of W, which the file holds first.
    const row0 = new Float32Array(readFileSync(join(dir, 'gemv.weights')).buffer.slice(0, 48 * 4));
    expect(Array.from(y!.data as Float32Array)).toEqual(Array.from(row0));
  });
});

describe('calibrateHost', () => {
  it('returns positive finite figures and node probes per thread count, and caches them', async () => {
    const cacheDir = freshDir('cache');
    const calibration = await calibrateHost({
      threads: [2, 1],
      budgetMs: 400,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
    });
    expectPositiveFigures(calibration, [1, 2]);
    expect(calibration.nodeProbes?.points.length).toBeGreaterThan(0);
    if (process.platform === 'linux') {
      expect(calibration.load?.otherCores).toBeGreaterThanOrEqual(0);
      expect(calibration.load?.stealPct).toBeGreaterThanOrEqual(0);
    }
    for (const point of calibration.nodeProbes!.points) {
      expect(point.us['1']).toBeGreaterThan(0);
      expect(point.us['2']).toBeGreaterThan(0);
    }
    expect(calibration.probes).toMatchObject({
      version: PROBE_VERSION,
      gemm: { m: 64, k: 64, n: 64 },
      request: 'gemm=64;gemv=1048576',
    });
    expect(calibration.onnxruntime).toBe(host.onnxruntime);
    expect(calibration.cache?.reused).toBe(false);
    expect(existsSync(calibration.cache!.path)).toBe(true);
    const stored = JSON.parse(readFileSync(calibration.cache!.path, 'utf8'));
    expect(stored.cache).toBeUndefined();
    expect(stored.threads).toEqual(calibration.threads);
  });

  it('reuses the cached result on a second call without measuring, and measures again with force', async () => {
    const cacheDir = freshDir('cache');
    const first = await calibrateHost({
      threads: [1],
      budgetMs: 300,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
    });
    const log: string[] = [];
    const second = await calibrateHost({
      threads: [1],
      budgetMs: 300,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
      log: (m) => log.push(m),
    });
    expect(second.cache).toEqual({ path: first.cache!.path, reused: true });
    expect(second.measuredAt).toBe(first.measuredAt);
    expect(second.threads).toEqual(first.threads);
    expect(log.join('\n')).toMatch(/using the cached calibration/);
    expect(log.some((m) => /GEMM|bandwidth|node probe/.test(m))).toBe(false);

    const forced = await calibrateHost({
      threads: [1],
      budgetMs: 300,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
      force: true,
    });
    expect(forced.cache?.reused).toBe(false);
    expect(forced.threads['1']).not.toEqual(first.threads['1']);
  });

  it('measures again when asked for a longer budget than the cached one, and serves shorter requests from it', async () => {
    const cacheDir = freshDir('cache');
    const calibrate = (budgetMs: number) =>
      calibrateHost({ threads: [1], budgetMs, sizes: TINY, cacheDir, fingerprint: host });
    const short = await calibrate(200);
    expect(short.probes.budgetMs).toBe(200);
    const long = await calibrate(400);
    expect(long.cache?.reused).toBe(false);
    expect(long.probes.budgetMs).toBe(400);
    const again = await calibrate(300);
    expect(again.cache?.reused).toBe(true);
    expect(again.measuredAt).toBe(long.measuredAt);
  });

  it('measures only thread counts missing from the cache and keeps the cached ones', async () => {
    const cacheDir = freshDir('cache');
    const first = await calibrateHost({
      threads: [1],
      budgetMs: 300,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
    });
    const log: string[] = [];
    const merged = await calibrateHost({
      threads: [1, 2],
      budgetMs: 300,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
      log: (m) => log.push(m),
    });
    expect(merged.cache?.reused).toBe(false);
    expect(merged.threads['1']).toEqual(first.threads['1']);
    expectPositiveFigures(merged, [1, 2]);
    expect(log.some((m) => m.startsWith('1 thread '))).toBe(false);
    expect(log.some((m) => m.startsWith('2 threads '))).toBe(true);
    for (const point of merged.nodeProbes!.points) {
      const cached = first.nodeProbes!.points.find((p) => p.shape === point.shape && p.kind === point.kind)!;
      expect(point.us['1']).toBe(cached.us['1']);
      expect(point.us['2']).toBeGreaterThan(0);
    }
  });

  it('does not answer a request for other probe sizes from the cache', async () => {
    const cacheDir = freshDir('cache');
    await calibrateHost({ threads: [1], budgetMs: 300, sizes: TINY, cacheDir, fingerprint: host });
    const other = await calibrateHost({
      threads: [1],
      budgetMs: 300,
      sizes: { gemm: 32, gemvBytes: MiB },
      cacheDir,
      fingerprint: host,
    });
    expect(other.cache?.reused).toBe(false);
    expect(other.probes.gemm.n).toBe(32);
  });

  it('ignores a cache file that is not a calibration', async () => {
    const cacheDir = freshDir('cache');
    const cache = calibrationCache(cacheDir);
    const first = await calibrateHost({
      threads: [1],
      budgetMs: 200,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
    });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(first.cache!.path, '{"not": "a calibration"');
    expect(cache.read(first.fingerprintKey)).toBeUndefined();
    const again = await calibrateHost({
      threads: [1],
      budgetMs: 200,
      sizes: TINY,
      cacheDir,
      fingerprint: host,
    });
    expect(again.cache?.reused).toBe(false);
  });

  it('refuses thread counts that are not positive whole numbers', async () => {
    await expect(calibrateHost({ threads: [0], cacheDir: null, fingerprint: host })).rejects.toThrow(
      /thread counts/,
    );
    await expect(calibrateHost({ threads: [], cacheDir: null, fingerprint: host })).rejects.toThrow(
      /thread counts/,
    );
  });
});

describe('calibrateHost input checks', () => {
  it('refuses probe sizes that would not fit in memory', async () => {
    await expect(
      calibrateHost({ threads: [1], sizes: { gemm: 100_000 }, cacheDir: null, fingerprint: host }),
    ).rejects.toThrow(/GEMM probe size/);
    await expect(
      calibrateHost({ threads: [1], sizes: { gemvBytes: 2 ** 40 }, cacheDir: null, fingerprint: host }),
    ).rejects.toThrow(/GEMV probe weight/);
  });

  it('refuses a budget that is not positive', async () => {
    await expect(
      calibrateHost({ threads: [1], budgetMs: 0, cacheDir: null, fingerprint: host }),
    ).rejects.toThrow(/budget/);
  });
});

describe('calibration cache folder', () => {
  it('prefers the runner tool cache, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(
      defaultCalibrationCacheDir({ RUNNER_TOOL_CACHE: '/opt/hostedtoolcache', XDG_CACHE_HOME: '/x' }),
    ).toBe('/opt/hostedtoolcache/slmops-calibration');
    expect(defaultCalibrationCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/slmops/calibration');
    expect(defaultCalibrationCacheDir({})).toMatch(/[\\/]\.cache[\\/]slmops[\\/]calibration$/);
  });
});

describe('slmops calibrate', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    const program = new Command('slmops')
      .exitOverride()
      .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
    registerCalibrate(program, io);
    let code = 0;
    try {
      await program.parseAsync(argv, { from: 'user' });
    } catch (error) {
      code = exitCodeOf(error);
      err.push(error instanceof Error ? error.message : String(error));
    }
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  function useCache(): string {
    const dir = freshDir('xdg');
    vi.stubEnv('RUNNER_TOOL_CACHE', '');
    vi.stubEnv('XDG_CACHE_HOME', dir);
    return dir;
  }

  const tiny = ['--budget-ms', '300', '--gemm-size', '64', '--gemv-bytes', String(MiB)];

  it('prints the host calibration as JSON that parses, cached under XDG_CACHE_HOME', async () => {
    const xdg = useCache();
    const result = await cli('calibrate', '--threads', '1,2', '--json', ...tiny);
    expect(result.code).toBe(0);
    const calibration = JSON.parse(result.out) as Calibration;
    expectPositiveFigures(calibration, [1, 2]);
    expect(calibration.cache?.path.startsWith(join(xdg, 'slmops', 'calibration'))).toBe(true);
    expect(result.err).toMatch(/1 thread fp32 GEMM: [\d.]+ GFLOPS/);
  });

  it('prints a table with one row per thread count', async () => {
    useCache();
    const result = await cli('calibrate', '--threads', '1', ...tiny);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/threads +fp32 GEMM GFLOPS +int8 GEMM GOPS +bandwidth GB\/s/);
    expect(result.out).toMatch(/\n +1 +[\d.]+ ±[\d.]+ % +[\d.]+ ±[\d.]+ % +[\d.]+ ±[\d.]+ %/);
  });

  it('writes the calibration into a copy of a profile file, warning when this host is not that device', async () => {
    useCache();
    const profilePath = join(import.meta.dirname, '../../schemas/examples/profile.example.json');
    const out = join(freshDir('profile'), 'rpi5.json');
    const result = await cli(
      'calibrate',
      '--profile',
      profilePath,
      '--threads',
      '1',
      '--out',
      out,
      '--json',
      ...tiny,
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out).profile).toBe(out);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    const original = JSON.parse(readFileSync(profilePath, 'utf8'));
    expect({ ...written, calibration: undefined }).toEqual({ ...original, calibration: undefined });
    expect(written.calibration.threads['1'].fp32Gflops).toBeGreaterThan(0);
    expect(written.calibration.host.onnxruntime).toBe(host.onnxruntime);
    expect(written.calibration.measuredAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(written.calibration.nodeProbes.points[0].us['1']).toBeGreaterThan(0);
    if (!profileMismatch(host, original as ProfileDocument)) return;
    expect(result.err).toMatch(/warning: .*the figures describe this host, not Raspberry Pi 5/);
  });

  it('resolves a built-in profile id and writes its calibrated copy', async () => {
    useCache();
    const out = join(freshDir('profile'), 'pi5.json');
    const result = await cli(
      'calibrate',
      '--profile',
      'raspberry-pi-5',
      '--threads',
      '1,2',
      '--out',
      out,
      ...tiny,
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain(`calibrated profile raspberry-pi-5 written to ${out}`);
    const written = JSON.parse(readFileSync(out, 'utf8'));
    expect(written.id).toBe('raspberry-pi-5');
    expect(Object.keys(written.calibration.threads)).toEqual(['1', '2']);
    expect(written.calibration.probes.gemm.n).toBe(64);
  });

  it('exits 2 naming the flag for a bad thread list, --out without --profile, or a profile id it cannot resolve', async () => {
    useCache();
    const bad = await cli('calibrate', '--threads', '1,x');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--threads "1,x" is not a list of positive whole numbers/);
    const out = await cli('calibrate', '--out', 'x.json');
    expect(out.code).toBe(2);
    expect(out.err).toMatch(/--out needs --profile/);
    const id = await cli('calibrate', '--profile', 'raspbery-pi-5', ...tiny);
    expect(id.code).toBe(2);
    expect(id.err).toMatch(/unknown device profile "raspbery-pi-5".*raspberry-pi-5/);
  });
});

describe('calibrate command helpers', () => {
  it('parses thread lists and defaults to powers of two up to the cores', () => {
    expect(parseThreadList('4, 1,2,2')).toEqual([1, 2, 4]);
    expect(() => parseThreadList('0')).toThrow(/--threads/);
    expect(() => parseThreadList('1,,2')).toThrow(/--threads/);
    expect(defaultThreads(1)).toEqual([1]);
    expect(defaultThreads(4)).toEqual([1, 2, 4]);
    expect(defaultThreads(6)).toEqual([1, 2, 4, 6]);
  });

  it('tells when this host is not the profile device', () => {
    const profile = {
      arch: 'arm64',
      clusters: [{ name: 'big', cores: 4, microarchitecture: 'cortex-a76', maxClockGHz: 2.4 }],
    } as ProfileDocument;
    const pi = { ...({} as HostFingerprint), cpuModel: 'Cortex-A76' };
    expect(profileMismatch(pi, profile, 'arm64')).toBeUndefined();
    expect(profileMismatch(pi, profile, 'x64')).toMatch(/x86_64/);
    expect(profileMismatch({ ...pi, cpuModel: 'Cortex-A72' }, profile, 'arm64')).toMatch(/Cortex-A72/);
  });

  it('formats a calibration with notes', () => {
    const text = formatCalibration({
      fingerprintKey: 'ab',
      measuredAt: '2026-01-01T00:00:00.000Z',
      onnxruntime: '1.30.0',
      host: {
        cpuModel: 'Cortex-A76',
        isaFlags: ['asimd'],
        physicalCores: 4,
        logicalCores: 4,
        ramBytes: 8 * 2 ** 30,
        os: 'linux-arm64',
        kernel: '6.6',
        node: '20.20.2',
        onnxruntime: '1.30.0',
      },
      probes: {
        version: 1,
        gemm: { m: 512, k: 512, n: 512 },
        gemv: { k: 2048, n: 8192, weightBytes: 64 * MiB },
        llcBytes: 2 * MiB,
        request: 'auto',
        notes: ['a note'],
        budgetMs: 10_000,
      },
      elapsedMs: 10_000,
      threads: {
        '1': {
          fp32Gflops: 30,
          int8Gops: 90,
          bandwidthGBs: 5,
          spread: {
            fp32Gflops: { runs: 9, p10: 29, p90: 31, madPct: 1 },
            int8Gops: { runs: 9, p10: 88, p90: 92, madPct: 2 },
            bandwidthGBs: { runs: 9, p10: 4.9, p90: 5.1, madPct: 0.5 },
          },
        },
      },
      nodeProbes: {
        version: 1,
        profilerUs: 4.2,
        points: [{ kind: 'fp32', size: 131072, shape: 'matmul 1x256x256', us: { '1': 13.8, '4': 19.25 } }],
      },
    });
    expect(text).toContain('the profiler adds 4.2 µs per node');
    expect(text).toMatch(/ {3}fp32 {2}matmul 1x256x256 +13\.8 +19\.3/);
    expect(text).toContain('Cortex-A76 [asimd], 4 physical / 4 logical cores, 8.0 GiB RAM');
    expect(text).toContain('GEMV over 64 MiB of fp32 weights (last-level cache 2.0 MiB)');
    expect(text).toMatch(/ {6}1 +30\.0 ±1\.0 % +90\.0 ±2\.0 % +5\.0 ±0\.5 %/);
    expect(text).toContain('note: a note');
  });
});
