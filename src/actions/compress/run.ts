import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import type { OutputValue } from '../../action-kit/outputs.ts';
import { markdownTable } from '../../action-kit/summary.ts';
import { type CompressResult, compressModel } from '../../compress/compress.ts';
import { resolveRecipe } from '../../compress/recipe-spec.ts';
import { modelId as deriveModelId, slug, variantId } from '../../contracts/ids.ts';
import { ensureOnnxRuntime, runtimeOptionsFromEnv } from '../../runtime/install.ts';
import { type CompressInputs, Outputs } from './inputs.ts';

export interface CompressDeps {
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  /** Makes onnxruntime loadable (for the fidelity check); default: install it into the tool cache. */
  readonly ensureRuntime?: () => Promise<string>;
}

export interface VariantOutput {
  id: string;
  recipe: string;
  path: string;
  report: string;
  bytes: number;
  sizeRatio: number;
}

export interface CompressActionResult {
  readonly outputs: { readonly [K in (typeof Outputs)[keyof typeof Outputs]]: OutputValue };
  readonly summary: string;
  readonly variants: VariantOutput[];
}

/** Compresses the model once per recipe, each variant into `<out-dir>/<slug of its variant id>/`. */
export async function runCompress(inputs: CompressInputs, deps: CompressDeps): Promise<CompressActionResult> {
  const { log, env } = deps;
  const workspace = env.GITHUB_WORKSPACE ?? process.cwd();
  const model = path.resolve(workspace, inputs.model);
  const outDir = path.resolve(workspace, inputs.outDir);
  await (deps.ensureRuntime ?? (() => ensureOnnxRuntime(runtimeOptionsFromEnv(env, log))))();
  const id = deriveModelId(undefined, inputs.model);
  const results: CompressResult[] = [];
  for (const ref of inputs.recipes) {
    const recipe = await resolveRecipe(ref, workspace);
    const variant = variantId(id, recipe);
    results.push(
      await log.group(`compress ${variant}`, () =>
        compressModel({
          modelPath: model,
          recipe,
          outDir: path.join(outDir, slug(variant)),
          name: id,
          ...(inputs.evalData ? { evalData: path.resolve(workspace, inputs.evalData) } : {}),
          fidelity: 'auto',
          log: (m) => log.info(m),
        }),
      ),
    );
  }
  const variants = results.map((r) => ({
    id: r.report.variantId,
    recipe: r.report.recipe.spec,
    path: path.relative(workspace, r.modelPath),
    report: path.relative(workspace, r.reportPath),
    bytes: r.report.output.bytes,
    sizeRatio: Math.round(r.report.sizeRatio * 10000) / 10000,
  }));
  return {
    variants,
    summary: renderSummary(inputs.model, results),
    outputs: { [Outputs.Variants]: variants },
  };
}

function quality(r: CompressResult): string {
  const f = r.report.fidelity;
  if (f.status !== 'ran') return `${f.status}: ${f.reason ?? ''}`;
  const parts = [`top-1 agreement ${f.top1Agreement?.toFixed(4)}`];
  if (f.metric) {
    const delta = (f.metric.value / f.metric.reference - 1) * 100;
    parts.unshift(
      `${f.metric.name} ${f.metric.value.toFixed(4)} (${delta >= 0 ? '+' : ''}${delta.toFixed(2)} %)`,
    );
  }
  return parts.join(', ');
}

export function renderSummary(model: string, results: CompressResult[]): string {
  const first = results[0]?.report;
  const rows = results.map((r) => [
    `\`${r.report.variantId}\``,
    `${r.report.output.bytes.toLocaleString('en-US')} bytes`,
    `${(r.report.sizeRatio * 100).toFixed(1)} %`,
    quality(r),
    `${(r.report.elapsedMs / 1000).toFixed(1)} s`,
  ]);
  return [
    `### slmops compress: \`${model}\``,
    '',
    first
      ? `Source: ${first.input.bytes.toLocaleString('en-US')} bytes, sha256 \`${first.input.sha256}\``
      : '',
    '',
    markdownTable(['Variant', 'Size', 'Of source', 'Quality vs source', 'Time'], rows),
    '',
  ].join('\n');
}
