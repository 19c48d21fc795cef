import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import type { OutputValue } from '../../action-kit/outputs.ts';
import { markdownTable } from '../../action-kit/summary.ts';
import { ConfigurationError } from '../../errors.ts';
import { type SmokeResult, smokeRun } from '../../inference/smoke.ts';
import { type InspectReport, inspectModel } from '../../onnx/inspect.ts';
import { ensureOnnxRuntime, runtimeOptionsFromEnv } from '../../runtime/install.ts';
import { Inputs, type InspectInputs, Outputs } from './inputs.ts';

export interface InspectDeps {
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** Makes onnxruntime loadable; default: install it into the tool cache (src/runtime/install.ts). */
  readonly ensureRuntime?: () => Promise<string>;
}

export interface InspectResult {
  readonly outputs: { readonly [K in (typeof Outputs)[keyof typeof Outputs]]: OutputValue };
  readonly summary: string;
  readonly report: InspectReport & { smoke?: SmokeResult };
}

/** Inspects the model, optionally runs it once in onnxruntime, writes the JSON report and the summary text. */
export async function runInspect(inputs: InspectInputs, deps: InspectDeps): Promise<InspectResult> {
  const { log, env } = deps;
  const model = path.resolve(inputs.model);
  if (!existsSync(model) || !statSync(model).isFile()) {
    throw new ConfigurationError(`no model file at ${model}`, {
      subject: `input '${Inputs.Model}'`,
      fix: 'Give the path of an .onnx file, relative to the workspace (check out the repository first)',
    });
  }

  const inspected = await inspectModel(model);
  log.info(
    `${inputs.model}: ${inspected.parameters} parameters, ${inspected.bytes} bytes, sha256 ${inspected.sha256}`,
  );

  let smoke: SmokeResult | undefined;
  if (inputs.run) {
    await (deps.ensureRuntime ?? (() => ensureOnnxRuntime(runtimeOptionsFromEnv(env, log))))();
    smoke = await smokeRun(model, { threads: inputs.threads });
    log.info(
      `onnxruntime: loaded in ${smoke.loadMs.toFixed(1)} ms, ran once in ${smoke.runMs.toFixed(2)} ms`,
    );
  }

  const report = smoke ? { ...inspected, smoke } : inspected;
  const outDir = path.resolve(inputs.outDir ?? env.RUNNER_TEMP ?? os.tmpdir());
  await mkdir(outDir, { recursive: true });
  const reportPath = path.join(outDir, `${path.basename(model, '.onnx')}.inspect.json`);
  await writeFile(reportPath, `${JSON.stringify(report, null, 2)}\n`);

  return {
    report,
    summary: renderSummary(inputs.model, report, smoke, inputs.threads),
    outputs: {
      [Outputs.Report]: reportPath,
      [Outputs.Params]: inspected.parameters,
      [Outputs.Sha256]: inspected.sha256,
      [Outputs.Bytes]: inspected.bytes,
    },
  };
}

function shape(s: InspectReport['inputs'][number]['shape']): string {
  return s ? `[${s.map((d) => (d === null ? '?' : String(d))).join(', ')}]` : '?';
}

export function renderSummary(
  name: string,
  report: InspectReport,
  smoke: SmokeResult | undefined,
  threads: number,
): string {
  const rows: string[][] = [
    ['Parameters', report.parameters.toLocaleString('en-US')],
    ['Size', `${report.bytes.toLocaleString('en-US')} bytes`],
    ['sha256', `\`${report.sha256}\``],
    ['IR version', String(report.irVersion)],
    ['Opsets', report.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')],
    ['Nodes', String(report.nodeCount)],
    ...report.inputs.map((v) => [`Input \`${v.name}\``, `${v.type} ${shape(v.shape)}`]),
    ...report.outputs.map((v) => [`Output \`${v.name}\``, `${v.type} ${shape(v.shape)}`]),
  ];
  if (smoke) {
    rows.push([
      'onnxruntime',
      `loaded in ${smoke.loadMs.toFixed(1)} ms; one run on synthesized inputs in ${smoke.runMs.toFixed(2)} ms ` +
        `(${threads} thread${threads === 1 ? '' : 's'})`,
    ]);
  }
  const lines = [`### slmops inspect: \`${name}\``, '', markdownTable(['Property', 'Value'], rows), ''];
  if (report.warnings.length > 0) lines.push(...report.warnings.map((w) => `> [!WARNING]\n> ${w}`), '');
  return lines.join('\n');
}
