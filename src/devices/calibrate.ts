/**
 * Host calibration with onnxruntime itself: what this machine's kernels actually reach, per intra-op thread count.
 *
 * - fp32 GEMM GFLOPS: MatMul [n,n]·[n,n] with a constant (prepacked) weight; n starts at 512 and grows while one
 *   run at the lowest thread count stays under ~20 ms. FLOPs = 2·n³.
 * - int8 GEMM GOPS: the same shape as dynamic quantization writes it (DynamicQuantizeLinear → MatMulInteger, int8
 *   weights), which onnxruntime fuses into DynamicQuantizeMatMul. Ops = 2·n³.
 * - Memory bandwidth GB/s: a GEMV x[1,k]·W[k,n] whose fp32 weight is at least 8× the last-level cache, so every run
 *   streams it from DRAM — the pattern of SLM decoding. GB/s = weight bytes / time.
 * - Node probes (./node-probes.ts): what one graph node of each kind and size costs, for the emulator's node-by-node
 *   scaling; they get 60 % of the budget.
 *
 * Each figure is the median over timed runs after warm-up, with its run-to-run spread. A JavaScript loop would
 * measure nothing useful: onnxruntime's MLAS kernels are about 100× faster than a naive JS GEMM.
 * The whole calibration shares one time budget (default 10 s). Results are cached per host fingerprint.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { freemem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuLoad, cpuSnapshot } from '../bench/cpu-load.ts';
import { percentileSorted, sortedCopy } from '../bench/statistics.ts';
import type { HostFingerprint } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import { createSession, type Session, type TensorValue } from '../inference/session.ts';
import { type CalibrationCache, calibrationCache } from './calibration-cache.ts';
import { fingerprintKey, hostFingerprint, type ReadText, readTextFile } from './fingerprint.ts';
import { measureNodeProbes, type NodeProbes } from './node-probes.ts';
import { fillPattern, fp32GemmModel, int8GemmModel, writeGemvModel } from './probe-models.ts';

/** Above either, a calibration says it ran on a busy machine. */
const BUSY = { otherCores: 0.25, stealPct: 10 };

/** Share of the budget the node probes get (the rest goes to the GEMM, int8 and bandwidth probes). */
const NODE_PROBE_SHARE = 0.6;

/** Bumped whenever a probe changes in a way that changes its figures; cached results of other versions are ignored. */
export const PROBE_VERSION = 3;

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** Run-to-run spread of one figure, in the figure's unit (rates per run, not times). */
export interface Spread {
  /** Timed runs. */
  runs: number;
  /** 10th and 90th percentile of the per-run rates. */
  p10: number;
  p90: number;
  /** Median absolute deviation of the per-run rates, in percent of their median. */
  madPct: number;
}

export interface ThreadCalibration {
  fp32Gflops: number;
  int8Gops: number;
  bandwidthGBs: number;
  spread: { fp32Gflops: Spread; int8Gops: Spread; bandwidthGBs: Spread };
}

/** The shapes the probes ran with: figures are only comparable across hosts for the same probe version. */
export interface ProbeShapes {
  version: number;
  gemm: { m: number; k: number; n: number };
  gemv: { k: number; n: number; weightBytes: number };
  /** Last-level cache size used to size the GEMV (bytes); null when unknown. */
  llcBytes: number | null;
  /** `auto`, or the `ProbeSizes` overrides the calibration was asked for (`gemm=64;gemv=1048576`). */
  request: string;
  /** Remarks on the probes (a GEMV weight capped below 8× the cache, a thread count above the cores). */
  notes: string[];
  /** The time budget it was measured with (ms): a cached calibration answers requests of at most that budget. */
  budgetMs: number;
}

export interface Calibration {
  fingerprintKey: string;
  /** ISO 8601 time of the measurement. */
  measuredAt: string;
  onnxruntime: string;
  host: HostFingerprint;
  probes: ProbeShapes;
  /** Time the measurement took (ms), setup included. */
  elapsedMs: number;
  /** Keyed by intra-op thread count. */
  threads: Record<string, ThreadCalibration>;
  /** What one node of each kind and size costs at each of those thread counts (./node-probes.ts). */
  nodeProbes?: NodeProbes;
  /** Other processes' CPU (cores) and the hypervisor's steal (%) while this measurement ran (Linux). */
  load?: { otherCores: number; stealPct: number };
  /** Where the result was cached and whether this call reused it instead of measuring (not stored in the file). */
  cache?: { path: string; reused: boolean };
}

/** Overrides of the probe sizes, for tests and slow devices. Overridden calibrations are cached separately. */
export interface ProbeSizes {
  /** GEMM side n (m = k = n); default: auto from 512. */
  gemm?: number;
  /** GEMV weight bytes; default: 8× the last-level cache, at least 64 MiB, at most 1 GiB and a quarter of free RAM. */
  gemvBytes?: number;
}

export interface CalibrateOptions {
  /** Intra-op thread counts to measure (each ≥ 1). */
  threads: number[];
  /** Total time to spend measuring, setup included (ms); default 10 000. */
  budgetMs?: number;
  /** Progress messages. */
  log?: (message: string) => void;
  /** Measure even when a cached result exists. */
  force?: boolean;
  /** The cache folder; null: no cache. Default: `defaultCalibrationCacheDir()`. */
  cacheDir?: string | null;
  sizes?: ProbeSizes;
  /** This host's fingerprint; default: `hostFingerprint()`. */
  fingerprint?: HostFingerprint;
  /** Reads /sys files (the cache size); tests pass canned texts. */
  readText?: ReadText;
}

/** `32768K`, `512K`, `2M`, `1G` or plain bytes → bytes; null when unreadable. */
export function parseCacheSize(text: string): number | null {
  const match = /^(\d+)\s*([KMG]?)i?B?$/i.exec(text.trim());
  if (!match) return null;
  const unit = (match[2] ?? '').toUpperCase();
  const scale = unit === 'K' ? 1024 : unit === 'M' ? MiB : unit === 'G' ? GiB : 1;
  return Number(match[1]) * scale;
}

/**
 * The largest data or unified cache at the highest level that cpu0 lists under
 * /sys/devices/system/cpu/cpu0/cache/index*; null when the folder is missing (macOS, some Arm boards, containers).
 */
export function lastLevelCacheBytes(readText: ReadText = readTextFile): number | null {
  let bestLevel = -1;
  let bestBytes: number | null = null;
  for (let index = 0; index < 16; index++) {
    const dir = `/sys/devices/system/cpu/cpu0/cache/index${index}`;
    const level = Number(readText(`${dir}/level`)?.trim());
    const type = readText(`${dir}/type`)?.trim();
    const size = parseCacheSize(readText(`${dir}/size`) ?? '');
    if (!Number.isInteger(level) || size === null || type === 'Instruction') continue;
    if (level > bestLevel || (level === bestLevel && size > (bestBytes ?? 0))) {
      bestLevel = level;
      bestBytes = size;
    }
  }
  return bestBytes;
}

/** The GEMV weight size: ≥ 8× the LLC (32 MiB assumed when unknown) and ≥ 64 MiB, ≤ 1 GiB and ≤ ¼ of free memory. */
export function gemvWeightBytes(
  llcBytes: number | null,
  freeBytes: number,
): { bytes: number; note?: string } {
  const wanted = Math.max(8 * (llcBytes ?? 32 * MiB), 64 * MiB);
  const quarterFree = Math.floor(freeBytes / 4);
  const bytes = Math.max(4 * MiB, Math.min(wanted, GiB, quarterFree));
  if (bytes >= wanted) return { bytes };
  const why = quarterFree < GiB ? 'a quarter of free memory' : 'the 1 GiB limit';
  return {
    bytes,
    note: `GEMV weight capped at ${(bytes / MiB).toFixed(0)} MiB (${why}) instead of ${(wanted / MiB).toFixed(0)} MiB (8x the last-level cache): the bandwidth may be inflated by the cache`,
  };
}

/** The GEMV shape for about `bytes` of fp32 weight: k = 2048 (or less for tiny weights), n a multiple of 16. */
export function gemvShape(bytes: number): { k: number; n: number; weightBytes: number } {
  const k = Math.min(2048, Math.max(16, 2 ** Math.floor(Math.log2(Math.sqrt(bytes / 4)))));
  const n = Math.max(16, Math.floor(bytes / 4 / k / 16) * 16);
  return { k, n, weightBytes: k * n * 4 };
}

/** The rates of individual runs summarized: median and spread. */
export function summarizeRates(rates: readonly number[]): { value: number; spread: Spread } {
  const sorted = sortedCopy(rates);
  const value = percentileSorted(sorted, 50);
  const deviations = sortedCopy(Array.from(sorted, (r) => Math.abs(r - value)));
  return {
    value,
    spread: {
      runs: sorted.length,
      p10: percentileSorted(sorted, 10),
      p90: percentileSorted(sorted, 90),
      madPct: value > 0 ? (percentileSorted(deviations, 50) / value) * 100 : 0,
    },
  };
}

interface TimingPlan {
  /** Stop starting timed runs after this time (performance.now()). */
  until: number;
  warmupRuns: number;
  minRuns: number;
  maxRuns: number;
}

/** Warm-up, then timed runs until the slice ends (at least `minRuns`). Returns the run times in ms. */
async function timeRuns(
  session: Session,
  feeds: Record<string, TensorValue>,
  plan: TimingPlan,
): Promise<number[]> {
  const start = performance.now();
  const warmupUntil = start + (plan.until - start) * 0.15;
  for (let i = 0; i < plan.warmupRuns || performance.now() < warmupUntil; i++) {
    await session.run(feeds);
    if (i >= 50) break;
  }
  const times: number[] = [];
  while (times.length < plan.minRuns || (performance.now() < plan.until && times.length < plan.maxRuns)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

type ProbeKind = 'fp32' | 'int8' | 'gemv';

/** Relative time given to each probe (the GEMV also pays for loading a large weight). */
const PROBE_WEIGHT: Record<ProbeKind, number> = { fp32: 1, int8: 1, gemv: 1.5 };

function floatInput(dims: number[], seed: number): TensorValue {
  const size = dims.reduce((a, b) => a * b, 1);
  return { type: 'float32', dims, data: fillPattern(new Float32Array(size), seed) };
}

function validateThreads(threads: readonly number[]): number[] {
  const unique = [...new Set(threads)].sort((a, b) => a - b);
  if (unique.length === 0 || unique.some((t) => !Number.isInteger(t) || t < 1 || t > 1024)) {
    throw new ConfigurationError(
      `thread counts must be whole numbers from 1 to 1024, got "${threads.join(',')}"`,
      {
        subject: 'threads',
        fix: 'Pass thread counts such as 1,2,4',
      },
    );
  }
  return unique;
}

/** Picks n for the GEMM probe: the largest of 512…2048 whose estimated run (from one at 512) stays ≤ 20 ms. */
export function chooseGemmSize(msAt512: number): number {
  let chosen = 512;
  for (const n of [640, 768, 1024, 1536, 2048]) {
    if (msAt512 * (n / 512) ** 3 <= 20) chosen = n;
  }
  return chosen;
}

async function pilotGemmSize(threads: number): Promise<number> {
  const session = await createSession(fp32GemmModel(512, 512, 512), { intraOpThreads: threads });
  try {
    const feeds = { A: floatInput([512, 512], 1) };
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      if (i > 0) best = Math.min(best, performance.now() - t0);
    }
    return chooseGemmSize(best);
  } finally {
    await session.release();
  }
}

/**
 * A cache entry serves the request when it was made by this probe version, with these sizes, and with at least this
 * time budget (a longer calibration is a more precise one).
 */
function serves(cached: Calibration, requestKey: string, budgetMs: number): boolean {
  return (
    cached.probes?.version === PROBE_VERSION &&
    cached.probes.request === requestKey &&
    (cached.probes.budgetMs ?? 0) >= budgetMs
  );
}

/** …and answers it outright when it also covers these thread counts. */
function answers(
  cached: Calibration,
  requestKey: string,
  budgetMs: number,
  threads: readonly number[],
): boolean {
  return (
    serves(cached, requestKey, budgetMs) && threads.every((t) => cached.threads?.[String(t)] !== undefined)
  );
}

function validateSizes(sizes: ProbeSizes | undefined): void {
  const gemm = sizes?.gemm;
  if (gemm !== undefined && !(Number.isInteger(gemm) && gemm >= 1 && gemm <= 8192)) {
    throw new ConfigurationError(`the GEMM probe size must be a whole number from 1 to 8192, got ${gemm}`, {
      subject: 'gemm size',
    });
  }
  const gemv = sizes?.gemvBytes;
  if (gemv !== undefined && !(Number.isInteger(gemv) && gemv >= 1024 && gemv <= 4 * GiB)) {
    throw new ConfigurationError(`the GEMV probe weight must be 1 KiB to 4 GiB, got ${gemv} bytes`, {
      subject: 'gemv bytes',
    });
  }
}

function sizesKey(sizes: ProbeSizes | undefined): string {
  if (!sizes || (sizes.gemm === undefined && sizes.gemvBytes === undefined)) return 'auto';
  return `gemm=${sizes.gemm ?? 'auto'};gemv=${sizes.gemvBytes ?? 'auto'}`;
}

/**
 * Calibrates this host (see the file comment), or returns the cached calibration for its fingerprint when that one
 * covers the requested thread counts and `force` is not set. Thread counts missing from a cached result are
 * measured with the cached shapes and merged into it.
 */
export async function calibrateHost(options: CalibrateOptions): Promise<Calibration> {
  const threads = validateThreads(options.threads);
  const budgetMs = options.budgetMs ?? 10_000;
  if (!(budgetMs > 0)) {
    throw new ConfigurationError(`the calibration budget must be a positive number of ms, got ${budgetMs}`, {
      subject: 'budgetMs',
    });
  }
  validateSizes(options.sizes);
  const log = options.log ?? (() => {});
  const readText = options.readText ?? readTextFile;
  const host = options.fingerprint ?? (await hostFingerprint());
  const key = fingerprintKey(host);
  const requestKey = sizesKey(options.sizes);
  const cache: CalibrationCache | undefined =
    options.cacheDir === null ? undefined : calibrationCache(options.cacheDir);

  let previous: Calibration | undefined;
  if (cache && !options.force) {
    const cached = cache.read(key);
    if (cached && answers(cached, requestKey, budgetMs, threads)) {
      log(
        `using the cached calibration of ${cached.measuredAt} (${cache.pathOf(key)}); --force measures again`,
      );
      return { ...cached, cache: { path: cache.pathOf(key), reused: true } };
    }
    if (cached && serves(cached, requestKey, budgetMs)) previous = cached;
  }
  const missing = previous ? threads.filter((t) => previous?.threads[String(t)] === undefined) : threads;

  const started = performance.now();
  const deadline = started + budgetMs * (1 - NODE_PROBE_SHARE);
  const notes: string[] = [...(previous?.probes.notes ?? [])];
  for (const t of missing) {
    if (t > host.logicalCores) {
      const note = `${t} threads is more than the ${host.logicalCores} logical cores: figures at ${t} threads are oversubscribed`;
      if (!notes.includes(note)) notes.push(note);
      log(note);
    }
  }

  // Shapes: from the cached result when extending it, else chosen now.
  const llcBytes = previous ? previous.probes.llcBytes : lastLevelCacheBytes(readText);
  let gemmN = previous?.probes.gemm.n ?? options.sizes?.gemm;
  if (gemmN === undefined) {
    gemmN = await pilotGemmSize(missing[0] ?? 1);
    log(`GEMM probe size ${gemmN}×${gemmN}×${gemmN}`);
  }
  let gemv = previous?.probes.gemv;
  if (!gemv) {
    let bytes = options.sizes?.gemvBytes;
    if (bytes === undefined) {
      const free = Math.min(freemem(), host.cgroup?.memoryMax ?? Number.POSITIVE_INFINITY);
      const sized = gemvWeightBytes(llcBytes, free);
      bytes = sized.bytes;
      if (sized.note) {
        notes.push(sized.note);
        log(sized.note);
      }
    }
    gemv = gemvShape(bytes);
  }
  const probes: ProbeShapes = {
    version: PROBE_VERSION,
    gemm: { m: gemmN, k: gemmN, n: gemmN },
    gemv,
    llcBytes,
    request: requestKey,
    notes,
    budgetMs,
  };

  const dir = mkdtempSync(join(tmpdir(), 'slmops-calibrate-'));
  const before = cpuSnapshot();
  const measured: Record<string, ThreadCalibration> = {};
  let nodeProbes: NodeProbes | undefined;
  try {
    const gemvPath = writeGemvModel(dir, gemv.k, gemv.n);
    const models: Record<'fp32' | 'int8', Uint8Array> = {
      fp32: fp32GemmModel(gemmN, gemmN, gemmN),
      int8: int8GemmModel(gemmN, gemmN, gemmN),
    };
    const gemmFeeds = { A: floatInput([gemmN, gemmN], 2) };
    const gemvFeeds = { x: floatInput([1, gemv.k], 3) };
    const gemmOps = 2 * gemmN ** 3;

    const queue: { threads: number; kind: ProbeKind }[] = missing.flatMap((t) =>
      (['fp32', 'int8', 'gemv'] as const).map((kind) => ({ threads: t, kind })),
    );
    let remainingWeight = queue.reduce((sum, p) => sum + PROBE_WEIGHT[p.kind], 0);
    const rates = new Map<string, number[]>();
    for (const probe of queue) {
      const now = performance.now();
      const share = PROBE_WEIGHT[probe.kind] / remainingWeight;
      remainingWeight -= PROBE_WEIGHT[probe.kind];
      const sliceEnd = now + Math.max(0, deadline - now) * share;
      const session = await createSession(probe.kind === 'gemv' ? gemvPath : models[probe.kind], {
        intraOpThreads: probe.threads,
        interOpThreads: 1,
      });
      let times: number[];
      try {
        times = await timeRuns(session, probe.kind === 'gemv' ? gemvFeeds : gemmFeeds, {
          until: sliceEnd,
          warmupRuns: 3,
          minRuns: 5,
          maxRuns: 2000,
        });
      } finally {
        await session.release();
      }
      const work = probe.kind === 'gemv' ? gemv.weightBytes : gemmOps;
      // GFLOPS, GOPS and GB/s: work per ms / 1e6.
      const perRun = times.map((ms) => work / ms / 1e6);
      rates.set(`${probe.threads}:${probe.kind}`, perRun);
      const summary = summarizeRates(perRun);
      const unit = probe.kind === 'fp32' ? 'GFLOPS' : probe.kind === 'int8' ? 'GOPS' : 'GB/s';
      log(
        `${probe.threads} thread${probe.threads === 1 ? '' : 's'} ${probe.kind === 'gemv' ? 'GEMV bandwidth' : `${probe.kind} GEMM`}: ` +
          `${summary.value.toFixed(1)} ${unit} (±${summary.spread.madPct.toFixed(1)} % MAD, ${times.length} runs)`,
      );
    }
    for (const t of missing) {
      const fp32 = summarizeRates(rates.get(`${t}:fp32`) ?? []);
      const int8 = summarizeRates(rates.get(`${t}:int8`) ?? []);
      const bw = summarizeRates(rates.get(`${t}:gemv`) ?? []);
      measured[String(t)] = {
        fp32Gflops: fp32.value,
        int8Gops: int8.value,
        bandwidthGBs: bw.value,
        spread: { fp32Gflops: fp32.spread, int8Gops: int8.spread, bandwidthGBs: bw.spread },
      };
    }
    nodeProbes = await measureNodeProbes({
      threads: missing,
      budgetMs: budgetMs * NODE_PROBE_SHARE,
      log,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const busy = cpuLoad(before, cpuSnapshot());
  const load = busy ? { otherCores: busy.otherCores, stealPct: busy.stealPct } : undefined;
  if (load && (load.otherCores > BUSY.otherCores || load.stealPct > BUSY.stealPct)) {
    const note =
      `other processes used ${load.otherCores.toFixed(2)} cores and the hypervisor stole ${load.stealPct.toFixed(1)} % ` +
      'of the CPU while calibrating: the figures, the node probes most, may be off; calibrate again on a quiet machine (--force)';
    notes.push(note);
    log(note);
  }
  const allThreads = { ...(previous?.threads ?? {}), ...measured };
  const ordered = Object.fromEntries(
    Object.keys(allThreads)
      .sort((a, b) => Number(a) - Number(b))
      .map((t) => [t, allThreads[t]!]),
  );
  const calibration: Calibration = {
    fingerprintKey: key,
    measuredAt: new Date().toISOString(),
    onnxruntime: host.onnxruntime,
    host,
    probes,
    elapsedMs: Math.round((previous?.elapsedMs ?? 0) + performance.now() - started),
    threads: ordered,
    ...(nodeProbes ? { nodeProbes: mergeNodeProbes(previous?.nodeProbes, nodeProbes) } : {}),
    ...(load ? { load } : {}),
  };
  if (!cache) return calibration;
  const path = cache.write(key, calibration);
  log(`calibration cached at ${path}`);
  return { ...calibration, cache: { path, reused: false } };
}

/** Node probes of more thread counts measured later join those of the cached calibration, probe by probe. */
function mergeNodeProbes(previous: NodeProbes | undefined, measured: NodeProbes): NodeProbes {
  if (!previous || previous.version !== measured.version) return measured;
  return {
    ...measured,
    profilerUs: previous.profilerUs,
    points: measured.points.map((point) => {
      const before = previous.points.find((p) => p.kind === point.kind && p.shape === point.shape);
      return before ? { ...point, us: { ...before.us, ...point.us } } : point;
    }),
  };
}
