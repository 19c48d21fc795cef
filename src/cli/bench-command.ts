import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { type BenchOutput, type Protocol, runBench } from '../bench/run-bench.ts';
import type { WorkloadKind } from '../bench/workload.ts';
import type { BenchResult } from '../config/types.ts';
import { slug } from '../contracts/ids.ts';
import { ConfigurationError } from '../errors.ts';
import { checkOutputFile, checkOutputFolder } from '../util/output-path.ts';
import type { CliIo } from './io.ts';

interface BenchFlags {
  profile: string[];
  baseline?: string;
  eval?: string;
  out?: string;
  outDir?: string;
  json?: boolean;
  quick?: boolean;
  processes?: string;
  iterations?: string;
  threads?: string;
  workload: string;
  seq: string;
  batch?: string;
  dim: string[];
  mode: string;
  name?: string;
  functional?: boolean;
}

const WORKLOADS = ['auto', 'generic', 'prefill', 'decode'];
const MODES = ['auto', 'native', 'emulated'];

function oneOf(flag: string, value: string, allowed: string[]): string {
  if (!allowed.includes(value)) {
    throw new ConfigurationError(`${flag} "${value}" is not one of ${allowed.join(', ')}`, {
      subject: 'slmops bench',
    });
  }
  return value;
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigurationError(`${flag} "${value}" must be a whole number ≥ 1`, {
      subject: 'slmops bench',
    });
  return n;
}

function parseDims(entries: string[]): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const entry of entries) {
    const [name, value] = entry.split('=');
    if (!name || value === undefined) {
      throw new ConfigurationError(`--dim "${entry}" is not name=value`, {
        subject: 'slmops bench',
        fix: 'Write e.g. --dim batch=1',
      });
    }
    dims[name] = positiveInt(`--dim ${name}`, value);
  }
  return dims;
}

function ms(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${v.toFixed(v < 10 ? 3 : 1)} ms`;
}

export function formatBenchResult(
  r: BenchResult & { findings?: string[]; predicted?: { notes?: string[] } },
): string {
  const lines = [
    `${r.variantId} on ${r.profile.id} (${r.profile.mode}${r.profile.mode === 'emulated' ? `: measured on ${r.host.cpuModel}` : ''})`,
    `  workload ${r.workload.kind}${r.workload.sequenceLength ? ` at ${r.workload.sequenceLength} tokens` : ''}, batch ${r.workload.batch}, ${r.workload.threads} thread(s), ${r.workload.protocol} protocol`,
    `  latency p50 ${ms(r.latencyMs.p50)} (95 % CI ${ms(r.latencyMs.ci95[0])}–${ms(r.latencyMs.ci95[1])}), p90 ${ms(r.latencyMs.p90)}, p99 ${ms(r.latencyMs.p99)}, n=${r.latencyMs.n}`,
  ];
  if (r.throughput) lines.push(`  throughput ${r.throughput.tokensPerSec.toFixed(1)} tokens/s`);
  if (r.decode) {
    lines.push(
      r.decode.measured === false
        ? `  decode: ${r.decode.reason}`
        : `  decode ${r.decode.msPerToken.toFixed(3)} ms/token (${r.decode.tokensPerSec.toFixed(1)} tokens/s)`,
    );
  }
  lines.push(
    `  load ${ms(r.loadMs)}, first run ${ms(r.firstRunMs)}, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MiB`,
  );
  if (r.predicted) {
    lines.push(
      `  predicted on ${r.profile.id}: p50 ${ms(r.predicted.p50Ms)} (interval ${ms(r.predicted.intervalMs[0])}–${ms(r.predicted.intervalMs[1])}; ${r.predicted.calibrated ? 'calibrated' : 'uncalibrated'}${r.predicted.method ? `, ${r.predicted.method}` : ''}; model error ${r.predicted.modelError})`,
    );
    for (const n of r.predicted.notes ?? []) lines.push(`  note: ${n}`);
  }
  if (r.quality) {
    lines.push(
      `  ${r.quality.metric} ${r.quality.value.toFixed(4)}${r.quality.reference === null ? '' : ` (reference ${r.quality.reference.toFixed(4)}, top-1 agreement ${r.quality.agreement?.toFixed(4)})`}`,
    );
  }
  if (r.comparison) {
    lines.push(
      `  vs ${r.comparison.baselineVariantId}: median ratio ${r.comparison.ratioP50.toFixed(3)} (95 % CI ${r.comparison.ci95[0].toFixed(3)}–${r.comparison.ci95[1].toFixed(3)})`,
    );
  }
  for (const f of r.findings ?? []) lines.push(`  finding: ${f}`);
  return lines.join('\n');
}

export function registerBench(program: Command, io: CliIo): void {
  program
    .command('bench')
    .description(
      'benchmark a model on device profiles: latency, throughput, memory, load time, accuracy; A/B with a baseline',
    )
    .argument('<model>', 'path of the .onnx file')
    .option(
      '--profile <id...>',
      'device profile ids or profile files (slmops profiles lists them); default: this host as it is',
      [],
    )
    .option('--baseline <model>', 'baseline to compare with, interleaved: a path or git:<ref>:<path>')
    .option('--eval <file>', 'eval data (JSONL) for accuracy or perplexity')
    .option('--out <file>', 'write the result (one profile) to this file')
    .option('--out-dir <dir>', 'write one result per profile into this folder')
    .option('--quick', 'quick protocol (fewer processes and iterations), clearly labelled in the result')
    .option('--processes <n>', 'fresh timing processes (default: 12, quick 3)')
    .option('--iterations <n>', 'timed runs per model in each timing process (default: 60, quick 20)')
    .option('--threads <n>', "intra-op threads (default: the profile's cores, at most this host's)")
    .option('--workload <kind>', 'auto, generic, prefill or decode', 'auto')
    .option('--seq <n>', 'sequence length of prefill, or cache length of a decode step', '128')
    .option('--batch <n>', "batch size: the model's leading input dim, whatever its name (default 1)")
    .option('--dim <name=value...>', 'values for other symbolic dims', [])
    .option(
      '--mode <mode>',
      "auto (native when this host is the profile's device), native or emulated",
      'auto',
    )
    .option('--name <id>', 'model id (default: from the compress report or the path)')
    .option(
      '--functional',
      "for emulated arm64 profiles, also run the variant under qemu on the device's CPU features",
    )
    .option('--json', 'print the results as JSON')
    .action(async (model: string, flags: BenchFlags) => {
      const profiles = flags.profile.flatMap((p) => p.split(',')).filter(Boolean);
      if (flags.out && profiles.length > 1) {
        throw new ConfigurationError('--out takes one result; several profiles need --out-dir', {
          subject: 'slmops bench',
        });
      }
      if (flags.out && flags.outDir) {
        throw new ConfigurationError('--out and --out-dir both say where the result goes', {
          subject: 'slmops bench',
          fix: 'Give one of them',
        });
      }
      if (flags.out) checkOutputFile(flags.out, '--out');
      if (flags.outDir) checkOutputFolder(flags.outDir, '--out-dir');
      const outputs: BenchOutput[] = await runBench({
        modelPath: model,
        profiles,
        ...(flags.baseline ? { baseline: flags.baseline } : {}),
        ...(flags.eval ? { evalData: flags.eval } : {}),
        protocol: (flags.quick ? 'quick' : 'full') as Protocol,
        ...(flags.processes ? { processes: positiveInt('--processes', flags.processes) } : {}),
        ...(flags.iterations ? { iterations: positiveInt('--iterations', flags.iterations) } : {}),
        ...(flags.threads ? { threads: positiveInt('--threads', flags.threads) } : {}),
        workload: oneOf('--workload', flags.workload, WORKLOADS) as WorkloadKind | 'auto',
        sequenceLength: positiveInt('--seq', flags.seq),
        ...(flags.batch ? { batch: positiveInt('--batch', flags.batch) } : {}),
        dims: parseDims(flags.dim),
        mode: oneOf('--mode', flags.mode, MODES) as 'auto' | 'native' | 'emulated',
        ...(flags.name ? { name: flags.name } : {}),
        functional: Boolean(flags.functional) || process.env.SLMOPS_FUNCTIONAL === '1',
        log: (m) => io.err(m),
      });
      for (const { profile, result } of outputs) {
        const target = flags.out
          ? resolve(flags.out)
          : flags.outDir
            ? join(resolve(flags.outDir), `${slug(result.variantId)}.${profile.id}.bench.json`)
            : undefined;
        if (target) {
          mkdirSync(dirname(target), { recursive: true });
          writeFileSync(target, `${JSON.stringify(result, null, 2)}\n`);
          io.err(`wrote ${target}`);
        }
      }
      io.out(
        flags.json
          ? JSON.stringify(
              outputs.map((o) => o.result),
              null,
              2,
            )
          : outputs.map((o) => formatBenchResult(o.result)).join('\n\n'),
      );
    });
}
