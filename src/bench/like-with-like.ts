/**
 * Like with like: when the head is a compressed variant and the baseline is not (or was compressed another way),
 * the baseline is first compressed with the head's recipe, so reviewers see head int4 against base int4, never
 * against base fp32. Compressed baselines are cached by the content hash of the source and the recipe.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { compressModel } from '../compress/compress.ts';
import { parseRecipeSpec } from '../compress/recipe-spec.ts';
import type { CompressReport } from '../config/types.ts';
import { modelId as deriveModelId, slug } from '../contracts/ids.ts';
import { sha256File } from '../util/hash.ts';

/** The compress-report.json beside a model, if it is a variant slmops wrote. */
export function readCompressReport(modelPath: string): CompressReport | undefined {
  const path = join(dirname(resolve(modelPath)), 'compress-report.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as CompressReport;
}

export function variantCacheDir(): string {
  const root = process.env.RUNNER_TOOL_CACHE
    ? join(process.env.RUNNER_TOOL_CACHE, 'slmops-variants')
    : join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'slmops', 'variants');
  return root;
}

/** A baseline's id from its path; characters an id may not hold (a space, "@") become "-": no flag names a baseline. */
function baselineId(path: string): string {
  try {
    return deriveModelId(undefined, path);
  } catch {
    return deriveModelId(undefined, path.replace(/[@\s\p{Cc}]/gu, '-'));
  }
}

export async function compareLikeWithLike(
  basePath: string,
  headReport: CompressReport | undefined,
  log: (m: string) => void,
  /** The path that names the baseline, when `basePath` is a temporary copy (a git baseline's checkout). */
  namedBy: string = basePath,
): Promise<{ path: string; variantId: string; compressed: boolean }> {
  const baseReport = readCompressReport(basePath);
  const baseId = baseReport?.modelId ?? headReport?.modelId ?? baselineId(namedBy);
  if (!headReport || baseReport?.recipe.spec === headReport.recipe.spec) {
    return { path: basePath, variantId: baseReport?.variantId ?? baseId, compressed: false };
  }
  const spec = headReport.recipe.spec;
  const source = baseReport && existsSync(baseReport.input.path) ? baseReport.input.path : basePath;
  const key = `${(await sha256File(source)).slice(0, 16)}-${slug(spec)}`;
  const outDir = join(variantCacheDir(), key);
  const variantId = `${baseId}@${spec}`;
  if (existsSync(join(outDir, 'model.onnx')) && existsSync(join(outDir, 'compress-report.json'))) {
    log(`baseline: reusing ${variantId} from the cache (${outDir})`);
  } else {
    log(`baseline: compressing it with the head's recipe (${spec}) to compare like with like`);
    await compressModel({
      modelPath: source,
      recipe: parseRecipeSpec(spec),
      outDir,
      name: baseId,
      fidelity: 'off',
      allowNoop: true,
    });
  }
  return { path: join(outDir, 'model.onnx'), variantId, compressed: true };
}
