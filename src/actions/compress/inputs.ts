import {
  coreInputs,
  getOptionalInput,
  getRequiredInput,
  getUniqueListInput,
  type InputSource,
} from '../../action-kit/inputs.ts';
import { canonicalRecipeSpec, isRecipeFileRef } from '../../compress/recipe-spec.ts';
import { ConfigurationError } from '../../errors.ts';

/** The inputs of actions/compress/action.yml: one definition per name. */
export const Inputs = {
  Model: 'model',
  Recipes: 'recipes',
  OutDir: 'out-dir',
  EvalData: 'eval-data',
} as const;

/** The outputs of actions/compress/action.yml. */
export const Outputs = {
  Variants: 'variants',
} as const;

export const DEFAULT_OUT_DIR = 'slmops/variants';

export interface CompressInputs {
  /** Path of the source .onnx model. */
  readonly model: string;
  /** Recipe specs (`int8`, `int4:block=32`, …) or recipe files, one per variant; never empty. */
  readonly recipes: readonly string[];
  readonly outDir: string;
  /** JSONL eval set, to record each variant's accuracy against the source model. */
  readonly evalData: string | undefined;
}

export function parseInputs(source: InputSource = coreInputs): CompressInputs {
  const recipes = getUniqueListInput(Inputs.Recipes, source);
  if (recipes.length === 0) {
    throw new ConfigurationError('lists no recipe', {
      subject: `input '${Inputs.Recipes}'`,
      fix: 'Give one recipe per line, e.g. int8',
    });
  }
  // Spec strings are checked now (typos fail before any work); recipe files are read when compressing.
  const seen = new Map<string, string>();
  for (const recipe of recipes) {
    if (isRecipeFileRef(recipe)) continue;
    let canonical: string;
    try {
      canonical = canonicalRecipeSpec(recipe);
    } catch (error) {
      throw new ConfigurationError((error as Error).message, {
        subject: `input '${Inputs.Recipes}'`,
        cause: error,
      });
    }
    const earlier = seen.get(canonical);
    if (earlier !== undefined) {
      throw new ConfigurationError(`'${recipe}' and '${earlier}' are the same recipe (${canonical})`, {
        subject: `input '${Inputs.Recipes}'`,
        fix: 'Remove one of them',
      });
    }
    seen.set(canonical, recipe);
  }
  return {
    model: getRequiredInput(Inputs.Model, source),
    recipes,
    outDir: getOptionalInput(Inputs.OutDir, source) ?? DEFAULT_OUT_DIR,
    evalData: getOptionalInput(Inputs.EvalData, source),
  };
}
