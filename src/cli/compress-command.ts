import type { Command } from 'commander';
import { type CompressResult, compressModel, type FidelityMode } from '../compress/compress.ts';
import { resolveRecipe } from '../compress/recipe-spec.ts';
import { ConfigurationError } from '../errors.ts';
import type { CliIo } from './io.ts';

interface CompressFlags {
  recipe: string;
  out: string;
  eval?: string;
  json?: boolean;
  fidelity: string;
  allowNoop?: boolean;
  name?: string;
  threads: string;
}

const FIDELITY_MODES = ['auto', 'on', 'off'];

export function formatCompressResult(result: CompressResult): string {
  const r = result.report;
  const lines = [
    `${r.variantId}`,
    `  ${result.modelPath}: ${r.output.bytes} bytes (${(r.sizeRatio * 100).toFixed(1)} % of ${r.input.bytes}) in ${r.elapsedMs} ms`,
  ];
  for (const p of r.passes) lines.push(`  ${p.name}: ${p.tensors.length} tensors in ${p.elapsedMs} ms`);
  for (const n of r.notes ?? []) lines.push(`  ${n}`);
  const f = r.fidelity;
  if (f.status === 'ran') {
    lines.push(
      `  fidelity on ${f.samples} inputs: top-1 agreement ${f.top1Agreement?.toFixed(4)}, cosine ${f.cosine?.toFixed(6)}, max |diff| ${f.maxAbsDiff?.toPrecision(3)}`,
    );
    if (f.metric) {
      const delta = ((f.metric.value / f.metric.reference - 1) * 100).toFixed(2);
      lines.push(
        `  ${f.metric.name}: ${f.metric.value.toFixed(4)} (original ${f.metric.reference.toFixed(4)}, ${delta} %)`,
      );
    }
  } else {
    lines.push(`  fidelity ${f.status}: ${f.reason}`);
  }
  lines.push(`  report: ${result.reportPath}`);
  return lines.join('\n');
}

export function registerCompress(program: Command, io: CliIo): void {
  program
    .command('compress')
    .description(
      'compress an ONNX model with a recipe (int8, int4, fp16, prune, or a chain such as prune:0.5+int8)',
    )
    .argument('<model>', 'path of the .onnx file (never modified)')
    .requiredOption(
      '--recipe <recipe>',
      'recipe spec (int8, int8:per-channel, int4:block=32, fp16, prune:0.5+int8) or a recipe YAML file',
    )
    .requiredOption('--out <dir>', 'output folder: model.onnx (+ external data) and compress-report.json')
    .option('--eval <file>', 'eval data (JSONL) for the fidelity check and quality metrics')
    .option('--fidelity <mode>', 'auto (skip above 1 GB of weights), on, off', 'auto')
    .option('--allow-noop', 'write the model even when the recipe changes nothing')
    .option('--name <id>', 'model id (default: derived from the path)')
    .option('--threads <n>', 'onnxruntime threads for the fidelity check', '1')
    .option('--json', 'print the compress report as JSON')
    .action(async (model: string, flags: CompressFlags) => {
      if (!FIDELITY_MODES.includes(flags.fidelity)) {
        throw new ConfigurationError(
          `--fidelity "${flags.fidelity}" is not one of ${FIDELITY_MODES.join(', ')}`,
          {
            subject: 'slmops compress',
          },
        );
      }
      const recipe = await resolveRecipe(flags.recipe);
      const result = await compressModel({
        modelPath: model,
        recipe,
        outDir: flags.out,
        ...(flags.eval ? { evalData: flags.eval } : {}),
        ...(flags.name ? { name: flags.name } : {}),
        fidelity: flags.fidelity as FidelityMode,
        allowNoop: Boolean(flags.allowNoop),
        threads: Number(flags.threads) || 1,
        log: (m) => io.err(m),
      });
      io.out(flags.json ? JSON.stringify(result.report, null, 2) : formatCompressResult(result));
    });
}
