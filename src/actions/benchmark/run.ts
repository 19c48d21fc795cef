import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import type { OutputValue } from '../../action-kit/outputs.ts';
import { markdownTable } from '../../action-kit/summary.ts';
import { type BenchOutput, runBench } from '../../bench/run-bench.ts';
import type { BenchResult } from '../../config/types.ts';
import { slug } from '../../contracts/ids.ts';
import { ConfigurationError } from '../../errors.ts';
import { ensureOnnxRuntime, runtimeOptionsFromEnv } from '../../runtime/install.ts';
import { checkOutputFolder } from '../../util/output-path.ts';
import { type BenchmarkInputs, Outputs } from './inputs.ts';

export interface BenchmarkDeps {
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly ensureRuntime?: () => Promise<string>;
}

export interface BenchmarkResult {
  readonly outputs: { readonly [K in (typeof Outputs)[keyof typeof Outputs]]: OutputValue };
  readonly summary: string;
  readonly results: BenchResult[];
}

/** The pull request this run measures, from the event payload: it travels inside each result (workflow_run). */
export function pullRequestOf(env: NodeJS.ProcessEnv): { number: number; headSha: string } | undefined {
  if (!env.GITHUB_EVENT_PATH) return undefined;
  try {
    const event = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as {
      pull_request?: { number?: number; head?: { sha?: string } };
    };
    const pr = event.pull_request;
    return pr?.number && pr.head?.sha ? { number: pr.number, headSha: pr.head.sha } : undefined;
  } catch {
    return undefined;
  }
}

export async function runBenchmark(inputs: BenchmarkInputs, deps: BenchmarkDeps): Promise<BenchmarkResult> {
  const { log, env } = deps;
  const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
  const outDir = path.resolve(workspace, inputs.outDir);
  checkOutputFolder(outDir, "input 'out-dir'");
  mkdirSync(outDir, { recursive: true });
  await (deps.ensureRuntime ?? (() => ensureOnnxRuntime(runtimeOptionsFromEnv(env, log))))();
  const pullRequest = pullRequestOf(env);
  const written: string[] = [];
  const outputs: BenchOutput[] = [];
  const seen = new Map<string, string>();
  for (const model of inputs.models) {
    const resolved = path.resolve(workspace, model);
    const earlier = [...seen].find(([, p]) => p === resolved)?.[0];
    if (earlier) {
      throw new ConfigurationError(`lists the same model twice ('${earlier}' and '${model}')`, {
        subject: "input 'models'",
        fix: 'Remove one of the two lines',
      });
    }
    seen.set(model, resolved);
  }
  const producedBy = new Map<string, string>();
  for (const model of inputs.models) {
    const runs = await log.group(`benchmark ${model}`, () =>
      runBench({
        modelPath: path.resolve(workspace, model),
        profiles: [...inputs.profiles],
        ...(inputs.baselineModel
          ? {
              baseline: inputs.baselineModel.startsWith('git:')
                ? inputs.baselineModel
                : path.resolve(workspace, inputs.baselineModel),
            }
          : {}),
        ...(inputs.evalData ? { evalData: path.resolve(workspace, inputs.evalData) } : {}),
        protocol: inputs.protocol,
        ...(inputs.processes ? { processes: inputs.processes } : {}),
        ...(inputs.iterations ? { iterations: inputs.iterations } : {}),
        ...(inputs.threads ? { threads: inputs.threads } : {}),
        ...(pullRequest ? { pullRequest } : {}),
        functional: env.SLMOPS_FUNCTIONAL === '1',
        log: (m) => log.info(m),
      }),
    );
    for (const run of runs) {
      run.result.model.path = path.relative(workspace, run.result.model.path);
      const file = path.join(outDir, `${slug(run.result.variantId)}.${run.profile.id}.bench.json`);
      const other = producedBy.get(file);
      if (other && other !== model) {
        throw new ConfigurationError(
          `'${other}' and '${model}' are both variant ${run.result.variantId}: their results would overwrite each other in ${path.relative(workspace, file)}`,
          {
            subject: "input 'models'",
            fix: 'Give the models distinct names (their folder or file names, or a compress-report.json)',
          },
        );
      }
      producedBy.set(file, model);
      writeFileSync(file, `${JSON.stringify(run.result, null, 2)}\n`);
      written.push(path.relative(workspace, file));
      outputs.push(run);
    }
  }
  const summary = renderSummary(outputs.map((o) => o.result));
  const summaryPath = path.join(outDir, 'summary.md');
  writeFileSync(summaryPath, summary);
  return {
    results: outputs.map((o) => o.result),
    summary,
    outputs: { [Outputs.Results]: written, [Outputs.Summary]: path.relative(workspace, summaryPath) },
  };
}

const ms = (v: number) => `${v.toFixed(v < 10 ? 3 : 1)} ms`;

export function renderSummary(results: BenchResult[]): string {
  const rows = results.map((r) => [
    `\`${r.variantId}\``,
    `${r.profile.id} (${r.profile.mode})`,
    `${ms(r.latencyMs.p50)} [${ms(r.latencyMs.ci95[0])}, ${ms(r.latencyMs.ci95[1])}]`,
    r.predicted
      ? `${ms(r.predicted.p50Ms)} (${r.predicted.calibrated ? 'calibrated' : 'uncalibrated'})`
      : '–',
    r.throughput ? `${r.throughput.tokensPerSec.toFixed(0)}` : '–',
    r.decode && r.decode.measured !== false ? r.decode.msPerToken.toFixed(3) : '–',
    `${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
    r.quality ? `${r.quality.metric} ${r.quality.value.toFixed(4)}` : '–',
    r.comparison
      ? `${r.comparison.ratioP50.toFixed(3)} [${r.comparison.ci95[0].toFixed(3)}, ${r.comparison.ci95[1].toFixed(3)}]`
      : '–',
  ]);
  const emulated = results.some((r) => r.profile.mode === 'emulated');
  return [
    '### slmops benchmark',
    '',
    markdownTable(
      [
        'Variant',
        'Profile',
        'p50 on this host [95 % CI]',
        'Predicted p50 on device',
        'Tokens/s',
        'Decode ms/token',
        'Peak RSS',
        'Quality',
        'Head/base [95 % CI]',
      ],
      rows,
    ),
    '',
    emulated
      ? '> Emulated profiles: latency was measured on this runner; the device figure is a prediction (model error unvalidated) and never gates by default.'
      : '',
    '',
  ].join('\n');
}
