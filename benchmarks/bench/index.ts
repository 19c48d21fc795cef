/**
 * bench: does `slmops bench` measure what it claims, on a noisy shared machine?
 *
 *   overhead  Harness overhead: our timing path (measureInterleaved, one arm) against a bare loop of session.run on
 *             the same session and feeds, in alternating blocks in the same process (tiny-shakespeare-lm, prefill
 *             128, 1 thread). Overhead = ours/bare − 1 with a hierarchical bootstrap CI. Target ≤ 2 %.
 *   aa        A/A false alarms: fresh `slmops bench <head> --baseline <base>` processes with the full protocol where
 *             head and base are the same file copied to two paths, on the LM prefill (seq 128) and on the KV
 *             decode step (128 cached tokens). Verdict per run with tolerance 5 %: fail when the CI's lower bound
 *             > 1.05, pass when its upper bound ≤ 1.05, else inconclusive. Targets: fail ≤ 2 %, inconclusive ≤ 10 %.
 *   detect    Detection: a head that computes exactly the same outputs 12–15 % slower (./slower-head.ts), tuned and
 *             measured here, against the original, with the same fresh full-protocol runs. Target: ≥ 95 % fail.
 *   scaling   Emulation of thread scaling, out of sample: for 6 models (LM and KV decoder, fp32/int8/int4) at several
 *             prefill lengths and KV decode steps, predict the 2-thread p50 from the 1-thread p50, the 1-thread
 *             per-node profile and this host's calibration at 1 and 2 threads (src/bench/predict.ts: the node
 *             probes of the calibration made before the points, as a cached one would be; the same probes
 *             measured again with each point, which takes the host's drift out; every set of the run pooled,
 *             which takes the calibration's noise out; the roofline), then measure it. Target: ≥ 90 % within ±10 %.
 *
 *   node benchmarks/run.mjs bench [--only overhead,aa,detect,scaling] [--runs 60] [--detect-runs 40]
 *        [--dir /tmp/slmops-bench-validation] [--scaling-processes 6] [--scaling-iterations 100]
 *        [--overhead-processes 3] [--overhead-blocks 20] [--overhead-block 50] [--slowdown 0.135]
 *        [--detect-cases lm,kv] [--k-lm N] [--k-kv N] [--order-processes 20] [--calibration-ms 20000]
 *        [--wait-quiet 0.25] [--wait-max 300] [--quiet-retries 3] [--protocol-processes 30] [--point-probe-ms 4000]
 * Not run by default: --only order (A/A bias diagnostic: arm load order × ABBA seeds), --only protocol (A/A
 * verdict rates for other process/iteration counts), --only rescore (score saved scaling records again; with
 * [--pool-dirs D1,D2] the pooled predictor pools the probe sets of those saved runs instead of this one's),
 * --only probe-repeat (how far node-probe sets measured back to back disagree: [--probe-sets 4] [--probe-ms 4000]
 * [--rounds 8,16,24]),
 * --only probe-gaps (products' 2-thread ÷ 1-thread time by the pause after them: [--gaps 0,3,8,20] [--probe-sets 2]).
 *
 * The CLI is bundled from src/cli/main.ts to benchmarks/.out/slmops-cli.mjs and run as a user runs it:
 *   node benchmarks/.out/slmops-cli.mjs bench <head> --baseline <base> --profile github-ubuntu-x64 --mode native
 *        --json --seq 128 [--workload decode]
 * Every run also records how many cores other processes used meanwhile (./cpu-load.ts). Raw records go to
 * <dir>/results/*.jsonl. Benchmarks print; they do not gate (exit code 0 unless something crashed).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { measureInterleaved } from '../../src/bench/interleave.ts';
import { type NodeCost, nodeCosts } from '../../src/bench/node-costs.ts';
import { predictFromNodeProbes, predictLatency, type Throughputs } from '../../src/bench/predict.ts';
import {
  bootstrapRatioCi,
  median,
  percentileSorted,
  processRatioCi,
  sortedCopy,
} from '../../src/bench/statistics.ts';
import { runTimingProcess, type TimingResult, type TimingSpec } from '../../src/bench/timing-process.ts';
import { type WorkloadSpec, workloadFeeds } from '../../src/bench/workload.ts';
import { compressModel } from '../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { type Calibration, calibrateHost } from '../../src/devices/calibrate.ts';
import { measureNodeProbes, type NodeProbePoint, type NodeProbes } from '../../src/devices/node-probes.ts';
import { loadOnnxRuntime } from '../../src/inference/ort.ts';
import { createSession, type ProfileEvent, type TensorValue } from '../../src/inference/session.ts';
import { type CpuLoad, cpuLoad, cpuSnapshot, waitForQuiet } from './cpu-load.ts';
import { writeSlowerHead } from './slower-head.ts';

// ---------------------------------------------------------------------------------------------------------------
// Arguments and paths

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const SELF = fileURLToPath(import.meta.url);
const ROOT = resolve(dirname(SELF), '..', '..');
const CLI = join(ROOT, 'benchmarks', '.out', 'slmops-cli.mjs');
const LM = join(ROOT, 'test/fixtures/models/tiny-shakespeare-lm/model.onnx');
const KV = join(ROOT, 'test/fixtures/models/tiny-shakespeare-kv/model.onnx');
const DIR = resolve(flag('dir', '/tmp/slmops-bench-validation'));
const RESULTS = join(DIR, 'results');
const TOLERANCE = 1.05;
const PROFILE = 'github-ubuntu-x64';
/**
 * With --wait-quiet <cores>: before each measurement, wait (at most --wait-max seconds) until other processes use
 * less than that many cores; the scaling section also retries a point measured while others were busy.
 * Default: off for aa/detect (a gate must survive noise), 0.25 core for scaling (thread scaling needs both cores).
 */
const WAIT_QUIET = Number(flag('wait-quiet', '0'));
const WAIT_MAX_MS = Number(flag('wait-max', '300')) * 1000;
/** The bench's thread count for that profile in native mode: min(profile cores = 2, this host's logical cores). */
const BENCH_THREADS = Math.max(1, Math.min(2, cpus().length));

const print = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};
const pct = (v: number, digits = 1): string => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(digits)} %`;
const fix = (v: number, digits = 3): string => v.toFixed(digits);

function record(section: string, value: unknown): void {
  mkdirSync(RESULTS, { recursive: true });
  appendFileSync(join(RESULTS, `${section}.jsonl`), `${JSON.stringify(value)}\n`);
}

function quantile(values: number[], p: number): number {
  return percentileSorted(sortedCopy(values), p);
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes (this bundle started again with --child <kind> <json>)

interface ProfileChildSpec {
  path: string;
  workload: WorkloadSpec;
  threads: number;
  runs: number;
}

interface ProfileChildResult {
  /** As src/bench/profile-process.ts computes them: mean over every run, the first (cold) run included. */
  nodes: NodeCost[];
  /** The same without the first run. */
  warmNodes: NodeCost[];
  firstRunKernelUs: number;
  warmRunKernelUs: number;
}

/** src/bench/profile-process.ts step by step, keeping the events to also split off the first run. */
async function profileChild(spec: ProfileChildSpec): Promise<ProfileChildResult> {
  const builder = await createSession(spec.path, { intraOpThreads: spec.threads });
  const feeds = await workloadFeeds(builder, spec.workload);
  await builder.release();
  const session = await createSession(spec.path, { intraOpThreads: spec.threads, profiling: true });
  let events: ProfileEvent[];
  try {
    for (let i = 0; i < spec.runs; i++) await session.run(feeds);
    events = session.endProfiling();
  } finally {
    await session.release();
  }
  const runs = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run')
    .sort((a, b) => a.ts - b.ts);
  const firstEnd = runs[0] ? runs[0].ts + runs[0].dur : Number.NEGATIVE_INFINITY;
  const kernel = (e: ProfileEvent) => e.cat === 'Node' && e.name.endsWith('_kernel_time');
  const warm = events.filter((e) => !kernel(e) || e.ts > firstEnd);
  const sum = (list: ProfileEvent[]) => list.filter(kernel).reduce((s, e) => s + e.dur, 0);
  return {
    nodes: nodeCosts(events, spec.runs),
    warmNodes: nodeCosts(warm, spec.runs - 1),
    firstRunKernelUs: sum(events.filter((e) => e.ts <= firstEnd)),
    warmRunKernelUs: sum(events.filter((e) => e.ts > firstEnd)) / (spec.runs - 1),
  };
}

interface OverheadChildSpec {
  path: string;
  threads: number;
  blocks: number;
  block: number;
  seed: number;
}

interface OverheadChildResult {
  /** Per block: latencies (ms) from measureInterleaved with one arm. */
  ours: number[][];
  /** Per block: latencies (ms) of a bare loop of session.run, each call timed with hrtime. */
  bare: number[][];
  /** Per block: wall time of an untimed loop of session.run / iterations (ms): no per-call timer at all. */
  bareMean: number[];
  /** Per block: latencies (ms) of onnxruntime-node's own InferenceSession.run with prebuilt ort.Tensor feeds. */
  raw: number[][];
}

async function overheadChild(spec: OverheadChildSpec): Promise<OverheadChildResult> {
  const session = await createSession(spec.path, { intraOpThreads: spec.threads });
  const feeds = await workloadFeeds(session, { kind: 'prefill', batch: 1, sequenceLength: 128, dims: {} });
  // A raw onnxruntime session with the options createSession uses, for the cost of our Session wrapper.
  const ort = await loadOnnxRuntime();
  const rawSession = await ort.InferenceSession.create(spec.path, {
    intraOpNumThreads: spec.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  const rawFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const [name, value] of Object.entries(feeds) as [string, TensorValue][]) {
    rawFeeds[name] = new ort.Tensor(value.type, value.data as never, value.dims);
  }
  const arm = { name: 'ours', session, feeds };
  const bareBlock = async (): Promise<number[]> => {
    const times = new Float64Array(spec.block);
    for (let i = 0; i < spec.block; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    return Array.from(times);
  };
  const bareMeanBlock = async (): Promise<number> => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < spec.block; i++) await session.run(feeds);
    return Number(process.hrtime.bigint() - t0) / 1e6 / spec.block;
  };
  const rawBlock = async (): Promise<number[]> => {
    const times = new Float64Array(spec.block);
    for (let i = 0; i < spec.block; i++) {
      const t0 = process.hrtime.bigint();
      await rawSession.run(rawFeeds);
      times[i] = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    return Array.from(times);
  };
  // Warm-up as the timing processes do (≥ 5 runs and ≥ 1 s), on both sessions.
  const started = performance.now();
  for (let i = 0; i < 5 || performance.now() - started < 1000; i++) {
    await session.run(feeds);
    await rawSession.run(rawFeeds);
  }
  const result: OverheadChildResult = { ours: [], bare: [], bareMean: [], raw: [] };
  const order = ['ours', 'bare', 'bareMean', 'raw'] as const;
  for (let b = 0; b < spec.blocks; b++) {
    // Rotate the order of the four loops from block to block, so drift falls on each alike.
    for (let k = 0; k < order.length; k++) {
      const which = order[(b + k + spec.seed) % order.length]!;
      if (which === 'ours') {
        const samples = await measureInterleaved([arm], {
          iterations: spec.block,
          warmupRuns: 0,
          warmupMs: 0,
        });
        result.ours.push(samples.ours!);
      } else if (which === 'bare') result.bare.push(await bareBlock());
      else if (which === 'bareMean') result.bareMean.push(await bareMeanBlock());
      else result.raw.push(await rawBlock());
    }
  }
  await session.release();
  await rawSession.release();
  return result;
}

async function runChildMode(): Promise<void> {
  const kind = args[1];
  const spec = JSON.parse(args[2] ?? '{}');
  let result: unknown;
  if (kind === 'timing') result = await runTimingProcess(spec as TimingSpec);
  else if (kind === 'profile') result = await profileChild(spec as ProfileChildSpec);
  else if (kind === 'overhead') result = await overheadChild(spec as OverheadChildSpec);
  else if (kind === 'node-probes') {
    const { budgetMs, gap, rounds } = spec as { budgetMs: number; gap?: number; rounds?: number };
    result = await measureNodeProbes({
      threads: [1, 2],
      budgetMs,
      ...(gap === undefined ? {} : { gap }),
      ...(rounds === undefined ? {} : { rounds }),
    });
  } else throw new Error(`unknown child kind ${kind}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function child<T>(kind: string, spec: unknown): T {
  const r = spawnSync(process.execPath, [SELF, '--child', kind, JSON.stringify(spec)], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    cwd: ROOT,
  });
  if (r.status !== 0) throw new Error(`${kind} child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}

// ---------------------------------------------------------------------------------------------------------------
// The CLI, as a user runs it

async function buildCli(): Promise<void> {
  mkdirSync(dirname(CLI), { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
    outfile: CLI,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node'],
    banner: {
      js: "import { createRequire as __slmopsRequire } from 'node:module'; const require = __slmopsRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
}

type Verdict = 'fail' | 'inconclusive' | 'pass';

/** The gate's rule (issue 5) with tolerance 5 %. */
export function verdict(ci95: [number, number]): Verdict {
  if (ci95[0] > TOLERANCE) return 'fail';
  if (ci95[1] <= TOLERANCE) return 'pass';
  return 'inconclusive';
}

interface CliRun {
  ok: boolean;
  error?: string;
  ratio: number;
  ci95: [number, number];
  verdict: Verdict;
  headP50: number;
  seconds: number;
  waitedSeconds: number;
  load?: CpuLoad;
  loadavg1: number;
}

function benchArgs(head: string, base: string, decode: boolean): string[] {
  return [
    CLI,
    'bench',
    head,
    '--baseline',
    base,
    '--profile',
    PROFILE,
    '--mode',
    'native',
    '--json',
    '--seq',
    '128',
    ...(decode ? ['--workload', 'decode'] : []),
  ];
}

function commandLine(argv: string[]): string {
  return ['node', ...argv.map((a) => (a.startsWith(ROOT) ? a.slice(ROOT.length + 1) : a))].join(' ');
}

function runCli(head: string, base: string, decode: boolean): CliRun {
  const waited = WAIT_QUIET > 0 ? waitForQuiet(WAIT_QUIET, WAIT_MAX_MS).waitedMs / 1000 : 0;
  const before = cpuSnapshot();
  const la = loadavg()[0]!;
  const started = performance.now();
  const r = spawnSync(process.execPath, benchArgs(head, base, decode), {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const seconds = (performance.now() - started) / 1000;
  const load = cpuLoad(before, cpuSnapshot());
  const common = { seconds, waitedSeconds: waited, loadavg1: la, ...(load ? { load } : {}) };
  if (r.status !== 0) {
    return {
      ok: false,
      error: r.stderr.trim().split('\n').slice(-3).join(' '),
      ratio: Number.NaN,
      ci95: [Number.NaN, Number.NaN],
      verdict: 'inconclusive',
      headP50: Number.NaN,
      ...common,
    };
  }
  const results = JSON.parse(r.stdout) as {
    latencyMs: { p50: number };
    comparison: { ratioP50: number; ci95: [number, number] };
  }[];
  const c = results[0]!.comparison;
  return {
    ok: true,
    ratio: c.ratioP50,
    ci95: c.ci95,
    verdict: verdict(c.ci95),
    headP50: results[0]!.latencyMs.p50,
    ...common,
  };
}

interface Tally {
  runs: CliRun[];
}

function tallyLine(label: string, t: Tally, quietCores = 0.25): string[] {
  const ok = t.runs.filter((r) => r.ok);
  const count = (list: CliRun[], v: Verdict) => list.filter((r) => r.verdict === v).length;
  const share = (list: CliRun[], v: Verdict) =>
    list.length ? `${((count(list, v) / list.length) * 100).toFixed(1)} %` : '–';
  const quiet = ok.filter((r) => (r.load?.otherCores ?? 0) < quietCores);
  const busy = ok.filter((r) => (r.load?.otherCores ?? 0) >= quietCores);
  const ratios = ok.map((r) => r.ratio);
  const widths = ok.map((r) => r.ci95[1] / r.ci95[0] - 1);
  const lines = [
    `${label}: ${ok.length} runs (${t.runs.length - ok.length} crashed): fail ${count(ok, 'fail')} (${share(ok, 'fail')}), inconclusive ${count(ok, 'inconclusive')} (${share(ok, 'inconclusive')}), pass ${count(ok, 'pass')} (${share(ok, 'pass')})`,
    `    ratio median ${fix(median(ratios))}, p5–p95 ${fix(quantile(ratios, 5))}–${fix(quantile(ratios, 95))}; CI width (hi/lo − 1) median ${pct(median(widths))}, p90 ${pct(quantile(widths, 90))}; head p50 median ${fix(median(ok.map((r) => r.headP50)))} ms; ${fix(median(t.runs.map((r) => r.seconds)), 1)} s per run`,
    `    other processes used ${fix(median(ok.map((r) => r.load?.otherCores ?? Number.NaN)), 2)} cores (median; p90 ${fix(
      quantile(
        ok.map((r) => r.load?.otherCores ?? Number.NaN),
        90,
      ),
      2,
    )}) of ${cpus().length}; quiet runs (< ${quietCores} core): ${quiet.length}, fail ${count(quiet, 'fail')} / inconclusive ${count(quiet, 'inconclusive')} / pass ${count(quiet, 'pass')}; busy runs: ${busy.length}, fail ${count(busy, 'fail')} / inconclusive ${count(busy, 'inconclusive')} / pass ${count(busy, 'pass')}`,
  ];
  return lines;
}

/** Runs `runs` CLI benches for each case, alternating between the cases. */
function runCases(
  section: string,
  cases: { label: string; head: string; base: string; decode: boolean }[],
  runs: number,
): Map<string, Tally> {
  const tallies = new Map(cases.map((c) => [c.label, { runs: [] } as Tally]));
  for (const c of cases) print(`  command (${c.label}): ${commandLine(benchArgs(c.head, c.base, c.decode))}`);
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    for (const c of cases) {
      const r = runCli(c.head, c.base, c.decode);
      tallies.get(c.label)!.runs.push(r);
      record(section, { case: c.label, run: i + 1, ...r, at: new Date().toISOString() });
      progress(
        `${section} ${c.label} ${i + 1}/${runs}: ${r.ok ? `ratio ${fix(r.ratio)} CI [${fix(r.ci95[0])}, ${fix(r.ci95[1])}] ${r.verdict}` : `CRASHED ${r.error}`} (${fix(r.seconds, 1)} s, others ${fix(r.load?.otherCores ?? Number.NaN, 2)} cores)`,
      );
    }
    if (i === 0) {
      const perRound = (performance.now() - started) / 1000;
      progress(`${section}: ~${((perRound * runs) / 60).toFixed(0)} min expected for ${runs} rounds`);
    }
  }
  return tallies;
}

// ---------------------------------------------------------------------------------------------------------------
// Sections

async function sectionOverhead(): Promise<void> {
  const processes = Number(flag('overhead-processes', '3'));
  const blocks = Number(flag('overhead-blocks', '20'));
  const block = Number(flag('overhead-block', '50'));
  print(`\n## 1. Harness overhead (tiny-shakespeare-lm, prefill 128, 1 thread)`);
  print(
    `  ${processes} fresh processes × ${blocks} blocks × ${block} runs per loop; the 4 loops rotate their order from block to block`,
  );
  const ours: number[][] = [];
  const bare: number[][] = [];
  const raw: number[][] = [];
  const bareMean: number[] = [];
  const before = cpuSnapshot();
  for (let p = 0; p < processes; p++) {
    const r = child<OverheadChildResult>('overhead', { path: LM, threads: 1, blocks, block, seed: p });
    ours.push(...r.ours);
    bare.push(...r.bare);
    raw.push(...r.raw);
    bareMean.push(...r.bareMean);
  }
  const load = cpuLoad(before, cpuSnapshot());
  const medianRatio = bootstrapRatioCi(ours, bare);
  const rawRatio = bootstrapRatioCi(ours, raw);
  // Means: ours (per-call timer) against the block wall time of an untimed loop. Bootstrap over blocks.
  const oursMeans = ours.map((g) => g.reduce((a, b) => a + b, 0) / g.length);
  const meanRatio = bootstrapRatioCi(
    oursMeans.map((m) => [m]),
    bareMean.map((m) => [m]),
  );
  const ok = medianRatio.ci95[1] - 1 <= 0.02;
  print(
    `  median latency: ours ${fix(median(ours.flat()))} ms, bare session.run loop ${fix(median(bare.flat()))} ms → overhead ${pct(medianRatio.ratio - 1, 2)} (95 % CI ${pct(medianRatio.ci95[0] - 1, 2)} … ${pct(medianRatio.ci95[1] - 1, 2)})  target ≤ 2 %: ${ok ? 'ok' : 'MISSED'}`,
  );
  print(
    `  mean latency: ours ${fix(oursMeans.reduce((a, b) => a + b, 0) / oursMeans.length)} ms, untimed loop (block wall time / runs) ${fix(bareMean.reduce((a, b) => a + b, 0) / bareMean.length)} ms → ratio of means ${pct(meanRatio.ratio - 1, 2)} (95 % CI ${pct(meanRatio.ci95[0] - 1, 2)} … ${pct(meanRatio.ci95[1] - 1, 2)})`,
  );
  print(
    `  (supplementary) ours vs onnxruntime-node InferenceSession.run with prebuilt ort.Tensor feeds (another session, same options): median ${fix(median(raw.flat()))} ms → our Session wrapper + timer cost ${pct(rawRatio.ratio - 1, 2)} (95 % CI ${pct(rawRatio.ci95[0] - 1, 2)} … ${pct(rawRatio.ci95[1] - 1, 2)})`,
  );
  print(`  other processes used ${fix(load?.otherCores ?? Number.NaN, 2)} cores meanwhile`);
  record('overhead', { processes, blocks, block, medianRatio, meanRatio, rawRatio, load, ok });
}

function copyPair(source: string, name: string): { head: string; base: string } {
  const head = join(DIR, name, 'head', 'model.onnx');
  const base = join(DIR, name, 'base', 'model.onnx');
  for (const p of [head, base]) {
    rmSync(dirname(p), { recursive: true, force: true });
    mkdirSync(dirname(p), { recursive: true });
    copyFileSync(source, p);
  }
  return { head, base };
}

async function sectionAa(): Promise<void> {
  const runs = Number(flag('runs', '60'));
  print(`\n## 2. A/A false alarms (full protocol, head = base copied to two paths, ${runs} runs each)`);
  const lm = copyPair(LM, 'aa-lm');
  const kv = copyPair(KV, 'aa-kv');
  const tallies = runCases(
    'aa',
    [
      { label: 'LM prefill 128', ...lm, decode: false },
      { label: 'KV decode step @128', ...kv, decode: true },
    ],
    runs,
  );
  for (const [label, t] of tallies) {
    const ok = t.runs.filter((r) => r.ok);
    const fail = ok.filter((r) => r.verdict === 'fail').length / ok.length;
    const inc = ok.filter((r) => r.verdict === 'inconclusive').length / ok.length;
    for (const line of tallyLine(label, t)) print(`  ${line}`);
    print(
      `    targets fail ≤ 2 %: ${fail <= 0.02 ? 'ok' : 'MISSED'}; inconclusive ≤ 10 %: ${inc <= 0.1 ? 'ok' : 'MISSED'}`,
    );
  }
}

/**
 * Where an A/A bias comes from: identical files as two arms of the bench's own timing processes
 * (runTimingProcess), with the arm loaded first and the ABBA seeds varied. `slmops bench` seeds its processes
 * 1…5, so the same ABBA/BAAB sequence repeats in every run; until 85acb04 it always loaded head first.
 */
async function sectionOrder(): Promise<void> {
  const processes = Number(flag('order-processes', '20'));
  print(
    `\n## 2b. A/A bias diagnostic: arm load order and ABBA seeds (${processes} timing processes per line)`,
  );
  for (const [label, source, workload] of [
    ['KV decode step @128', KV, { kind: 'decode', batch: 1, sequenceLength: 128, dims: {} }],
    ['LM prefill 128', LM, { kind: 'prefill', batch: 1, sequenceLength: 128, dims: {} }],
  ] as const) {
    const pair = copyPair(source, `order-${label.split(' ')[0]!.toLowerCase()}`);
    for (const [name, first, seeds] of [
      ['head loaded first, seeds 1…5 (as slmops bench)', 'head', 'bench'],
      ['base loaded first, seeds 1…5', 'base', 'bench'],
      ['head loaded first, fresh seeds', 'head', 'fresh'],
      ['base loaded first, fresh seeds', 'base', 'fresh'],
    ] as const) {
      const before = cpuSnapshot();
      const h: number[][] = [];
      const b: number[][] = [];
      for (let p = 0; p < processes; p++) {
        const arms = [
          { name: 'head', path: pair.head },
          { name: 'base', path: pair.base },
        ];
        const seed = seeds === 'bench' ? (p % 5) + 1 : 1000 + p;
        // runTimingProcess loads the arms in the given order for odd seeds and reversed for even ones (since
        // 85acb04): hand it the order that makes `first` load first.
        if ((first === 'base') !== (seed % 2 === 0)) arms.reverse();
        const r = child<TimingResult>('timing', {
          arms,
          workload: workload as WorkloadSpec,
          threads: BENCH_THREADS,
          warmupRuns: 5,
          warmupMs: 1000,
          iterations: 60,
          decodeTokens: 0,
          seed,
        } satisfies TimingSpec);
        h.push(r.samplesMs.head!);
        b.push(r.samplesMs.base!);
      }
      const { ratio, ci95 } = bootstrapRatioCi(h, b);
      const perProcess = h.map((g, i) => median(g) / median(b[i]!));
      const load = cpuLoad(before, cpuSnapshot());
      print(
        `  ${label}, ${name.padEnd(48)} head/base ${fix(ratio)} (95 % CI ${fix(ci95[0])}–${fix(ci95[1])}); per-process ratios > 1: ${perProcess.filter((x) => x > 1).length}/${processes}; others ${fix(load?.otherCores ?? Number.NaN, 2)} cores`,
      );
      record('order', { label, name, ratio, ci95, perProcess, load });
    }
  }
}

/**
 * How many timing processes the full protocol needs, and how good its interval is: `--protocol-processes` A/A
 * timing processes (the bench's own runTimingProcess, same file twice, load order alternating by seed), then for
 * P processes and I iterations drawn from them, many random draws: the gate's verdict with src's
 * `bootstrapRatioCi` and with two alternatives (the same bootstrap drawing runs as pairs, and src's processRatioCi), how often each 95 % interval holds the true
 * ratio 1 (coverage), and how wide it is. `--reuse` analyses the samples saved by a previous run.
 */
async function sectionProtocol(): Promise<void> {
  const processes = Number(flag('protocol-processes', '30'));
  const iterations = 120;
  const draws = Number(flag('protocol-draws', '150'));
  print(
    `\n## 2c. Protocol size and interval: A/A draws of P processes × I iterations from ${processes} timing processes × ${iterations} iterations (${draws} draws per cell)`,
  );
  const saved = args.includes('--reuse')
    ? readJsonl<{ label: string; head: number[][]; base: number[][]; load?: CpuLoad }>('protocol')
    : [];
  for (const [label, source, workload] of [
    ['LM prefill 128', LM, { kind: 'prefill', batch: 1, sequenceLength: 128, dims: {} }],
    ['KV decode step @128', KV, { kind: 'decode', batch: 1, sequenceLength: 128, dims: {} }],
  ] as const) {
    let h: number[][] = [];
    let b: number[][] = [];
    let load: CpuLoad | undefined;
    const previous = saved.filter((r) => r.label === label).at(-1);
    if (previous) {
      ({ head: h, base: b, load } = previous);
    } else {
      const pair = copyPair(source, `protocol-${label.split(' ')[0]!.toLowerCase()}`);
      const before = cpuSnapshot();
      for (let p = 0; p < processes; p++) {
        if (WAIT_QUIET > 0) waitForQuiet(WAIT_QUIET, WAIT_MAX_MS);
        // runTimingProcess alternates the load order by seed parity: seeds 2000 + p alternate it here.
        const r = child<TimingResult>('timing', {
          arms: [
            { name: 'head', path: pair.head },
            { name: 'base', path: pair.base },
          ],
          workload: workload as WorkloadSpec,
          threads: BENCH_THREADS,
          warmupRuns: 5,
          warmupMs: 1000,
          iterations,
          decodeTokens: 0,
          seed: 2000 + p,
        } satisfies TimingSpec);
        h.push(r.samplesMs.head!);
        b.push(r.samplesMs.base!);
      }
      load = cpuLoad(before, cpuSnapshot());
      record('protocol', { label, head: h, base: b, load });
    }
    const perProcess = h.map((g, i) => Math.log(median(g) / median(b[i]!)));
    const sd = Math.sqrt(perProcess.reduce((s, x) => s + x * x, 0) / perProcess.length);
    print(
      `  ${label} (${h.length} processes; others ${fix(load?.otherCores ?? Number.NaN, 2)} cores): per-process log ratio sd ${pct(sd, 2)}; pooled ratio ${fix(median(h.flat()) / median(b.flat()))}`,
    );
    let seed = 99;
    const random = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed / 2 ** 32;
    };
    const methods = [
      [
        'src bootstrapRatioCi',
        (x: number[][], y: number[][], d: number) => bootstrapRatioCi(x, y, { resamples: 500, seed: d }),
      ],
      [
        'paired bootstrap',
        (x: number[][], y: number[][], d: number) =>
          bootstrapRatioCi(x, y, { resamples: 500, seed: d, paired: true }),
      ],
      ['per-process t interval', (x: number[][], y: number[][]) => processRatioCi(x, y)],
    ] as const;
    for (const iters of [60, 120]) {
      for (const p of [5, 10, 15]) {
        if (p > h.length) continue;
        const stats = methods.map(() => ({ fail: 0, inconclusive: 0, covered: 0, widths: [] as number[] }));
        for (let d = 0; d < draws; d++) {
          const order = [...Array(h.length).keys()];
          for (let i = order.length - 1; i > 0; i--) {
            const j = Math.floor(random() * (i + 1));
            [order[i], order[j]] = [order[j]!, order[i]!];
          }
          const picked = order.slice(0, p);
          // Whole ABBA blocks: an even start keeps head[i] and base[i] from the same block.
          const start = 2 * Math.floor((random() * (iterations - iters + 1)) / 2);
          const slice = (g: number[]) => g.slice(start, start + iters);
          const x = picked.map((i) => slice(h[i]!));
          const y = picked.map((i) => slice(b[i]!));
          methods.forEach(([, ci], m) => {
            const { ci95 } = ci(x, y, d + 1);
            const v = verdict(ci95);
            const st = stats[m]!;
            if (v === 'fail') st.fail += 1;
            else if (v === 'inconclusive') st.inconclusive += 1;
            if (ci95[0] <= 1 && ci95[1] >= 1) st.covered += 1;
            st.widths.push(ci95[1] / ci95[0] - 1);
          });
        }
        methods.forEach(([name], m) => {
          const st = stats[m]!;
          print(
            `    P=${String(p).padStart(2)} × I=${String(iters).padStart(3)} ${name.padEnd(24)} fail ${((st.fail / draws) * 100).toFixed(1).padStart(4)} %, inconclusive ${((st.inconclusive / draws) * 100).toFixed(1).padStart(5)} %, CI holds 1: ${((st.covered / draws) * 100).toFixed(0).padStart(3)} %, median width ${pct(median(st.widths))}`,
          );
        });
      }
    }
  }
}

interface RatioEstimate {
  ratio: number;
  ci95: [number, number];
  otherCores: number;
}

/** head/base ratio as the bench's timing processes measure it (same code, `processes` fresh processes). */
function measureRatio(
  head: string,
  base: string,
  workload: WorkloadSpec,
  processes: number,
  iterations: number,
): RatioEstimate {
  const before = cpuSnapshot();
  const h: number[][] = [];
  const b: number[][] = [];
  for (let p = 0; p < processes; p++) {
    const spec: TimingSpec = {
      arms: [
        { name: 'head', path: head },
        { name: 'base', path: base },
      ],
      workload,
      threads: BENCH_THREADS,
      warmupRuns: 5,
      warmupMs: 1000,
      iterations,
      decodeTokens: 0,
      seed: 1000 + p,
    };
    const r = child<TimingResult>('timing', spec);
    h.push(r.samplesMs.head!);
    b.push(r.samplesMs.base!);
  }
  const { ratio, ci95 } = bootstrapRatioCi(h, b);
  return { ratio, ci95, otherCores: cpuLoad(before, cpuSnapshot())?.otherCores ?? Number.NaN };
}

async function maxAbsDifference(a: string, b: string, workload: WorkloadSpec): Promise<number> {
  const sa = await createSession(a, { intraOpThreads: BENCH_THREADS });
  const sb = await createSession(b, { intraOpThreads: BENCH_THREADS });
  try {
    const feeds = await workloadFeeds(sa, workload);
    const [oa, ob] = [await sa.run(feeds), await sb.run(feeds)];
    let worst = 0;
    for (const [name, value] of Object.entries(oa)) {
      const other = ob[name];
      if (!other || other.data.length !== value.data.length) return Number.POSITIVE_INFINITY;
      const x = value.data as Float32Array;
      const y = other.data as Float32Array;
      for (let i = 0; i < x.length; i++) {
        const d = Math.abs(x[i]! - y[i]!);
        if (!(d <= worst)) worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
      }
    }
    return worst;
  } finally {
    await sa.release();
    await sb.release();
  }
}

async function tunedSlowerHead(
  label: string,
  source: string,
  workload: WorkloadSpec,
  target: number,
): Promise<{ path: string; extraMatMuls: number; measured: RatioEstimate; maxAbs: number }> {
  const dir = join(DIR, 'detect', label);
  mkdirSync(dir, { recursive: true });
  const base = join(dir, 'base', 'model.onnx');
  mkdirSync(dirname(base), { recursive: true });
  copyFileSync(source, base);
  const forced = Number(flag(`k-${label}`, '0'));
  let k = forced || 4;
  let best: { k: number; ratio: RatioEstimate } | undefined;
  const tried = new Map<number, RatioEstimate>();
  for (let step = 0; step < (forced ? 1 : 5); step++) {
    const path = join(dir, `slower-k${k}`, 'model.onnx');
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) writeSlowerHead(source, path, k);
    const r = tried.get(k) ?? measureRatio(path, base, workload, 4, 100);
    tried.set(k, r);
    progress(
      `detect ${label}: ${k} extra MatMuls → ratio ${fix(r.ratio)} [${fix(r.ci95[0])}, ${fix(r.ci95[1])}] (others ${fix(r.otherCores, 2)} cores)`,
    );
    if (!best || Math.abs(r.ratio - 1 - target) < Math.abs(best.ratio.ratio - 1 - target))
      best = { k, ratio: r };
    // Accept only 12.5–15 %: the check below (8 processes) must still see ≥ 12 % through the noise.
    if (r.ratio - 1 >= target - 0.01 && r.ratio - 1 <= target + 0.015) break;
    const perMatMul = Math.max(1e-4, (r.ratio - 1) / k);
    const next = Math.max(1, Math.round(target / perMatMul));
    if (next === k || tried.has(next)) break;
    k = next;
  }
  const path = join(dir, `slower-k${best!.k}`, 'model.onnx');
  const measured = measureRatio(path, base, workload, 8, 200);
  const maxAbs = await maxAbsDifference(path, base, workload);
  return { path, extraMatMuls: best!.k, measured, maxAbs };
}

async function sectionDetect(): Promise<void> {
  const runs = Number(flag('detect-runs', '40'));
  const target = Number(flag('slowdown', '0.135'));
  const which = new Set(flag('detect-cases', 'lm,kv').split(','));
  print(`\n## 3. Detection of a ~12–15 % slower head (full protocol, ${runs} runs each)`);
  const all = [
    {
      key: 'lm',
      label: 'LM prefill 128',
      source: LM,
      workload: { kind: 'prefill', batch: 1, sequenceLength: 128, dims: {} } as WorkloadSpec,
    },
    {
      key: 'kv',
      label: 'KV decode step @128',
      source: KV,
      workload: { kind: 'decode', batch: 1, sequenceLength: 128, dims: {} } as WorkloadSpec,
    },
  ].filter((c) => which.has(c.key));
  const cases: { label: string; head: string; base: string; decode: boolean }[] = [];
  for (const c of all) {
    const s = await tunedSlowerHead(c.key, c.source, c.workload, target);
    print(
      `  ${c.label}: slower head = ${s.extraMatMuls} extra [192,192] MatMuls × 0 added before the LM head; outputs max |Δ| vs the original: ${s.maxAbs} (${s.maxAbs === 0 ? 'identical' : 'DIFFERENT'}); slowdown measured by 8 timing processes × 200 iterations at ${BENCH_THREADS} threads: ${pct(s.measured.ratio - 1)} (95 % CI ${pct(s.measured.ci95[0] - 1)} … ${pct(s.measured.ci95[1] - 1)}; others ${fix(s.measured.otherCores, 2)} cores)`,
    );
    record('detect-head', { label: c.label, ...s });
    cases.push({
      label: c.label,
      head: s.path,
      base: join(DIR, 'detect', c.key, 'base', 'model.onnx'),
      decode: c.workload.kind === 'decode',
    });
  }
  const tallies = runCases('detect', cases, runs);
  for (const [label, t] of tallies) {
    const ok = t.runs.filter((r) => r.ok);
    const caught = ok.filter((r) => r.verdict === 'fail').length / ok.length;
    for (const line of tallyLine(label, t)) print(`  ${line}`);
    print(
      `    caught (fail) ${(caught * 100).toFixed(1)} %  target ≥ 95 %: ${caught >= 0.95 ? 'ok' : 'MISSED'}; real slowdown seen by the runs (median ratio) ${pct(median(ok.map((r) => r.ratio)) - 1)}`,
    );
  }
}

interface ScalingPoint {
  model: string;
  variant: string;
  path: string;
  workload: WorkloadSpec;
}

interface ScalingRecord {
  model: string;
  variant: string;
  kind: string;
  seq: number;
  p50t1: number;
  p50t2: number;
  /** Per-process medians (fresh processes, each timing a 1- and a 2-thread session interleaved). */
  perProcessT1?: number[];
  perProcessT2?: number[];
  /** 95 % interval of the measured speed-up t1 / t2 over processes. */
  speedupCi?: [number, number];
  warmKernelUsT1: number;
  firstRunKernelUsT1: number;
  /** The 1-thread profile as src/bench/profile-process.ts computes it (first run included). */
  srcNodesT1: NodeCost[];
  /** Warm profiles (first run left out) at 1 and 2 threads; the 2-thread one is a diagnostic, never an input. */
  nodesT1: NodeCost[];
  nodesT2: NodeCost[];
  otherCores: number;
  /** src's node probes (src/devices/node-probes.ts) at 1 and 2 threads, measured right after the point. */
  kindProbes?: NodeProbes;
}

/**
 * The 1- and 2-thread latencies of a point, from `processes` fresh processes that each load the model twice (a
 * 1-thread and a 2-thread session) and time them interleaved in ABBA blocks, as the bench times head and base:
 * a neighbour's burst or the hypervisor's steal then hits both thread counts alike. The speed-up is the geometric
 * mean of the per-process ratios (src's processRatioCi, with its 95 % interval); t2 = pooled t1 ÷ speed-up.
 */
function measureThreads(
  point: ScalingPoint,
  processes: number,
  iterations: number,
): {
  p50: Record<number, number>;
  perProcess: Record<number, number[]>;
  speedupCi: [number, number];
} {
  const groups: Record<number, number[][]> = { 1: [], 2: [] };
  for (let p = 0; p < processes; p++) {
    const r = child<TimingResult>('timing', {
      arms: [
        { name: 't1', path: point.path, threads: 1 },
        { name: 't2', path: point.path, threads: 2 },
      ],
      workload: point.workload,
      threads: 1,
      warmupRuns: 5,
      warmupMs: 1000,
      iterations,
      decodeTokens: 0,
      seed: p + 1,
    } satisfies TimingSpec);
    groups[1]!.push(r.samplesMs.t1!);
    groups[2]!.push(r.samplesMs.t2!);
  }
  const ratio = processRatioCi(groups[2]!, groups[1]!);
  const t1 = median(groups[1]!.flat());
  return {
    p50: { 1: t1, 2: t1 * ratio.ratio },
    perProcess: { 1: groups[1]!.map(median), 2: groups[2]!.map(median) },
    speedupCi: [1 / ratio.ci95[1], 1 / ratio.ci95[0]],
  };
}

function throughputs(c: Calibration, threads: number): Throughputs {
  const t = c.threads[String(threads)]!;
  return { fp32Gflops: t.fp32Gflops, int8Gops: t.int8Gops, bandwidthGBs: t.bandwidthGBs };
}

function errorSummary(label: string, all: number[]): string {
  const errors = all.filter(Number.isFinite);
  if (!errors.length) return `${label.padEnd(40)} (not measured)`;
  const abs = errors.map(Math.abs);
  const within = abs.filter((e) => e <= 0.1).length / abs.length;
  return `${label.padEnd(40)} median |error| ${(median(abs) * 100).toFixed(1).padStart(5)} %, p90 ${(quantile(abs, 90) * 100).toFixed(1).padStart(5)} %, within ±10 %: ${(within * 100).toFixed(0).padStart(3)} % (${abs.filter((e) => e <= 0.1).length}/${abs.length}), median signed ${pct(median(errors))}  ${within >= 0.9 ? 'ok' : 'MISSED'} (≥ 90 %)`;
}

/** What the 2-thread predictions are made from: this host's calibration at 1 and 2 threads (node probes included). */
interface ScalingInputs {
  calibration: Calibration;
  calibrationOthers: number;
  /** Node probes measured apart, for saved runs whose calibration predates them. */
  kindProbes?: NodeProbes;
}

function probeScale(r: ScalingRecord, probes: NodeProbes, profilerUs = probes.profilerUs): number {
  const host = { ...probes, profilerUs };
  return predictFromNodeProbes(
    r.p50t1,
    r.srcNodesT1,
    { probes: host, threads: 1 },
    { probes: host, threads: 2 },
  ).p50Ms;
}

/** A probe's 2-thread ÷ 1-thread time. */
const twoOverOne = (point: NodeProbePoint): number => point.us['2']! / point.us['1']!;

/** The node-probe sets measured with the points of a run. */
const probeSets = (records: ScalingRecord[]): NodeProbes[] =>
  records.flatMap((r) => (r.kindProbes ? [r.kindProbes] : []));

/**
 * Probe sets pooled: per probe, the median 1-thread time and the median 2-thread ÷ 1-thread ratio over the sets. With
 * every set of a run, it stands for a calibration far longer than any would be: what the node-by-node model reaches
 * once calibration noise is gone (a diagnostic; the sets were measured beside the points).
 */
function poolProbes(sets: NodeProbes[]): NodeProbes | undefined {
  const first = sets[0];
  if (!first || sets.some((s) => s.version !== first.version || s.points.length !== first.points.length))
    return undefined;
  return {
    version: first.version,
    profilerUs: median(sets.map((s) => s.profilerUs)),
    points: first.points.map((p, i) => {
      const us1 = median(sets.map((s) => s.points[i]!.us['1']!));
      const ratio = median(sets.map((s) => twoOverOne(s.points[i]!)));
      // Sets saved before the probes carried their dims: read them from the shape (`matmul 16x256x256`).
      const [, m, k, n] = /^matmul (\d+)x(\d+)x(\d+)$/.exec(p.shape) ?? [];
      const dims = p.dims ?? (m ? { m: Number(m), k: Number(k), n: Number(n) } : undefined);
      return { ...p, ...(dims ? { dims } : {}), us: { '1': us1, '2': us1 * ratio } };
    }),
  };
}

/** The predictors compared, each a function of the 1-thread measurement and the calibrations only. */
function predictors(
  inputs: ScalingInputs,
  poolSets: NodeProbes[],
  records: ScalingRecord[],
): { name: string; predict: (r: ScalingRecord) => number }[] {
  const h1 = throughputs(inputs.calibration, 1);
  const h2 = throughputs(inputs.calibration, 2);
  const before = inputs.calibration.nodeProbes ?? inputs.kindProbes;
  const pooled = poolProbes(poolSets);
  return [
    {
      name: 'src roofline (predictLatency)',
      predict: (r) => predictLatency(r.p50t1, r.srcNodesT1, h1, h2, true).p50Ms,
    },
    {
      name: NODE_PROBES_BEFORE,
      predict: (r) => (before ? probeScale(r, before) : Number.NaN),
    },
    {
      name: 'src node probes, probed with each point',
      predict: (r) => (r.kindProbes ? probeScale(r, r.kindProbes) : Number.NaN),
    },
    {
      name: '  the same, profiler cost left in',
      predict: (r) => (r.kindProbes ? probeScale(r, r.kindProbes, 0) : Number.NaN),
    },
    {
      name: NODE_PROBES_POOLED,
      predict: (r) => (pooled ? probeScale(r, pooled) : Number.NaN),
    },
    // A calibration spread over the minutes before each point: it and the sets measured with the k − 1 points
    // before, pooled.
    ...[4, 8].map((k) => ({
      name: `src node probes, calibration + ${k - 1} earlier sets`,
      predict: (r: ScalingRecord) => {
        const i = records.indexOf(r);
        const earlier = probeSets(records.slice(Math.max(0, i - (k - 1)), i));
        const sets = before ? [before, ...earlier] : earlier;
        const pooledK = poolProbes(sets);
        return pooledK ? probeScale(r, pooledK) : Number.NaN;
      },
    })),
    { name: 'no change (t2 = t1)', predict: (r) => r.p50t1 },
  ];
}

const NODE_PROBES_BEFORE = 'src node probes, calibration before';
const NODE_PROBES_POOLED = 'src node probes, probe sets pooled';

function scoreScaling(records: ScalingRecord[], inputs: ScalingInputs, poolSets?: NodeProbes[]): void {
  const h1 = throughputs(inputs.calibration, 1);
  const h2 = throughputs(inputs.calibration, 2);
  const cal = (t: Throughputs) =>
    `fp32 ${t.fp32Gflops.toFixed(1)} GFLOPS, int8 ${t.int8Gops.toFixed(1)} GOPS, GEMV ${t.bandwidthGBs.toFixed(1)} GB/s`;
  print(
    `  calibration (calibrateHost, not cached; others used ${fix(inputs.calibrationOthers, 2)} cores meanwhile${inputs.calibration.load ? `, the hypervisor stole ${fix(inputs.calibration.load.stealPct, 1)} %` : ''}): 1 thread ${cal(h1)}; 2 threads ${cal(h2)}`,
  );
  print(
    `  calibrated speed-ups 1 → 2 threads: fp32 ×${(h2.fp32Gflops / h1.fp32Gflops).toFixed(2)}, int8 ×${(h2.int8Gops / h1.int8Gops).toFixed(2)}, bandwidth ×${(h2.bandwidthGBs / h1.bandwidthGBs).toFixed(2)}`,
  );
  const before = inputs.calibration.nodeProbes ?? inputs.kindProbes;
  if (before) {
    print(
      `  node probes before the points (µs per node at 1 → 2 threads; profiler adds ${fix(before.profilerUs, 1)} µs per node): ${before.points
        .map(
          (p) =>
            `${p.kind} ${p.shape.replace(/^(mul|matmul) /, '')} ${fix(p.us['1']!, 1)}→${fix(p.us['2']!, 1)}`,
        )
        .join('; ')}`,
    );
  }
  const list = predictors(inputs, poolSets ?? probeSets(records), records);
  const probes = list.find((x) => x.name === NODE_PROBES_BEFORE)!;
  const perPoint = list.find((x) => x.name === 'src node probes, probed with each point')!;
  const pooled = list.find((x) => x.name === NODE_PROBES_POOLED)!;
  print(
    `  ${'point'.padEnd(30)} ${'t1 p50'.padStart(8)} ${'t2 p50'.padStart(8)} ${'speedup'.padStart(7)} ${'roofline'.padStart(9)} ${'err'.padStart(7)} ${'probes'.padStart(9)} ${'err'.padStart(7)} ${'per pt'.padStart(9)} ${'err'.padStart(7)} ${'pooled'.padStart(9)} ${'err'.padStart(7)} ${'others'.padStart(6)}`,
  );
  for (const r of records) {
    const src = list[0]!.predict(r);
    const pr = probes.predict(r);
    const pp = perPoint.predict(r);
    const po = pooled.predict(r);
    print(
      `  ${`${r.model.replace('tiny-shakespeare-', '')} ${r.variant} ${r.kind} ${r.seq}`.padEnd(30)} ${fix(r.p50t1).padStart(8)} ${fix(r.p50t2).padStart(8)} ${`×${(r.p50t1 / r.p50t2).toFixed(2)}`.padStart(7)} ${fix(src).padStart(9)} ${pct(src / r.p50t2 - 1).padStart(7)} ${fix(pr).padStart(9)} ${pct(pr / r.p50t2 - 1).padStart(7)} ${fix(pp).padStart(9)} ${pct(pp / r.p50t2 - 1).padStart(7)} ${fix(po).padStart(9)} ${pct(po / r.p50t2 - 1).padStart(7)} ${fix(r.otherCores, 2).padStart(6)}`,
    );
  }
  const quiet = records.filter((r) => r.otherCores < 0.25);
  for (const [label, subset] of [
    [`all ${records.length} points`, records],
    [`the ${quiet.length} points measured while other processes used < 0.25 core`, quiet],
  ] as const) {
    if (!subset.length) continue;
    print(`  ${label}:`);
    for (const p of list) {
      // Consistent: the predicted speed-up lies inside the measured speed-up's own 95 % interval.
      const judged = subset.filter((r) => r.speedupCi && Number.isFinite(p.predict(r)));
      const inside = judged.filter((r) => {
        const s = r.p50t1 / p.predict(r);
        return s >= r.speedupCi![0] && s <= r.speedupCi![1];
      }).length;
      print(
        `    ${errorSummary(
          p.name,
          subset.map((r) => p.predict(r) / r.p50t2 - 1),
        )}${judged.length ? `; inside the measured speed-up's 95 % interval: ${inside}/${judged.length}` : ''}`,
      );
    }
  }
  // Noise floor: the speed-up from half of the processes against the other half. A predictor that was exactly
  // right would still be off by about this much (÷ √2 for the full sample).
  const halves = records
    .filter((r) => (r.perProcessT1?.length ?? 0) >= 4 && (r.perProcessT2?.length ?? 0) >= 4)
    .map((r) => {
      const half = (v: number[], odd: number) => median(v.filter((_, i) => i % 2 === odd));
      const a = half(r.perProcessT1!, 0) / half(r.perProcessT2!, 0);
      const b = half(r.perProcessT1!, 1) / half(r.perProcessT2!, 1);
      return Math.abs(a / b - 1);
    });
  if (halves.length)
    print(
      `  noise floor: the 1 → 2 speed-up from half of the processes vs the other half differs by ${pct(median(halves))} (median; p90 ${pct(quantile(halves, 90))}; ${halves.filter((h) => h > 0.1).length}/${halves.length} points over 10 %)`,
    );
  const widths = records.filter((r) => r.speedupCi).map((r) => r.speedupCi![1] / r.speedupCi![0] - 1);
  if (widths.length)
    print(
      `  the measured speed-ups' own 95 % intervals (over processes): width median ${pct(median(widths))}, p90 ${pct(quantile(widths, 90))}`,
    );
  const speedups = records.map((r) => r.p50t1 / r.p50t2);
  print(
    `  measured speed-ups 1 → 2 threads: median ×${fix(median(speedups), 2)}, range ×${fix(Math.min(...speedups), 2)}–×${fix(Math.max(...speedups), 2)}; ${speedups.filter((s) => s < 1).length}/${speedups.length} points are slower at 2 threads`,
  );
  // Which nodes scale: per-node speed-up (1-thread time / 2-thread time), by node time at 1 thread.
  const bins = [0, 5, 10, 20, 50, 100, 200, Number.POSITIVE_INFINITY];
  print(
    `  per-node speed-up 1 → 2 threads in ORT's profiles (time-weighted, quiet points), by node time at 1 thread:`,
  );
  for (let i = 0; i < bins.length - 1; i++) {
    for (const gemm of [true, false]) {
      let t1 = 0;
      let t2 = 0;
      let n = 0;
      for (const r of quiet.length ? quiet : records) {
        const byName = new Map(r.nodesT2.map((x) => [x.name, x]));
        for (const x of r.nodesT1) {
          const y = byName.get(x.name);
          if (!y || x.us < bins[i]! || x.us >= bins[i + 1]! || x.ops > 0 !== gemm) continue;
          t1 += x.us;
          t2 += y.us;
          n += 1;
        }
      }
      if (n)
        print(
          `    ${`${bins[i]}–${bins[i + 1] === Number.POSITIVE_INFINITY ? '∞' : bins[i + 1]} µs`.padEnd(12)} ${gemm ? 'GEMM nodes ' : 'other nodes'}: ${String(n).padStart(5)} node-points, ×${(t1 / t2).toFixed(2)}`,
        );
    }
  }
  const overhead = records.map((r) => r.warmKernelUsT1 / 1000 / r.p50t1);
  print(
    `  ORT's profile vs wall time at 1 thread: profiled kernel time = ×${fix(median(overhead), 2)} the p50 (median; range ×${fix(Math.min(...overhead), 2)}–×${fix(Math.max(...overhead), 2)}): the profiler's own per-node cost, so "p50 − kernel time" cannot give the time outside the kernels`,
  );
  const cold = records.map((r) => r.firstRunKernelUsT1 / r.warmKernelUsT1);
  print(
    `  the profile's first run (included by src/bench/profile-process.ts, which does not warm up): kernel time ×${fix(median(cold), 2)} a warm run's (median; max ×${fix(Math.max(...cold), 2)})`,
  );
}

async function quietCalibration(
  budgetMs: number,
): Promise<Pick<ScalingInputs, 'calibration' | 'calibrationOthers'>> {
  const quiet = Number(flag('wait-quiet', '0.25'));
  const retries = Number(flag('quiet-retries', '3'));
  let best: { calibration: Calibration; calibrationOthers: number } | undefined;
  for (let attempt = 0; attempt < Math.max(1, retries); attempt++) {
    if (quiet > 0) waitForQuiet(quiet, WAIT_MAX_MS);
    progress(`scaling: calibrating this host at 1 and 2 threads (${budgetMs} ms)`);
    const before = cpuSnapshot();
    const c = await calibrateHost({ threads: [1, 2], budgetMs, force: true, cacheDir: null });
    const others = cpuLoad(before, cpuSnapshot())?.otherCores ?? Number.NaN;
    if (!best || others < best.calibrationOthers) best = { calibration: c, calibrationOthers: others };
    if (!(quiet > 0) || others < quiet) break;
  }
  return best!;
}

function readJsonl<T>(name: string, results = RESULTS): T[] {
  const path = join(results, `${name}.jsonl`);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** Scores the saved scaling records again (after a change of predictor); measures the node probes if missing. */
async function sectionRescore(): Promise<void> {
  print(`\n## 4. Emulated thread scaling 1 → 2 threads (re-scored from ${RESULTS}/scaling.jsonl)`);
  const records = readJsonl<ScalingRecord>('scaling');
  const calibration = readJsonl<Calibration & { otherCores: number }>('scaling-calibration').at(-1);
  if (!records.length || !calibration) throw new Error('no saved scaling records: run --only scaling first');
  let kindProbes = readJsonl<NodeProbes>('scaling-kind-probes').at(-1);
  if (!kindProbes && !calibration.nodeProbes) {
    progress('scaling: node probes by kind at 1 and 2 threads (none saved: measuring now)');
    kindProbes = child<NodeProbes>('node-probes', { budgetMs: 6000 });
    record('scaling-kind-probes', kindProbes);
  }
  // --pool-dirs a,b: pool the probe sets of other saved runs instead (probes of another design, say), scored on
  // this run's points.
  const poolDirs = flag('pool-dirs', '');
  const others = poolDirs
    ? poolDirs.split(',').map((dir) => readJsonl<ScalingRecord>('scaling', join(resolve(dir), 'results')))
    : undefined;
  const poolSets = others && probeSets(others.flat());
  if (others && poolSets) {
    print(`  pooled: the ${poolSets.length} probe sets of ${poolDirs}`);
    // How reproducible the target is: this run's measured speed-ups against each point's median over the other
    // runs, an oracle that knew every point's usual speed-up.
    const key = (r: ScalingRecord) => `${r.model} ${r.variant} ${r.kind} ${r.seq}`;
    const deviations = records.flatMap((r) => {
      const usual = others.flatMap((run) =>
        run.filter((o) => key(o) === key(r)).map((o) => o.p50t1 / o.p50t2),
      );
      return usual.length ? [r.p50t1 / r.p50t2 / median(usual) - 1] : [];
    });
    if (deviations.length)
      print(
        `  this run's measured speed-ups against each point's median over those runs: ${errorSummary('', deviations).trim()}`,
      );
  }
  scoreScaling(
    records,
    {
      calibration,
      calibrationOthers: calibration.otherCores,
      ...(kindProbes ? { kindProbes } : {}),
    },
    poolSets,
  );
}

async function sectionScaling(): Promise<void> {
  const processes = Number(flag('scaling-processes', '6'));
  const iterations = Number(flag('scaling-iterations', '100'));
  const budgetMs = Number(flag('calibration-ms', '20000'));
  const pointProbeMs = Number(flag('point-probe-ms', '4000'));
  const quiet = Number(flag('wait-quiet', '0.25'));
  const retries = Number(flag('quiet-retries', '3'));
  print(`\n## 4. Emulated thread scaling 1 → 2 threads, out of sample`);
  const variants: { model: string; variant: string; path: string }[] = [];
  for (const [model, path] of [
    ['tiny-shakespeare-lm', LM],
    ['tiny-shakespeare-kv', KV],
  ] as const) {
    variants.push({ model, variant: 'fp32', path });
    for (const [variant, recipe] of [
      ['int8', 'int8'],
      ['int4', 'int4:block=32'],
    ] as const) {
      const outDir = join(DIR, 'variants', `${model}-${variant}`);
      const made = await compressModel({
        modelPath: path,
        recipe: parseRecipeSpec(recipe),
        outDir,
        fidelity: 'off',
      });
      variants.push({ model, variant, path: made.modelPath });
    }
  }
  const points: ScalingPoint[] = [];
  for (const v of variants) {
    const base = { batch: 1, dims: {} };
    if (v.model === 'tiny-shakespeare-lm') {
      for (const seq of [16, 32, 64, 128])
        points.push({ ...v, workload: { ...base, kind: 'prefill', sequenceLength: seq } });
    } else {
      for (const seq of [32, 64, 128, 255])
        points.push({ ...v, workload: { ...base, kind: 'prefill', sequenceLength: seq } });
      for (const seq of [32, 128, 255])
        points.push({ ...v, workload: { ...base, kind: 'decode', sequenceLength: seq } });
    }
  }
  print(
    `  ${points.length} points: LM prefill 16/32/64/128, KV prefill 32/64/128/255 and KV decode step at 32/128/255 cached tokens, × fp32/int8/int4 (compressModel, fidelity off)`,
  );
  print(
    `  per point: ${processes} fresh timing processes, each timing a 1-thread and a 2-thread session of the model interleaved in ABBA blocks, × ${iterations} iterations → speed-up = geometric mean of the per-process ratios; ORT per-node profile at 1 thread (10 runs, as the bench does) and, as a diagnostic only, at 2 threads; waits for other processes < ${quiet} core (≤ ${WAIT_MAX_MS / 1000} s) and measures a point again (≤ ${retries} attempts) if they were busier`,
  );
  const calibration = await quietCalibration(budgetMs);
  record('scaling-calibration', { ...calibration.calibration, otherCores: calibration.calibrationOthers });
  const records: ScalingRecord[] = [];
  for (const point of points) {
    let best: ScalingRecord | undefined;
    for (let attempt = 0; attempt < Math.max(1, retries); attempt++) {
      if (quiet > 0) waitForQuiet(quiet, WAIT_MAX_MS);
      const before = cpuSnapshot();
      const { p50, perProcess, speedupCi } = measureThreads(point, processes, iterations);
      const profile1 = child<ProfileChildResult>('profile', {
        path: point.path,
        workload: point.workload,
        threads: 1,
        runs: 10,
      });
      const profile2 = child<ProfileChildResult>('profile', {
        path: point.path,
        workload: point.workload,
        threads: 2,
        runs: 10,
      });
      const pointProbes = child<NodeProbes>('node-probes', { budgetMs: pointProbeMs });
      const otherCores = cpuLoad(before, cpuSnapshot())?.otherCores ?? Number.NaN;
      const r: ScalingRecord = {
        model: point.model,
        variant: point.variant,
        kind: point.workload.kind,
        seq: point.workload.sequenceLength,
        p50t1: p50[1]!,
        p50t2: p50[2]!,
        perProcessT1: perProcess[1]!,
        perProcessT2: perProcess[2]!,
        speedupCi,
        warmKernelUsT1: profile1.warmRunKernelUs,
        firstRunKernelUsT1: profile1.firstRunKernelUs,
        srcNodesT1: profile1.nodes,
        nodesT1: profile1.warmNodes,
        nodesT2: profile2.warmNodes,
        otherCores,
        kindProbes: pointProbes,
      };
      if (!best || otherCores < best.otherCores) best = r;
      if (!(quiet > 0) || otherCores < quiet) break;
      progress(`scaling: others used ${fix(otherCores, 2)} cores while measuring; measuring again`);
    }
    records.push(best!);
    record('scaling', best);
    progress(
      `scaling ${records.length}/${points.length} ${best!.model} ${best!.variant} ${best!.kind} ${best!.seq}: t1 ${fix(best!.p50t1)} ms, t2 ${fix(best!.p50t2)} ms (others ${fix(best!.otherCores, 2)} cores)`,
    );
  }
  scoreScaling(records, calibration);
}

/**
 * Repeatability of the node probes: sets measured back to back, each in a fresh process, at one budget; with
 * `--rounds 8,16,24` each set is measured once per number of rounds, in turn (default: measureNodeProbes' 8).
 */
function sectionProbeRepeat(): void {
  const sets = Number(flag('probe-sets', '4'));
  const budgetMs = Number(flag('probe-ms', '4000'));
  const designs = flag('rounds', '8').split(',');
  print(
    `\n## Node-probe repeatability: ${sets} sets back to back, ${budgetMs} ms of probe time each, rounds ${designs.join(', ')}`,
  );
  const measured = new Map<string, NodeProbes[]>(designs.map((d) => [d, []]));
  for (let i = 0; i < sets; i++) {
    for (const d of designs) {
      progress(`probe-repeat: set ${i + 1}/${sets}, rounds ${d}`);
      measured.get(d)!.push(child<NodeProbes>('node-probes', { budgetMs, rounds: Number(d) }));
    }
  }
  record('probe-repeat', { budgetMs, sets: Object.fromEntries(measured) });
  for (const [d, list] of measured) {
    print(`  rounds ${d}:`);
    const logs = list.map((set) => set.points.map((p) => Math.log(twoOverOne(p))));
    const spreads = list[0]!.points.map((point, i) => {
      const ratios = list.map((set) => twoOverOne(set.points[i]!));
      const spread = Math.max(...ratios) / Math.min(...ratios) - 1;
      print(
        `    ${`${point.kind} ${point.shape}`.padEnd(28)} 2-thread ÷ 1-thread ${ratios.map((r) => fix(r, 2)).join(' ')}  spread ${pct(spread)}`,
      );
      return spread;
    });
    // A probe's scatter across sets (SD of its log ratio), and that of a set's mean over the matrix probes, which
    // moves every product's prediction alike.
    const matrix = list[0]!.points.flatMap((p, i) => (p.kind === 'other' ? [] : [i]));
    const perProbe = matrix.map((i) => standardDeviation(logs.map((l) => l[i]!)));
    const common = standardDeviation(
      logs.map((l) => matrix.reduce((sum, i) => sum + l[i]!, 0) / matrix.length),
    );
    print(
      `    spread of a probe's ratio across the sets: median ${pct(median(spreads))}, p90 ${pct(quantile(spreads, 90))}; SD of a matrix probe's log ratio: median ${fix(median(perProbe), 3)}; SD of a set's mean over them: ${fix(common, 3)}`,
    );
  }
}

/** Sample standard deviation. */
function standardDeviation(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
}

/**
 * How a product's 2-thread ÷ 1-thread time depends on the pause before it: node-probe sets whose products are each
 * followed by 0, 3, 8 or 20 small nodes (--gaps), measured in turn, twice (--probe-sets), in fresh processes.
 */
function sectionProbeGaps(): void {
  const gaps = flag('gaps', '0,3,8,20').split(',').map(Number);
  const sets = Number(flag('probe-sets', '2'));
  const budgetMs = Number(flag('probe-ms', '4000'));
  print(
    `\n## Node probes by the pause after each product: ${gaps.join(', ')} small nodes, ${sets} sets each`,
  );
  const measured = new Map<number, NodeProbes[]>(gaps.map((g) => [g, []]));
  for (let i = 0; i < sets; i++) {
    for (const gap of gaps) {
      progress(`probe-gaps: set ${i + 1}/${sets}, ${gap} small nodes after each product`);
      measured.get(gap)!.push(child<NodeProbes>('node-probes', { budgetMs, gap }));
    }
  }
  record('probe-gaps', { budgetMs, sets: Object.fromEntries(measured) });
  const first = measured.get(gaps[0]!)![0]!;
  print(`  ${'probe'.padEnd(28)}${gaps.map((g) => `${g} after`.padStart(6 + 5 * sets)).join('')}`);
  first.points.forEach((point, i) => {
    if (point.kind === 'other') return;
    const cells = gaps.map((g) => {
      const ratios = measured.get(g)!.map((set) => twoOverOne(set.points[i]!));
      return `×${ratios.map((r) => fix(r, 2)).join('/')}`.padStart(6 + 5 * sets);
    });
    print(`  ${`${point.kind} ${point.shape}`.padEnd(28)}${cells.join('')}`);
  });
  // Each product's ratio against its ratio with the first pause (same set), median over products and sets.
  const relative = gaps.map((g) =>
    median(
      first.points.flatMap((point, i) =>
        point.kind === 'other'
          ? []
          : measured.get(g)!.map((set, k) => {
              return twoOverOne(set.points[i]!) / twoOverOne(measured.get(gaps[0]!)![k]!.points[i]!);
            }),
      ),
    ),
  );
  print(
    `  a product's 2-thread ÷ 1-thread time against its own with ${gaps[0]} small nodes after it (median over products and sets): ${gaps.map((g, i) => `${g} after ×${fix(relative[i]!, 2)}`).join(', ')}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (args[0] === '--child') return runChildMode();
  const only = new Set(flag('only', 'overhead,aa,detect,scaling').split(','));
  mkdirSync(DIR, { recursive: true });
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  print(
    `bench validation: ${new Date().toISOString()}, ${cpu}, ${cpus().length} logical CPUs, node ${process.version}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  print(`command: node benchmarks/run.mjs bench ${args.join(' ')}`);
  if (only.has('aa') || only.has('detect')) {
    await buildCli();
    print(`CLI bundled from src/cli/main.ts to ${CLI.slice(ROOT.length + 1)}`);
  }
  if (only.has('overhead')) await sectionOverhead();
  if (only.has('aa')) await sectionAa();
  if (only.has('order')) await sectionOrder();
  if (only.has('protocol')) await sectionProtocol();
  if (only.has('detect')) await sectionDetect();
  if (only.has('scaling')) await sectionScaling();
  if (only.has('rescore')) await sectionRescore();
  if (only.has('probe-repeat')) sectionProbeRepeat();
  if (only.has('probe-gaps')) sectionProbeGaps();
  if (existsSync(RESULTS)) print(`\nraw records: ${RESULTS}/*.jsonl`);
}

await main();
