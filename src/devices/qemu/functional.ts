/**
 * The arm64 functional check: does a variant load, run and agree with x86-64 on a device's own CPU features?
 *
 * The variant runs under qemu-user with the profile's CPU (`QEMU_CPU`, and a /proc/cpuinfo naming the profile's
 * core) on N eval inputs, by a small guest script of its own (./guest-script.ts) on the sysroot's Node; the same
 * inputs run here on x86-64 through the variant and, when given, the uncompressed reference model. A crash (SIGILL,
 * SIGSEGV) is a failed check naming the profile and, for an illegal instruction, the instruction. Timings under
 * emulation mean nothing: only the wall time of the whole check is recorded, never as a latency.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import type { FunctionalResult, ProfileDocument } from '../../config/types.ts';
import { ConfigurationError } from '../../errors.ts';
import { type EvalRecord, readEvalData } from '../../evaluate/eval-data.ts';
import { evalFeeds } from '../../evaluate/feeds.ts';
import { agreement, classifierAccuracy, languageModelQuality } from '../../evaluate/metrics.ts';
import { floatData } from '../../inference/float-data.ts';
import { createSession, type Session, type TensorValue } from '../../inference/session.ts';
import { synthesizeInputs } from '../../inference/synthesize.ts';
import { resolveProfile } from '../profiles.ts';
import { decodeInstruction, describeInstruction, lastLoggedInstruction } from './disasm.ts';
import {
  compareFeatures,
  type DerivedCpu,
  DISPATCH_FEATURES,
  deriveCpu,
  describeComparison,
  HWCAP_NAMES,
  HWCAP2_NAMES,
  qemuModel,
  renderCpuinfo,
  sameDispatch,
} from './features.ts';
import { resolveGuestRuntime } from './guest-runtime.ts';
import { GUEST_SCRIPT } from './guest-script.ts';
import { formatQemuVersion, qemuBuildsCpuinfo } from './qemu-version.ts';
import { probeHwcaps, runGuest } from './run-guest.ts';
import {
  type Arm64Emulator,
  findArm64Emulator,
  guestRoot,
  possibleCpus,
  prepareArm64Emulator,
} from './sysroot.ts';

/** Default number of inputs: eval records or synthesized feeds (language models: fewer, they are slow under qemu). */
export const DEFAULT_SAMPLES = 8;
export const DEFAULT_LM_SAMPLES = 4;
/** Below this top-1 agreement between the arm64 and the x86-64 run of the same variant, the check fails. */
export const DEFAULT_MIN_AGREEMENT = 0.99;
/** A guest run is killed after this long. */
export const DEFAULT_TIMEOUT_MS = 15 * 60 * 1000;

export interface FunctionalOptions {
  /** The variant (.onnx) to check. */
  model: string;
  /** An arm64 profile, or its id / file. */
  profile: ProfileDocument | string;
  /** The uncompressed model, run on x86-64 as the reference. */
  reference?: string;
  /** Eval data (JSONL); without it, synthesized inputs. */
  evalData?: string;
  /** How many inputs (default 8; 4 for token eval data). */
  samples?: number;
  /** Intra-op threads of both runs (default 1). */
  threads?: number;
  /** The emulator (default: from the cache, prepared into it when `prepare`). */
  emulator?: Arm64Emulator;
  /** The folder holding node_modules/onnxruntime-node with the linux/arm64 binding (default: found, see ./guest-runtime.ts). */
  guestOrtDir?: string;
  /** Download and cache what is missing (sysroot, qemu, the arm64 onnxruntime); default false. */
  prepare?: boolean;
  /** Default process.env (`SLMOPS_REQUIRE_QEMU=1` turns a skip into a failure). */
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /**
   * When qemu's CPU model does not have the profile's dispatch flags: `skip` (default) says so; `run` runs anyway,
   * as a device whose kernel advertises flags its CPU lacks would (a crash is then the expected outcome).
   */
  onMismatch?: 'skip' | 'run';
  minAgreement?: number;
  timeoutMs?: number;
  /** After an illegal instruction, run again with QEMU_LOG=in_asm to name it (default true). */
  readFaultingInstruction?: boolean;
  /** Keep the job folder (feeds, outputs, logs) here instead of a temporary folder that is removed. */
  workDir?: string;
}

const silent: Logger = { info() {}, warning() {}, error() {}, debug() {}, group: (_n, fn) => fn() };

interface Context {
  started: number;
  profile: string;
  qemuCpu: string | null;
  qemuVersion: string | null;
  features: string[];
  env: NodeJS.ProcessEnv;
}

function finish(
  ctx: Context,
  rest: Omit<FunctionalResult, 'profile' | 'qemuCpu' | 'qemuVersion' | 'features' | 'seconds'>,
): FunctionalResult {
  return {
    profile: ctx.profile,
    qemuCpu: ctx.qemuCpu,
    qemuVersion: ctx.qemuVersion,
    features: ctx.features,
    ...rest,
    seconds: Math.round((performance.now() - ctx.started) / 100) / 10,
  };
}

/** A skip; with SLMOPS_REQUIRE_QEMU=1 it is a failure (CI must not pass silently without the check). */
function skip(ctx: Context, reason: string, notes: string[] = []): FunctionalResult {
  const required = ctx.env.SLMOPS_REQUIRE_QEMU === '1';
  return finish(ctx, {
    status: required ? 'failed' : 'skipped',
    reason: required ? `${reason} (SLMOPS_REQUIRE_QEMU=1 makes a skipped check a failure)` : reason,
    samples: 0,
    ...(notes.length ? { notes } : {}),
  });
}

/**
 * A profile the installed qemu cannot emulate faithfully: said in the result, and never turned into a failure by
 * SLMOPS_REQUIRE_QEMU (that variable guards against a missing emulator, not against a profile's limits).
 */
function unsupported(ctx: Context, reason: string, notes: string[] = []): FunctionalResult {
  return finish(ctx, { status: 'skipped', reason, samples: 0, ...(notes.length ? { notes } : {}) });
}

/** Runs the functional check of one variant on one arm64 profile. */
export async function runFunctionalCheck(options: FunctionalOptions): Promise<FunctionalResult> {
  const started = performance.now();
  const env = options.env ?? process.env;
  const log = options.log ?? silent;
  const profile =
    typeof options.profile === 'string' ? await resolveProfile(options.profile) : options.profile;
  const ctx: Context = { started, profile: profile.id, qemuCpu: null, qemuVersion: null, features: [], env };

  if (profile.arch !== 'arm64') {
    return finish(ctx, {
      status: 'skipped',
      reason: `${profile.id} is an ${profile.arch} profile: the functional check emulates arm64 devices only`,
      samples: 0,
    });
  }
  const cpu = deriveCpu(profile);
  ctx.qemuCpu = cpu.qemuCpu;
  ctx.features = cpu.features;
  if (process.arch === 'arm64') {
    return finish(ctx, {
      status: 'skipped',
      reason: `this host is arm64: run the benchmark on a ${profile.id} itself (native), no emulation needed`,
      samples: 0,
    });
  }

  let emulator = options.emulator;
  if (!emulator) {
    if (options.prepare) {
      try {
        emulator = await prepareArm64Emulator({ env, log });
      } catch (error) {
        if (!(error instanceof ConfigurationError)) throw error;
        return skip(ctx, `${profile.id}: the arm64 emulator could not be prepared: ${error.message}`);
      }
    } else {
      const found = await findArm64Emulator({ env, log });
      if (!found.found) return skip(ctx, `${profile.id}: ${found.reason}. ${found.hint}`);
      emulator = found.emulator;
    }
  }
  ctx.qemuVersion = formatQemuVersion(emulator.qemuVersion);

  const model = qemuModel(cpu.qemuCpu);
  const label = `${profile.id} (QEMU_CPU=${cpu.qemuCpu}, QEMU ${ctx.qemuVersion})`;
  if (!emulator.cpuModels.includes(model)) {
    return unsupported(
      ctx,
      `QEMU ${ctx.qemuVersion} cannot emulate ${profile.id}: it has no CPU model ${model} (it has ${emulator.cpuModels.join(', ')}); a newer qemu-aarch64 may (QEMU 10.0 of Debian 13 has cortex-a55, cortex-a710, neoverse-n2, neoverse-v1; 'qemu-aarch64 -cpu help' lists them); point SLMOPS_QEMU at one`,
    );
  }

  let ortDir = options.guestOrtDir;
  if (!ortDir) {
    let runtime: Awaited<ReturnType<typeof resolveGuestRuntime>>;
    try {
      runtime = await resolveGuestRuntime({ env, log, prepare: Boolean(options.prepare) });
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      return skip(ctx, `${profile.id}: the arm64 onnxruntime could not be installed: ${error.message}`);
    }
    if (!runtime.found) return skip(ctx, `${profile.id}: ${runtime.reason}. ${runtime.hint}`);
    ortDir = runtime.dir;
  }

  const work = options.workDir ?? (await mkdtemp(path.join(os.tmpdir(), 'slmops-functional-')));
  await mkdir(work, { recursive: true });
  try {
    const notes: string[] = [];
    const probed = await probeHwcaps(emulator, cpu.qemuCpu, work);
    if ('error' in probed)
      return skip(
        ctx,
        `QEMU ${ctx.qemuVersion} refuses QEMU_CPU=${cpu.qemuCpu} for ${profile.id}: ${probed.error}`,
      );
    const comparison = compareFeatures(cpu.features, probed.flags);
    if (!sameDispatch(comparison)) {
      const why = `qemu's ${cpu.qemuCpu} ${describeComparison({ ...comparison, other: [] })} (hwcaps ${probed.flags.join(' ')})`;
      if ((options.onMismatch ?? 'skip') === 'skip')
        return unsupported(
          ctx,
          `QEMU ${ctx.qemuVersion} cannot emulate ${profile.id} faithfully: ${why}; onnxruntime would choose other kernels than on the device`,
        );
      notes.push(
        `run although ${why}: onnxruntime sees the profile's core in /proc/cpuinfo and may choose kernels the emulated CPU cannot run`,
      );
    } else if (comparison.other.length) {
      notes.push(
        `qemu's ${cpu.qemuCpu} differs from ${profile.id} only in flags no onnxruntime kernel depends on (${comparison.other.join(' ')})`,
      );
    }
    return await checkVariant({
      options,
      ctx,
      cpu,
      emulator,
      ortDir,
      work,
      notes,
      label,
      hwcaps: probed.flags,
      log,
    });
  } finally {
    if (!options.workDir) await rm(work, { recursive: true, force: true });
  }
}

// -----------------------------------------------------------------------------------------------------------------

interface CheckInput {
  options: FunctionalOptions;
  ctx: Context;
  cpu: DerivedCpu;
  emulator: Arm64Emulator;
  ortDir: string;
  work: string;
  notes: string[];
  label: string;
  hwcaps: string[];
  log: Logger;
}

export interface Sample {
  feeds: Record<string, TensorValue>;
  record?: EvalRecord;
}

async function checkVariant(input: CheckInput): Promise<FunctionalResult> {
  const { options, ctx, cpu, emulator, ortDir, work, notes, label, log } = input;
  const threads = options.threads ?? 1;

  // 1. Inputs and the x86-64 runs.
  const variant = await createSession(options.model, { intraOpThreads: threads });
  let samples: Sample[];
  let outputName: string;
  let x86: TensorValue[];
  try {
    samples = buildSamples(variant, options);
    const floats = variant.outputs.filter((o) => o.type === 'float32' || o.type === 'float16');
    outputName = (floats[0] ?? variant.outputs[0])!.name;
    x86 = await runAll(variant, samples, outputName);
  } finally {
    await variant.release();
  }
  let reference: TensorValue[] | undefined;
  if (options.reference) {
    const session = await createSession(options.reference, { intraOpThreads: threads });
    try {
      reference = await runAll(session, samples, outputName);
    } catch (error) {
      notes.push(
        `the reference model did not run the variant's inputs on x86-64: ${(error as Error).message.split('\n')[0]}`,
      );
    } finally {
      await session.release();
    }
  }

  // 2. The arm64 run.
  const feedsBase = path.join(work, 'feeds');
  await writeFeeds(samples, feedsBase);
  const outDir = path.join(work, 'out');
  await mkdir(outDir, { recursive: true });
  const job = {
    ortDir,
    model: path.resolve(options.model),
    feeds: feedsBase,
    output: outputName,
    outDir,
    threads,
    features: cpu.features,
    dispatch: DISPATCH_FEATURES,
    hwcapNames: HWCAP_NAMES,
    hwcap2Names: HWCAP2_NAMES,
    stopOnMismatch: (options.onMismatch ?? 'skip') === 'skip',
  };
  await writeFile(path.join(work, 'job.json'), JSON.stringify(job));
  await writeFile(path.join(work, 'guest.cjs'), GUEST_SCRIPT);
  const root = await guestRoot(emulator.sysroot, renderCpuinfo(cpu, await possibleCpus()), work);
  const command = {
    emulator,
    root,
    qemuCpu: cpu.qemuCpu,
    program: path.join(root, 'usr', 'bin', 'node'),
    args: [path.join(work, 'guest.cjs'), path.join(work, 'job.json')],
    cwd: work,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
  log.info(`functional: running ${path.basename(options.model)} on ${label} with ${samples.length} inputs`);
  const exit = await runGuest(command);
  log.debug(
    `functional: guest exited (code ${exit.code}, signal ${exit.signal}) after ${exit.seconds.toFixed(1)} s`,
  );

  const probe = await readJson<GuestProbe>(path.join(outDir, 'probe.json'));
  const guest = probe ? guestView(probe, cpu) : undefined;
  if (guest && guest.cpuinfoFrom === 'qemu' && probe?.cpuPart && Number(probe.cpuPart) !== cpu.midr.part) {
    notes.push(
      `QEMU ${ctx.qemuVersion} builds /proc/cpuinfo from the CPU model: the guest saw CPU part ${probe.cpuPart} (${qemuModel(cpu.qemuCpu)}), not ${profileCore(cpu)}`,
    );
  }
  if (guest && (guest.cpuinfoFrom === 'qemu') !== qemuBuildsCpuinfo(emulator.qemuVersion)) {
    notes.push(
      guest.cpuinfoFrom === 'qemu'
        ? `QEMU ${ctx.qemuVersion} did not show the guest the sysroot's /proc/cpuinfo (it saw: ${guest.cpuinfo.join(' ')})`
        : `QEMU ${ctx.qemuVersion} showed the guest the sysroot's /proc/cpuinfo although versions from 8.2 on build their own`,
    );
  }
  const base = { samples: samples.length, ...(guest ? { guest } : {}) };
  const withNotes = () => (notes.length ? { notes } : {});

  // 3. How it ended.
  const crashed =
    exit.targetSignal ??
    (exit.signal && !exit.timedOut ? { name: exit.signal, number: 0, description: exit.signal } : undefined);
  if (crashed) {
    const fault: NonNullable<FunctionalResult['fault']> = {
      signal: crashed.name,
      ...(exit.stage ? { stage: exit.stage } : {}),
    };
    let where = '';
    if (crashed.name === 'SIGILL' && options.readFaultingInstruction !== false) {
      const found = await faultingInstruction(command, work);
      if (found) {
        const decoded = decodeInstruction(found.word);
        fault.instruction = describeInstruction(found.word);
        fault.address = found.address;
        if (decoded?.feature) fault.feature = decoded.feature;
        where = ` at ${fault.instruction} (address ${found.address})`;
        if (decoded?.feature && !input.hwcaps.includes(decoded.feature))
          where += `: the emulated ${qemuModel(cpu.qemuCpu)} has no ${decoded.feature}, so onnxruntime chose kernels this CPU cannot run`;
      } else where = ' (the instruction could not be read from the QEMU_LOG=in_asm log)';
    } else if (crashed.name === 'SIGSEGV') {
      where = ' (a segmentation fault; rerun with QEMU_LOG=in_asm,cpu to trace it)';
    }
    return finish(ctx, {
      status: 'failed',
      reason: `${label}: the arm64 run crashed with ${crashed.name} (${crashed.description}) ${stageText(exit.stage)}${where}`,
      fault,
      ...base,
      ...withNotes(),
    });
  }
  if (exit.timedOut) {
    return finish(ctx, {
      status: 'failed',
      reason: `${label}: the arm64 run did not finish within ${Math.round(command.timeoutMs / 1000)} s ${stageText(exit.stage)}`,
      ...base,
      ...withNotes(),
    });
  }
  const result = await readJson<GuestResult>(path.join(outDir, 'result.json'));
  if (result?.stopped === 'features') {
    return unsupported(
      ctx,
      `${label}: the guest does not see ${profileCore(cpu)}'s flags (${(result.mismatches ?? []).join(', ')}); QEMU ${ctx.qemuVersion} cannot emulate it faithfully`,
      notes,
    );
  }
  if (exit.code !== 0 || !result?.samples) {
    const why = result?.error ?? lastLines(exit.stderr);
    return finish(ctx, {
      status: 'failed',
      reason: `${label}: onnxruntime on arm64 failed ${stageText(exit.stage)}: ${why}`,
      ...base,
      ...withNotes(),
    });
  }

  // 4. Agreement with x86-64.
  const arm = await readOutputs(path.join(outDir, 'outputs.bin'), result.samples);
  for (let i = 0; i < arm.length; i++) {
    const a = arm[i]!;
    const b = x86[i]!;
    if (a.dims.join('x') !== b.dims.join('x')) {
      return finish(ctx, {
        status: 'failed',
        reason: `${label}: output "${outputName}" of sample ${i + 1} has shape [${a.dims.join(', ')}] on arm64 and [${b.dims.join(', ')}] on x86-64`,
        ...base,
        ...withNotes(),
      });
    }
  }
  const armValues = concat(arm);
  const x86Values = concat(x86);
  const width = x86[0]?.dims.at(-1) ?? 1;
  const nonFinite = countNonFinite(armValues) - countNonFinite(x86Values);
  const same = agreement(x86Values, armValues, width);
  const metrics = qualityOf(samples, arm, x86, reference);
  const refAgreement = reference ? agreement(concat(reference), armValues, width) : undefined;
  const minAgreement = options.minAgreement ?? DEFAULT_MIN_AGREEMENT;
  const measured = {
    agreement: same.top1Agreement,
    maxAbsDiff: same.maxAbsDiff,
    ...(metrics ? { metric: metrics.metric, metricDelta: metrics.metric.arm64 - metrics.metric.x86 } : {}),
    ...(refAgreement
      ? {
          reference: {
            agreement: refAgreement.top1Agreement,
            maxAbsDiff: refAgreement.maxAbsDiff,
            ...(metrics?.reference !== undefined
              ? { metricDelta: metrics.metric.arm64 - metrics.reference }
              : {}),
          },
        }
      : {}),
  };
  let failure: string | undefined;
  if (nonFinite > 0) failure = `${nonFinite} output values are NaN or infinite on arm64 and finite on x86-64`;
  else if (same.top1Agreement < minAgreement)
    failure = `top-1 agreement of arm64 with x86-64 is ${same.top1Agreement.toFixed(4)}, below ${minAgreement} (max |Δ| ${same.maxAbsDiff.toExponential(2)})`;
  return finish(ctx, {
    status: failure ? 'failed' : 'passed',
    ...(failure ? { reason: `${label}: ${failure}` } : {}),
    ...base,
    ...measured,
    ...withNotes(),
  });
}

function buildSamples(session: Session, options: FunctionalOptions): Sample[] {
  if (options.evalData) {
    const records = readEvalData(options.evalData);
    const n = options.samples ?? (records[0]?.kind === 'tokens' ? DEFAULT_LM_SAMPLES : DEFAULT_SAMPLES);
    return records.slice(0, n).map((record) => ({
      record,
      feeds: evalFeeds(session.inputs, [record], options.evalData!, session.outputs),
    }));
  }
  const n = options.samples ?? DEFAULT_SAMPLES;
  return Array.from({ length: n }, (_, i) => ({
    feeds: synthesizeInputs(session.inputs, { seed: i + 1, dims: { seq: 16 } }),
  }));
}

async function runAll(session: Session, samples: Sample[], output: string): Promise<TensorValue[]> {
  const out: TensorValue[] = [];
  for (const sample of samples) {
    const result = await session.run(sample.feeds, [output]);
    out.push(result[output]!);
  }
  return out;
}

/** `feeds.json` (per sample: name, type, dims, offset, bytes) and `feeds.bin` (the raw little-endian data). */
export async function writeFeeds(samples: Sample[], base: string): Promise<void> {
  const handle = await open(`${base}.bin`, 'w');
  const meta: { samples: { name: string; type: string; dims: number[]; offset: number; bytes: number }[][] } =
    {
      samples: [],
    };
  let offset = 0;
  try {
    for (const sample of samples) {
      const inputs = [];
      for (const [name, value] of Object.entries(sample.feeds)) {
        if (Array.isArray(value.data))
          throw new Error(`input "${name}" holds strings, which the guest cannot feed`);
        const view = value.data as ArrayBufferView;
        const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
        await handle.write(bytes);
        inputs.push({ name, type: value.type, dims: value.dims, offset, bytes: bytes.length });
        offset += bytes.length;
      }
      meta.samples.push(inputs);
    }
  } finally {
    await handle.close();
  }
  await writeFile(`${base}.json`, JSON.stringify(meta));
}

interface GuestProbe {
  cpuinfo: string[];
  cpuPart: string | null;
  hwcaps: string[];
  mismatches: string[];
}

interface GuestResult {
  samples?: { type: string; dims: number[]; offset: number; bytes: number }[];
  stopped?: string;
  mismatches?: string[];
  error?: string;
  onnxruntime?: string;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/**
 * What the guest saw. Its /proc/cpuinfo is ours (`sysroot`) when it is exactly the text we wrote; QEMU 8.2 and later
 * make up their own from the CPU model (`qemu`).
 */
function guestView(probe: GuestProbe, cpu: DerivedCpu): NonNullable<FunctionalResult['guest']> {
  const ours =
    probe.cpuinfo.join(' ') === cpu.features.join(' ') &&
    probe.cpuPart !== null &&
    Number(probe.cpuPart) === cpu.midr.part;
  return { cpuinfo: probe.cpuinfo, hwcaps: probe.hwcaps, cpuinfoFrom: ours ? 'sysroot' : 'qemu' };
}

function profileCore(cpu: DerivedCpu): string {
  return `${cpu.profile}'s ${cpu.core || 'core'}`;
}

function stageText(stage: string | undefined): string {
  if (!stage) return 'at start-up';
  if (stage === 'load') return 'while loading onnxruntime-node';
  if (stage === 'session') return 'while opening the model';
  const sample = /^sample (\d+)\/(\d+)$/.exec(stage);
  if (sample) return `while running input ${sample[1]} of ${sample[2]}`;
  if (stage === 'done') return 'after the last input';
  return `at "${stage}"`;
}

function lastLines(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('slmops-guest: '))
      .slice(-3)
      .join(' | ') || 'no message'
  );
}

/** Runs the crashed guest again with QEMU_LOG=in_asm and reads the last instruction qemu translated. */
async function faultingInstruction(
  command: Parameters<typeof runGuest>[0],
  work: string,
): Promise<{ address: string; word: number } | undefined> {
  const logFile = path.join(work, 'qemu-in_asm.log');
  await runGuest({ ...command, env: { QEMU_LOG: 'in_asm', QEMU_LOG_FILENAME: logFile } });
  if (!existsSync(logFile)) return undefined;
  const handle = await open(logFile, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 256 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return lastLoggedInstruction(buffer.toString('utf8'));
  } finally {
    await handle.close();
    await rm(logFile, { force: true });
  }
}

export async function readOutputs(
  file: string,
  samples: NonNullable<GuestResult['samples']>,
): Promise<TensorValue[]> {
  const data = await readFile(file);
  return samples.map((s) => {
    const bytes = new Uint8Array(data.subarray(s.offset, s.offset + s.bytes));
    const copy = bytes.slice().buffer;
    const typed =
      s.type === 'float32'
        ? new Float32Array(copy)
        : s.type === 'float16'
          ? new Uint16Array(copy)
          : s.type === 'float64'
            ? new Float64Array(copy)
            : s.type === 'int64'
              ? new BigInt64Array(copy)
              : s.type === 'int32'
                ? new Int32Array(copy)
                : new Uint8Array(copy);
    return { type: s.type as TensorValue['type'], dims: s.dims, data: typed };
  });
}

/** Float values of a tensor (float16 decoded, integers converted). */
function floats(value: TensorValue): Float64Array {
  return Array.isArray(value.data)
    ? new Float64Array(value.data.length)
    : Float64Array.from(floatData(value));
}

function concat(values: TensorValue[]): Float64Array {
  const parts = values.map(floats);
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function countNonFinite(values: Float64Array): number {
  let n = 0;
  for (const v of values) if (!Number.isFinite(v)) n += 1;
  return n;
}

/** Accuracy (labelled tensor records) or perplexity (token records) of each run; undefined without eval labels. */
function qualityOf(
  samples: Sample[],
  arm: TensorValue[],
  x86: TensorValue[],
  reference: TensorValue[] | undefined,
): { metric: NonNullable<FunctionalResult['metric']>; reference?: number } | undefined {
  const records = samples.map((s) => s.record);
  if (records.some((r) => r === undefined)) return undefined;
  const all = records as EvalRecord[];
  if (all.every((r) => r.kind === 'tensor' && r.label !== undefined)) {
    const labels = all.map((r) => (r.kind === 'tensor' ? r.label! : 0));
    const accuracy = (values: TensorValue[]) => {
      const width = values[0]?.dims.at(-1) ?? 1;
      return classifierAccuracy(concat(values), width, labels).accuracy;
    };
    return {
      metric: { name: 'accuracy', arm64: accuracy(arm), x86: accuracy(x86) },
      ...(reference ? { reference: accuracy(reference) } : {}),
    };
  }
  if (all.every((r) => r.kind === 'tokens') && x86[0]?.dims.length === 3) {
    const perplexity = (values: TensorValue[]) => {
      let nll = 0;
      let predictions = 0;
      values.forEach((v, i) => {
        const record = all[i]!;
        const q = languageModelQuality(floats(v), v.dims, [record.kind === 'tokens' ? record.inputIds : []]);
        nll += q.nll * q.predictions;
        predictions += q.predictions;
      });
      return Math.exp(nll / Math.max(1, predictions));
    };
    return {
      metric: { name: 'perplexity', arm64: perplexity(arm), x86: perplexity(x86) },
      ...(reference ? { reference: perplexity(reference) } : {}),
    };
  }
  return undefined;
}

// -----------------------------------------------------------------------------------------------------------------

export interface EmulationSupport {
  profile: string;
  qemuCpu: string;
  /** Whether this qemu can run the profile's kernels (same dispatch flags). */
  emulable: boolean;
  /** What the model lacks or has in excess, or the missing model. */
  detail: string;
}

/** For each arm64 profile: can the installed qemu emulate it (model present, same dispatch flags)? */
export async function emulationSupport(
  profiles: readonly ProfileDocument[],
  emulator: Arm64Emulator,
): Promise<EmulationSupport[]> {
  const out: EmulationSupport[] = [];
  const work = await mkdtemp(path.join(os.tmpdir(), 'slmops-qemu-probe-'));
  try {
    for (const profile of profiles) {
      if (profile.arch !== 'arm64') continue;
      const cpu = deriveCpu(profile);
      const model = qemuModel(cpu.qemuCpu);
      if (!emulator.cpuModels.includes(model)) {
        out.push({
          profile: profile.id,
          qemuCpu: cpu.qemuCpu,
          emulable: false,
          detail: `no CPU model ${model} in QEMU ${formatQemuVersion(emulator.qemuVersion)}`,
        });
        continue;
      }
      const probed = await probeHwcaps(emulator, cpu.qemuCpu, work);
      if ('error' in probed) {
        out.push({ profile: profile.id, qemuCpu: cpu.qemuCpu, emulable: false, detail: probed.error });
        continue;
      }
      const comparison = compareFeatures(cpu.features, probed.flags);
      out.push({
        profile: profile.id,
        qemuCpu: cpu.qemuCpu,
        emulable: sameDispatch(comparison),
        detail: describeComparison(comparison),
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
