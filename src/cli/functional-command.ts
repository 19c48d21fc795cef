/**
 * `slmops functional <model> --profile raspberry-pi-5 [--eval F] [--reference M]`: run a variant under qemu-user
 * with an arm64 device's CPU features and compare it with x86-64 (src/devices/qemu). `--prepare-only` fills the
 * cache (CI runs it once, then caches the folder); `--list` says which arm64 profiles the installed qemu can
 * emulate. Exit 1 when a check failed, 0 when every check passed or was skipped (a skip says why).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Logger } from '../action-kit/logger.ts';
import type { FunctionalResult } from '../config/types.ts';
import { listProfiles } from '../devices/profiles.ts';
import { emulationSupport, runFunctionalCheck } from '../devices/qemu/functional.ts';
import { resolveGuestRuntime } from '../devices/qemu/guest-runtime.ts';
import { formatQemuVersion } from '../devices/qemu/qemu-version.ts';
import { findArm64Emulator, INSTALL_HINT, prepareArm64Emulator } from '../devices/qemu/sysroot.ts';
import { ConfigurationError, GateFailedError } from '../errors.ts';
import type { CliIo } from './io.ts';

interface FunctionalFlags {
  profile?: string[];
  eval?: string;
  reference?: string;
  samples?: string;
  threads?: string;
  prepare: boolean;
  prepareOnly?: boolean;
  list?: boolean;
  out?: string;
  json?: boolean;
  verbose?: boolean;
}

function cliLogger(io: CliIo, verbose: boolean): Logger {
  return {
    info: (m) => io.err(m),
    warning: (m) => io.err(`warning: ${m}`),
    error: (m) => io.err(`error: ${m}`),
    debug: (m) => {
      if (verbose) io.err(m);
    },
    group: async (name, fn) => {
      io.err(name);
      return fn();
    },
  };
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new ConfigurationError(`${flag} "${value}" must be a whole number ≥ 1`, {
      subject: 'slmops functional',
    });
  }
  return n;
}

/** One line per check (plus its reason and notes). */
export function formatFunctionalResult(r: FunctionalResult): string {
  const icon = { passed: '✓', failed: '✗', skipped: '–' }[r.status];
  const where = r.qemuCpu ? ` (QEMU_CPU=${r.qemuCpu}${r.qemuVersion ? `, QEMU ${r.qemuVersion}` : ''})` : '';
  const lines = [`${icon} ${r.status} ${r.profile}${where}`];
  if (r.status !== 'skipped' && r.agreement !== undefined) {
    const parts = [
      `${r.samples} inputs`,
      `top-1 agreement with x86-64 ${r.agreement.toFixed(4)}`,
      `max |Δ| ${r.maxAbsDiff?.toExponential(2)}`,
    ];
    if (r.metric && r.metricDelta !== undefined)
      parts.push(
        `${r.metric.name} ${r.metric.arm64.toFixed(4)} (Δ ${r.metricDelta >= 0 ? '+' : ''}${r.metricDelta.toFixed(4)})`,
      );
    if (r.reference) parts.push(`agreement with the reference model ${r.reference.agreement.toFixed(4)}`);
    lines.push(`  ${parts.join(', ')}`);
  }
  if (r.reason) lines.push(`  ${r.reason}`);
  if (r.fault?.instruction)
    lines.push(`  faulting instruction: ${r.fault.instruction} at ${r.fault.address}`);
  for (const note of r.notes ?? []) lines.push(`  note: ${note}`);
  lines.push(`  ${r.seconds.toFixed(1)} s wall time under emulation (not a device latency)`);
  return lines.join('\n');
}

export function registerFunctional(program: Command, io: CliIo): void {
  program
    .command('functional')
    .description(
      "run a model under qemu-user with an arm64 device profile's CPU features and compare it with x86-64: does it load, run and agree?",
    )
    .argument('[model]', 'path of the .onnx file (the variant)')
    .option(
      '--profile <id...>',
      'arm64 device profile ids or profile files (e.g. raspberry-pi-4 raspberry-pi-5)',
    )
    .option('--eval <file>', 'eval data (JSONL): inputs, and accuracy or perplexity')
    .option('--reference <model>', 'the uncompressed model, run on x86-64 as the reference')
    .option('--samples <n>', 'number of inputs (default 8; 4 for language-model eval data)')
    .option('--threads <n>', 'intra-op threads of both runs', '1')
    .option('--no-prepare', 'use only what is cached; never download qemu, the arm64 sysroot or runtime')
    .option(
      '--prepare-only',
      'download and cache qemu, the arm64 sysroot and the arm64 onnxruntime, then exit',
    )
    .option('--list', 'list the arm64 profiles and whether the installed qemu can emulate them')
    .option('--out <file>', 'write the results (JSON) to this file')
    .option('--json', 'print the results as JSON')
    .option('--verbose', 'print debug messages')
    .action(async (model: string | undefined, flags: FunctionalFlags) => {
      const log = cliLogger(io, Boolean(flags.verbose));
      if (flags.prepareOnly || flags.list) {
        const started = performance.now();
        const emulator = flags.prepare
          ? await prepareArm64Emulator({ log })
          : await findArm64Emulator({ log }).then((found) => {
              if (!found.found)
                throw new ConfigurationError(found.reason, {
                  subject: 'slmops functional',
                  fix: INSTALL_HINT,
                });
              return found.emulator;
            });
        const runtime = await resolveGuestRuntime({ log, prepare: flags.prepare });
        const summary = {
          cache: emulator.dir,
          fromCache: emulator.fromCache,
          qemu: emulator.qemu,
          qemuVersion: formatQemuVersion(emulator.qemuVersion),
          cpuModels: emulator.cpuModels,
          bytes: emulator.bytes ?? null,
          prepareSeconds: emulator.prepareSeconds ?? null,
          seconds: Math.round((performance.now() - started) / 100) / 10,
          guestRuntime: runtime.found ? runtime.dir : null,
          ...(flags.list ? { profiles: await emulationSupport(listProfiles(), emulator) } : {}),
        };
        if (flags.json) io.out(JSON.stringify(summary, null, 2));
        else {
          io.out(
            [
              `arm64 emulator: ${summary.cache} (${emulator.fromCache ? 'cached' : 'prepared'}; ${((summary.bytes ?? 0) / 2 ** 20).toFixed(0)} MiB; prepared in ${summary.prepareSeconds ?? '?'} s)`,
              `qemu: ${summary.qemu}, QEMU ${summary.qemuVersion}; CPU models: ${summary.cpuModels.join(' ')}`,
              `arm64 onnxruntime: ${summary.guestRuntime ?? `missing (${runtime.found ? '' : runtime.hint})`}`,
              ...(summary.profiles ?? []).map(
                (p) => `${p.emulable ? '✓' : '✗'} ${p.profile} (QEMU_CPU=${p.qemuCpu}): ${p.detail}`,
              ),
            ].join('\n'),
          );
        }
        return;
      }
      if (!model) {
        throw new ConfigurationError('no model given', {
          subject: 'slmops functional',
          fix: 'Give the .onnx file: slmops functional model.onnx --profile raspberry-pi-5',
        });
      }
      const profiles = (flags.profile ?? []).flatMap((p) => p.split(',')).filter(Boolean);
      if (profiles.length === 0) {
        const arm = listProfiles()
          .filter((p) => p.arch === 'arm64')
          .map((p) => p.id);
        throw new ConfigurationError('no --profile given', {
          subject: 'slmops functional',
          fix: `Name one or more arm64 profiles: ${arm.join(', ')}`,
        });
      }
      const results: FunctionalResult[] = [];
      for (const profile of profiles) {
        const result = await runFunctionalCheck({
          model,
          profile,
          ...(flags.eval ? { evalData: flags.eval } : {}),
          ...(flags.reference ? { reference: flags.reference } : {}),
          ...(flags.samples ? { samples: positiveInt('--samples', flags.samples) } : {}),
          threads: positiveInt('--threads', flags.threads ?? '1'),
          prepare: flags.prepare,
          log,
        });
        results.push(result);
        if (!flags.json) io.out(formatFunctionalResult(result));
      }
      if (flags.out) {
        const target = resolve(flags.out);
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, `${JSON.stringify(results, null, 2)}\n`);
        io.err(`wrote ${target}`);
      }
      if (flags.json) io.out(JSON.stringify(results, null, 2));
      const failed = results.filter((r) => r.status === 'failed');
      if (failed.length) {
        throw new GateFailedError(`functional check failed on ${failed.map((r) => r.profile).join(', ')}`);
      }
    });
}
