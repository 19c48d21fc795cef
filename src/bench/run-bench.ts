/**
 * `slmops bench`: measure a model (and its baseline, interleaved) in fresh processes on this host, and write one
 * `slmops.bench/v1` result per device profile. Native profiles (this host is the device) get the measurement;
 * emulated ones also get a prediction for the device, derived from the same measurement (one per thread count).
 */

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FidelityMeasurement, measureFidelity } from '../compress/fidelity.ts';
import { validateDocument } from '../config/load.ts';
import type { BenchResult, HostFingerprint, NodeProbes, ProfileDocument } from '../config/types.ts';
import { modelId as deriveModelId } from '../contracts/ids.ts';
import { calibrateHost, PROBE_VERSION } from '../devices/calibrate.ts';
import { hostFingerprint } from '../devices/fingerprint.ts';
import { resolveProfile } from '../devices/profiles.ts';
import { runFunctionalCheck } from '../devices/qemu/functional.ts';
import { ConfigurationError } from '../errors.ts';
import { readEvalData } from '../evaluate/eval-data.ts';
import { kvLayout } from '../evaluate/lm-inputs.ts';
import { createSession, type IoInfo, type Session } from '../inference/session.ts';
import { inspectModel } from '../onnx/inspect.ts';
import { runInChild } from '../workers/spawn.ts';
import { parseGitBaseline, resolveBaseline } from './baseline.ts';
import { type CpuLoad, cpuLoad, cpuSnapshot } from './cpu-load.ts';
import { compareLikeWithLike, readCompressReport } from './like-with-like.ts';
import type { NodeCost } from './node-costs.ts';
import {
  int8Family,
  type Prediction,
  predictFromNodeProbes,
  predictLatency,
  probesComparable,
  type Throughputs,
} from './predict.ts';
import { bootstrapMedianCi, processRatioCi, summarize } from './statistics.ts';
import type { TimingResult, TimingSpec } from './timing-process.ts';
import { chooseWorkload, tokensPerRun, type WorkloadKind, type WorkloadSpec } from './workload.ts';

export type Protocol = 'quick' | 'full';

export interface BenchOptions {
  modelPath: string;
  /** Profile ids or profile files. */
  profiles: string[];
  baseline?: string;
  evalData?: string;
  protocol?: Protocol;
  threads?: number;
  workload?: WorkloadKind | 'auto';
  sequenceLength?: number;
  batch?: number;
  dims?: Record<string, number>;
  mode?: 'auto' | 'native' | 'emulated';
  name?: string;
  pullRequest?: { number: number; headSha: string };
  /** Override the protocol's process and iteration counts. */
  processes?: number;
  iterations?: number;
  /** Run the quality check in this process (tests). */
  inProcess?: boolean;
  /**
   * Run the arm64 functional check under qemu for emulated arm64 profiles (src/devices/qemu): does the variant
   * load, run and agree with x86-64 on the device's own CPU features? Downloads and caches qemu and an arm64
   * Node sysroot on first use.
   */
  functional?: boolean;
  log?: (message: string) => void;
}

export interface ProtocolSettings {
  processes: number;
  iterations: number;
  warmupRuns: number;
  warmupMs: number;
  decodeTokens: number;
  calibrationMs: number;
}

export const PROTOCOLS: Record<Protocol, ProtocolSettings> = {
  full: {
    // 12 processes: the per-process ratio's spread on an A/A pair is 2-3 % on a shared VM, and the t interval over
    // 12 of them is about ±1.5-2 % (docs/benchmark-validation.md, "Protocol size").
    processes: 12,
    iterations: 60,
    warmupRuns: 5,
    warmupMs: 1000,
    decodeTokens: 32,
    calibrationMs: 10_000,
  },
  quick: {
    processes: 3,
    iterations: 20,
    warmupRuns: 2,
    warmupMs: 200,
    decodeTokens: 8,
    calibrationMs: 2_000,
  },
};

export interface BenchOutput {
  profile: ProfileDocument;
  result: BenchResult;
}

/** Beyond this many samples, a result keeps a fixed-bin histogram instead of every latency. */
const MAX_RAW_SAMPLES = 2000;

function profileCores(profile: ProfileDocument): number {
  return profile.clusters.reduce((n, c) => n + c.cores, 0);
}

function archOf(hostArch: string): 'x86_64' | 'arm64' | string {
  return hostArch === 'x64' ? 'x86_64' : hostArch;
}

/** Whether this host is plausibly the profile's device (same arch, every feature, the same core type). */
export function hostMatchesProfile(host: HostFingerprint, profile: ProfileDocument): boolean {
  if (archOf(process.arch) !== profile.arch) return false;
  if (!profile.isaFeatures.every((f) => host.isaFlags.includes(f))) return false;
  const normal = (text: string) => text.toLowerCase().replace(/[\s_-]/g, '');
  const model = normal(host.cpuModel);
  if (profile.cpuModels?.some((m) => model.includes(normal(m)))) return true;
  return profile.clusters.some((c) => model.includes(normal(c.microarchitecture)));
}

function histogram(samples: number[], bins = 100): { binEdgesMs: number[]; counts: number[] } {
  const sorted = [...samples].sort((a, b) => a - b);
  const lo = sorted[0]!;
  const hi = sorted[Math.floor(sorted.length * 0.999)]!;
  const width = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const s of samples) counts[Math.min(bins - 1, Math.max(0, Math.floor((s - lo) / width)))] += 1;
  return { binEdgesMs: Array.from({ length: bins + 1 }, (_, i) => lo + i * width), counts };
}

function deviceThroughputs(
  profile: ProfileDocument,
  threads: number,
): { figures: Throughputs; calibrated: boolean } {
  const measured = profile.calibration?.threads[String(threads)];
  if (measured) {
    return {
      figures: {
        fp32Gflops: measured.fp32Gflops,
        int8Gops: measured.int8Gops,
        bandwidthGBs: measured.bandwidthGBs,
      },
      calibrated: true,
    };
  }
  // Datasheet peaks are never reached: assume the share of peak onnxruntime typically gets on CPUs.
  const cores = Math.min(threads, profileCores(profile));
  return {
    calibrated: false,
    figures: {
      fp32Gflops: profile.peaks.fp32GflopsPerCore * cores * 0.5,
      int8Gops: profile.peaks.int8GopsPerCore * cores * 0.4,
      bandwidthGBs: profile.dramBandwidthGBs * 0.6,
    },
  };
}

interface Measured {
  timings: TimingResult[];
  /** Other processes' CPU and the hypervisor's steal while the timing processes ran (Linux). */
  load?: CpuLoad;
  rss: Record<string, number>;
  nodes?: NodeCost[];
  host?: Throughputs;
  hostProbes?: NodeProbes;
}

async function measure(
  arms: { name: string; path: string }[],
  workload: WorkloadSpec,
  threads: number,
  settings: ProtocolSettings,
  needPrediction: boolean,
  log: (m: string) => void,
): Promise<Measured> {
  const timings: TimingResult[] = [];
  const before = cpuSnapshot();
  for (let p = 0; p < settings.processes; p++) {
    log(`timing process ${p + 1}/${settings.processes} (${threads} thread${threads === 1 ? '' : 's'})`);
    const spec: TimingSpec = {
      arms,
      workload,
      threads,
      warmupRuns: settings.warmupRuns,
      warmupMs: settings.warmupMs,
      iterations: settings.iterations,
      decodeTokens: workload.kind === 'decode' ? settings.decodeTokens : 0,
      seed: p + 1,
    };
    timings.push(await runInChild<TimingResult>('bench', spec));
  }
  const load = cpuLoad(before, cpuSnapshot());
  const rss: Record<string, number> = {};
  for (const arm of arms) {
    log(`peak memory of ${arm.name} in its own process`);
    rss[arm.name] = (
      await runInChild<{ peakRssBytes: number }>('rss', { path: arm.path, workload, threads, runs: 3 })
    ).peakRssBytes;
  }
  if (!needPrediction) return { timings, rss, ...(load ? { load } : {}) };
  log('per-node profile and host calibration for the device prediction');
  const { nodes } = await runInChild<{ nodes: NodeCost[] }>('profile', {
    path: arms[0]!.path,
    workload,
    threads,
    runs: 10,
  });
  const calibration = await calibrateHost({ threads: [threads], budgetMs: settings.calibrationMs });
  const figures = calibration.threads[String(threads)] as Throughputs | undefined;
  return {
    timings,
    rss,
    nodes,
    ...(load ? { load } : {}),
    ...(figures ? { host: figures } : {}),
    ...(calibration.nodeProbes ? { hostProbes: calibration.nodeProbes } : {}),
  };
}

/** The eval metric of the head (and of the reference), or the finding that says why there is none. */
async function quality(
  head: string,
  reference: string | undefined,
  evalData: string,
  threads: number,
  inProcess: boolean,
): Promise<{ block?: BenchResult['quality']; finding?: string }> {
  const spec = {
    reference: reference ?? head,
    candidate: head,
    evalData,
    samples: Number.MAX_SAFE_INTEGER,
    threads,
  };
  const m = inProcess ? await measureFidelity(spec) : await runInChild<FidelityMeasurement>('fidelity', spec);
  if (m.nonFinite.candidate > 0) {
    return {
      finding: `the model's output "${m.output}" holds ${m.nonFinite.candidate} NaN or infinite values on ${evalData}: no quality metric is reported`,
    };
  }
  if (!m.metric) return {};
  if (!reference) {
    return {
      block: { metric: m.metric.name, value: m.metric.value, reference: null, delta: null, agreement: null },
    };
  }
  const referenceFinite = m.nonFinite.reference === 0 && Number.isFinite(m.metric.reference);
  return {
    block: {
      metric: m.metric.name,
      value: m.metric.value,
      reference: referenceFinite ? m.metric.reference : null,
      delta: referenceFinite ? m.metric.value - m.metric.reference : null,
      agreement: referenceFinite ? m.top1Agreement : null,
    },
    ...(referenceFinite
      ? {}
      : {
          finding: `the reference's output "${m.output}" holds ${m.nonFinite.reference} NaN or infinite values on ${evalData}: the quality is not compared`,
        }),
  };
}

/** "This runner as it is": a profile of the host itself, always measured natively. */
export const RUNNER_PROFILE_ID = 'this-runner';

function runnerProfile(host: HostFingerprint): ProfileDocument {
  return {
    schema: 'slmops.profile/v1',
    id: RUNNER_PROFILE_ID,
    name: host.cpuModel,
    arch: archOf(process.arch) === 'arm64' ? 'arm64' : 'x86_64',
    clusters: [{ name: 'all', cores: host.physicalCores, microarchitecture: host.cpuModel, maxClockGHz: 1 }],
    isaFeatures: host.isaFlags,
    peaks: { fp32GflopsPerCore: 1, int8GopsPerCore: 1 },
    dramBandwidthGBs: 1,
    ramBytes: host.ramBytes,
    sources: [],
  } as unknown as ProfileDocument;
}

/**
 * A baseline must take the same inputs as the head (names, element types, ranks): a ratio between two different
 * models is a number about nothing.
 */
function refuseUnlikeBaseline(
  head: Awaited<ReturnType<typeof inspectModel>>,
  base: Awaited<ReturnType<typeof inspectModel>>,
  subject: string,
): void {
  const signature = (r: typeof head) =>
    r.inputs
      .map((i) => `${i.name}: ${i.type}[${i.shape?.length ?? '?'}]`)
      .sort()
      .join(', ');
  if (signature(head) !== signature(base)) {
    throw new ConfigurationError(
      `the baseline takes other inputs than the model (baseline: ${signature(base) || 'none'}; model: ${signature(head) || 'none'}), so the two cannot be compared`,
      { subject, fix: 'Give as baseline an earlier version of the same model (a path, or git:<ref>:<path>)' },
    );
  }
}

/** A variant folder (what compress writes: model.onnx beside compress-report.json) stands for its model. */
function modelFile(path: string): string {
  const inside = join(path, 'model.onnx');
  return existsSync(path) && statSync(path).isDirectory() && existsSync(inside) ? inside : path;
}

/** The model's inputs and outputs, as onnxruntime reads them (the session is released at once). */
async function modelInterface(path: string): Promise<Pick<Session, 'inputs' | 'outputs'>> {
  const session = await createSession(path);
  try {
    return { inputs: session.inputs, outputs: session.outputs };
  } finally {
    await session.release();
  }
}

/**
 * Checks `--dim` against the model (every name must be a symbolic dim of its inputs) and settles the batch: a dim
 * named for it (`batch`, `batch_size`) wherever it sits, else the leading dim of `input_ids`, else of the first input
 * of rank 2 or more, whatever its name (`N`, `s0`). A symbolic one is bound to `--batch` or to a `--dim` of it (`--dim N=4` is a batch of 4; the two
 * must agree); a fixed one is the batch, and a `--batch` that says otherwise is refused. Returns the batch and the
 * dims to bind.
 */
export function resolveBatch(
  inputs: readonly IoInfo[],
  options: BenchOptions,
): { batch: number; dims: Record<string, number> } {
  const symbolic = new Set(
    inputs.flatMap((i) =>
      i.shape.flatMap((d) => (typeof d === 'string' ? d.split('+').map((part) => part.trim()) : [])),
    ),
  );
  const unknown = Object.keys(options.dims ?? {}).find((name) => !symbolic.has(name));
  if (unknown !== undefined) {
    throw new ConfigurationError(
      `--dim ${unknown}: the model's inputs have no symbolic dim of that name (they have: ${[...symbolic].join(', ') || 'none'})`,
      { subject: options.modelPath, fix: 'Name one of those dims, or drop the option' },
    );
  }
  const dims = { ...(options.dims ?? {}) };
  // A dim named for the batch wherever it sits ([seq, batch, …] in sequence-first exports), else the dim leading
  // input_ids, else the first input of rank 2 or more (a 1-D cache_position leads with positions).
  const named = [...symbolic].find((d) => /^(batch|batch_size|batchsize|n_batch|bs)$/i.test(d));
  const carrier =
    inputs.find((i) => i.name === 'input_ids' && i.shape.length > 0) ??
    inputs.find((i) => i.shape.length > 1) ??
    inputs.find((i) => i.shape.length > 0);
  const leading = named ?? carrier?.shape[0];
  if (typeof leading === 'number' && leading > 0) {
    if (options.batch !== undefined && options.batch !== leading) {
      throw new ConfigurationError(`--batch ${options.batch}: the model fixes its batch at ${leading}`, {
        subject: options.modelPath,
        fix: `Drop --batch (the batch is ${leading}), or export the model with a symbolic batch dim`,
      });
    }
    return { batch: leading, dims };
  }
  if (typeof leading !== 'string' || leading.includes('+')) return { batch: options.batch ?? 1, dims };
  const given = dims[leading];
  if (given !== undefined && options.batch !== undefined && options.batch !== given) {
    throw new ConfigurationError(`--batch ${options.batch} and --dim ${leading}=${given} disagree`, {
      subject: options.modelPath,
      fix: 'Give the batch once',
    });
  }
  const batch = given ?? options.batch ?? 1;
  return { batch, dims: { ...dims, [leading]: batch } };
}

export async function runBench(options: BenchOptions): Promise<BenchOutput[]> {
  const base = options.baseline ? resolveBaseline(options.baseline) : undefined;
  try {
    return await benchModels(options, base?.path);
  } finally {
    base?.release(); // a git baseline's checkout; a compressed like-for-like base stays in its cache
  }
}

async function benchModels(options: BenchOptions, basePath: string | undefined): Promise<BenchOutput[]> {
  const log = options.log ?? (() => {});
  const settings = { ...PROTOCOLS[options.protocol ?? 'full'] };
  if (options.processes) settings.processes = options.processes;
  if (options.iterations) settings.iterations = options.iterations;
  const host = await hostFingerprint();
  const profiles = options.profiles.length
    ? await Promise.all(options.profiles.map((p) => resolveProfile(p)))
    : [runnerProfile(host)];
  const clash = profiles.find((p, i) => profiles.findIndex((q) => q.id === p.id) !== i);
  if (clash) {
    throw new ConfigurationError(
      `two of the profiles given have the id "${clash.id}": their results would overwrite each other`,
      {
        subject: 'profiles',
        fix: 'Give each profile once, and a profile file of your own an id of its own',
      },
    );
  }

  const headPath = modelFile(resolve(options.modelPath));
  const headReport = readCompressReport(headPath);
  const id = options.name ?? headReport?.modelId ?? deriveModelId(undefined, options.modelPath);
  const variant = headReport?.variantId ?? id;
  const inspected = await inspectModel(headPath);
  const headBytes = inspected.bytes + inspected.externalData.reduce((n, f) => n + f.bytes, 0);

  let baseline: { path: string; variantId: string; bytes: number; sha256: string } | undefined;
  if (basePath) {
    const git = options.baseline ? parseGitBaseline(options.baseline) : undefined;
    const like = await compareLikeWithLike(basePath, headReport, log, git?.path);
    const base = await inspectModel(like.path);
    refuseUnlikeBaseline(inspected, base, options.baseline ?? basePath);
    baseline = {
      ...like,
      bytes: base.bytes + base.externalData.reduce((n, f) => n + f.bytes, 0),
      sha256: base.sha256,
    };
  }
  const arms = [
    { name: 'head', path: headPath },
    ...(baseline ? [{ name: 'base', path: baseline.path }] : []),
  ];

  const { inputs, outputs } = await modelInterface(headPath);
  const kind = chooseWorkload(inputs, outputs, options.workload ?? 'auto');
  const { batch, dims } = resolveBatch(inputs, options);
  const decodeSkipped = kvLayout(inputs, outputs)
    ? `decode was not asked for (workload ${kind}): bench with --workload decode (or auto) to measure it`
    : 'the model has no KV cache (past_key_values inputs): decode is not measured';
  const records = options.evalData ? readEvalData(options.evalData) : [];
  const tokens = records[0]?.kind === 'tokens' ? records[0].inputIds : undefined;
  const workload: WorkloadSpec = {
    kind,
    batch,
    sequenceLength: options.sequenceLength ?? 128,
    dims,
    ...(tokens ? { tokens } : {}),
  };

  // One measurement per thread count, shared by every profile that runs at it.
  const plans = profiles.map((profile) => {
    const native =
      profile.id === RUNNER_PROFILE_ID ||
      options.mode === 'native' ||
      (options.mode !== 'emulated' && hostMatchesProfile(host, profile));
    const threads =
      options.threads ??
      Math.max(1, Math.min(profileCores(profile), native ? host.logicalCores : host.physicalCores));
    return { profile, native, threads };
  });
  const reference =
    baseline?.path ?? (headReport && existsSync(headReport.input.path) ? headReport.input.path : undefined);
  // Quality first: eval data that does not fit the model is said before minutes of timing.
  const measuredQuality = options.evalData
    ? await quality(headPath, reference, options.evalData, plans[0]?.threads ?? 1, Boolean(options.inProcess))
    : {};
  const qualityBlock = measuredQuality.block;
  if (measuredQuality.finding) log(`warning: ${measuredQuality.finding}`);
  if (options.evalData && !qualityBlock && !measuredQuality.finding) {
    log(
      `${options.evalData}: no quality metric fits this model (perplexity needs logits over every position, accuracy needs labels), so none is reported`,
    );
  }

  const measurements = new Map<number, Measured>();
  for (const threads of [...new Set(plans.map((p) => p.threads))]) {
    const needPrediction = plans.some((p) => p.threads === threads && !p.native);
    measurements.set(threads, await measure(arms, workload, threads, settings, needPrediction, log));
  }

  const functional = new Map<string, Awaited<ReturnType<typeof runFunctionalCheck>>>();
  if (options.functional) {
    for (const { profile, native } of plans) {
      if (native || profile.arch !== 'arm64') continue;
      log(`functional check of ${variant} on ${profile.id} under qemu`);
      functional.set(
        profile.id,
        await runFunctionalCheck({
          model: headPath,
          profile,
          ...(reference ? { reference } : {}),
          ...(options.evalData ? { evalData: options.evalData } : {}),
          prepare: true,
          log: { info: log, warning: log, error: log, debug() {}, group: (_name, fn) => fn() },
        }),
      );
    }
  }

  return plans.map(({ profile, native, threads }) => {
    const m = measurements.get(threads)!;
    const headGroups = m.timings.map((t) => t.samplesMs.head!);
    const samples = headGroups.flat();
    const stats = summarize(samples);
    const ci95 = bootstrapMedianCi(headGroups);
    const perRun = tokensPerRun(workload);
    const findings: string[] = measuredQuality.finding ? [measuredQuality.finding] : [];
    if (threads > host.logicalCores) {
      findings.push(
        `ran at ${threads} threads on a host with ${host.logicalCores} logical cores: the threads share cores, so the latency is not what ${threads} cores would give`,
      );
    }
    const deviceCores = profileCores(profile);
    if (!native && profile.id !== RUNNER_PROFILE_ID && threads > deviceCores) {
      findings.push(
        `ran at ${threads} threads, more than ${profile.id} has cores (${deviceCores}): its prediction is for threads the device does not have; use --threads ${deviceCores} or fewer`,
      );
      log(`warning: ${findings.at(-1)}`);
    }
    // Forced native on a host that is not the device: the figures are this host's under the device's name.
    const notTheDevice = native && profile.id !== RUNNER_PROFILE_ID && !hostMatchesProfile(host, profile);
    if (notTheDevice) {
      findings.push(
        `measured natively on ${host.cpuModel} (${archOf(process.arch)}), which is not ${profile.id}'s CPU: these are this host's figures, not the device's; run on the device, or use --mode emulated`,
      );
      log(`warning: ${findings.at(-1)}`);
    }
    if ((!native || notTheDevice) && m.rss.head! > profile.ramBytes) {
      findings.push(
        `peak memory ${(m.rss.head! / 2 ** 20).toFixed(0)} MiB is more than the ${(profile.ramBytes / 2 ** 20).toFixed(profile.ramBytes < 2 ** 30 ? 1 : 0)} MiB of RAM of ${profile.id}`,
      );
    }
    let predicted: Prediction | undefined;
    if (!native && m.nodes && m.host) {
      const device = deviceThroughputs(profile, threads);
      const notes: string[] = [];
      const hostFamily = int8Family(host.isaFlags);
      const deviceFamily = int8Family(profile.isaFeatures);
      if (hostFamily !== deviceFamily && m.nodes.some((n) => n.int8)) {
        notes.push(`int8 kernels differ: this host uses ${hostFamily}, ${profile.id} uses ${deviceFamily}`);
      }
      const calibratedAt = Object.keys(profile.calibration?.threads ?? {});
      if (!device.calibrated && calibratedAt.length) {
        notes.push(
          `${profile.id} was calibrated at ${calibratedAt.join(', ')} thread(s), not ${threads}: predicted from datasheet peaks; run slmops calibrate --profile ${profile.id} --threads ${threads} on the device`,
        );
      }
      const probeVersion = profile.calibration?.probes?.version;
      if (device.calibrated && probeVersion !== undefined && probeVersion !== PROBE_VERSION) {
        notes.push(
          `${profile.id}'s calibration was measured by probes of version ${String(probeVersion)}, this slmops's are version ${PROBE_VERSION}: its figures may not compare; calibrate the device again`,
        );
      }
      if (!device.calibrated && profile.memory?.shared) {
        notes.push(
          `${profile.id}'s DRAM bandwidth is the whole host's, shared with other tenants: calibrate it for a useful figure`,
        );
      }
      const deviceProbes = profile.calibration?.nodeProbes;
      const byNodes = probesComparable(m.hostProbes, threads, deviceProbes, threads);
      if (deviceProbes && !byNodes) {
        notes.push(
          `${profile.id}'s node probes (version ${deviceProbes.version}) do not cover ${threads} thread${threads === 1 ? '' : 's'} or are not this slmops's (version ${m.hostProbes?.version ?? 'none'}): predicted from throughputs; run slmops calibrate --profile ${profile.id} on the device again`,
        );
      }
      predicted = byNodes
        ? predictFromNodeProbes(
            stats.p50,
            m.nodes,
            { probes: m.hostProbes!, threads },
            { probes: deviceProbes!, threads },
            notes,
          )
        : predictLatency(stats.p50, m.nodes, m.host, device.figures, device.calibrated, notes);
    }
    const decodeMs = m.timings
      .map((t) => t.decodeMsPerToken.head)
      .filter((v): v is number => v !== undefined);
    const meanDecode = decodeMs.length ? decodeMs.reduce((a, b) => a + b, 0) / decodeMs.length : undefined;
    const result: BenchResult & Record<string, unknown> = {
      schema: 'slmops.bench/v1',
      model: {
        path:
          headPath === resolve(options.modelPath) ? options.modelPath : join(options.modelPath, 'model.onnx'),
        sha256: inspected.sha256,
        bytes: headBytes,
        params: inspected.parameters,
      },
      modelId: id,
      variantId: variant,
      profile: { id: profile.id, mode: native ? 'native' : 'emulated' },
      host,
      workload: {
        kind,
        batch: workload.batch,
        ...(kind === 'generic' ? {} : { sequenceLength: workload.sequenceLength }),
        threads,
        protocol: options.protocol ?? 'full',
      },
      latencyMs: {
        p50: stats.p50,
        p90: stats.p90,
        p99: stats.p99,
        mean: stats.mean,
        mad: stats.mad,
        n: stats.n,
        ci95,
      },
      samplesMs:
        samples.length > MAX_RAW_SAMPLES
          ? { histogram: histogram(samples) }
          : samples.map((s) => Math.round(s * 1e4) / 1e4),
      ...(perRun ? { throughput: { tokensPerSec: (perRun * 1000) / stats.p50 } } : {}),
      ...(kind === 'generic'
        ? {}
        : {
            decode:
              kind === 'decode' && meanDecode !== undefined
                ? { measured: true as const, msPerToken: meanDecode, tokensPerSec: 1000 / meanDecode }
                : { measured: false as const, reason: decodeSkipped },
          }),
      ...(m.load
        ? {
            hostLoad: {
              otherCores: Math.round(m.load.otherCores * 100) / 100,
              stealPercent: Math.round(m.load.stealPct * 10) / 10,
            },
          }
        : {}),
      loadMs: m.timings.reduce((s, t) => s + t.loadMs.head!, 0) / m.timings.length,
      firstRunMs: m.timings.reduce((s, t) => s + t.firstRunMs.head!, 0) / m.timings.length,
      peakRssBytes: m.rss.head!,
      ...(predicted
        ? {
            predicted: {
              p50Ms: predicted.p50Ms,
              intervalMs: predicted.intervalMs,
              calibrated: predicted.calibrated,
              method: predicted.method,
              modelError: predicted.modelError,
              notes: predicted.notes,
            },
          }
        : {}),
      ...(qualityBlock ? { quality: qualityBlock } : {}),
      ...(baseline
        ? (() => {
            const baseGroups = m.timings.map((t) => t.samplesMs.base!);
            const c = processRatioCi(headGroups, baseGroups);
            return {
              comparison: {
                baselineVariantId: baseline.variantId,
                ratioP50: c.ratio,
                ci95: c.ci95,
                baselineBytes: baseline.bytes,
                baselineSha256: baseline.sha256,
                baselineP50Ms: summarize(baseGroups.flat()).p50,
              },
            };
          })()
        : {}),
      ...(options.pullRequest ? { pullRequest: options.pullRequest } : {}),
      ...(findings.length ? { findings } : {}),
      ...(functional.has(profile.id) ? { functional: functional.get(profile.id)! } : {}),
      createdAt: new Date().toISOString(),
    };
    validateDocument('bench', result, `bench result for ${profile.id}`);
    return { profile, result };
  });
}
