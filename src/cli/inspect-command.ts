import type { Command } from 'commander';
import { smokeRun } from '../inference/smoke.ts';
import { formatInspectReport, inspectModel } from '../onnx/inspect.ts';
import type { CliIo } from './io.ts';

export function registerInspect(program: Command, io: CliIo): void {
  program
    .command('inspect')
    .description(
      'describe an ONNX model: inputs/outputs, opsets, parameters, ops, tensors, external data, sha256',
    )
    .argument('<model>', 'path of the .onnx file')
    .option('--json', 'print the report as JSON')
    .option('--run', 'also load the model in onnxruntime and run it once on synthesized inputs')
    .option('--threads <n>', 'intra-op threads for --run', '1')
    .action(async (model: string, options: { json?: boolean; run?: boolean; threads: string }) => {
      const report = await inspectModel(model);
      const smoke = options.run
        ? await smokeRun(model, { threads: Number(options.threads) || 1 })
        : undefined;
      if (options.json) {
        io.out(JSON.stringify(smoke ? { ...report, smoke } : report, null, 2));
        return;
      }
      io.out(formatInspectReport(report));
      if (smoke) {
        io.out(
          `onnxruntime: loaded in ${smoke.loadMs.toFixed(1)} ms, one run on synthesized inputs in ${smoke.runMs.toFixed(2)} ms`,
        );
        for (const o of smoke.outputs) io.out(`  ${o.name}  ${o.type} [${o.dims.join(', ')}]`);
      }
    });
}
