/**
 * Each pass end to end through onnxruntime on the shared models, against the bars in their READMEs: what
 * onnxruntime's own quantizers reach (size and quality), compared like with like.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { inspectModel } from '../../src/onnx/inspect.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

async function compress(model: string, recipe: string, evalData: string) {
  return compressModel({
    modelPath: model,
    recipe: parseRecipeSpec(recipe),
    outDir: join(tmp.path, `${model.split('/').at(-2)}-${recipe.replace(/\W+/g, '_')}`),
    evalData,
    fidelity: 'on',
    fidelityInProcess: true,
  });
}

const lm = fixtureModel('tiny-shakespeare-lm');
const lmEval = fixtureModel('tiny-shakespeare-lm', 'eval.jsonl');

describe("compressing tiny-shakespeare-lm against onnxruntime's own quantizers", () => {
  // [recipe, ORT's size in bytes, ORT's perplexity increase in %] from the model's README.
  it.each([
    ['int8', 1_959_972, 0.07],
    ['int8:per-channel', 1_994_938, 0.06],
    ['int4:block=32', 1_367_172, 0.7],
    ['fp16', 3_741_436, 0.0],
  ])(
    '%s is no larger than ORT + 2 %% and raises perplexity at most 0.05 points more',
    async (recipe, ortBytes, ortDeltaPct) => {
      const { report } = await compress(lm, recipe, lmEval);
      expect(report.output.bytes).toBeLessThanOrEqual(ortBytes * 1.02);
      const metric = report.fidelity.metric!;
      expect(metric.name).toBe('perplexity');
      const deltaPct = (metric.value / metric.reference - 1) * 100;
      expect(deltaPct).toBeLessThanOrEqual(ortDeltaPct + 0.05);
      expect(report.fidelity.top1Agreement).toBeGreaterThan(0.9);
    },
  );

  it('compresses the external-data copy the same way and keeps its weights in external data', async () => {
    const { report, modelPath } = await compress(
      fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
      'int4:block=32',
      lmEval,
    );
    expect(report.output.externalData).toHaveLength(1);
    expect(
      (await inspectModel(modelPath)).opHistogram.find((o) => o.op === 'com.microsoft::MatMulNBits')?.count,
    ).toBe(17);
    expect(report.fidelity.metric!.value / report.fidelity.metric!.reference - 1).toBeLessThan(0.0075);
  });
});

describe("compressing digits-cnn against onnxruntime's own quantizers", () => {
  const digits = fixtureModel('digits-cnn');
  const digitsEval = fixtureModel('digits-cnn', 'eval.jsonl');
  const errorsOf = (accuracy: number) => Math.round((1 - accuracy) * 360);

  it.each([
    ['int8', 44_059, 9],
    ['int8:per-channel', 44_429, 8],
    ['fp16', 78_482, 8],
  ])(
    '%s is no larger than ORT + 2 %% with at most one more misclassified digit',
    async (recipe, ortBytes, ortErrors) => {
      const { report } = await compress(digits, recipe, digitsEval);
      expect(report.output.bytes).toBeLessThanOrEqual(ortBytes * 1.02);
      expect(report.fidelity.metric!.name).toBe('accuracy');
      expect(errorsOf(report.fidelity.metric!.value)).toBeLessThanOrEqual(ortErrors + 1);
    },
  );

  it("int4 quantizes the Gemm weights that onnxruntime's tool leaves alone, losing at most 0.5 points", async () => {
    const { report, modelPath } = await compress(digits, 'int4:block=32', digitsEval);
    const ops = (await inspectModel(modelPath)).opHistogram;
    expect(ops.find((o) => o.op === 'com.microsoft::MatMulNBits')?.count).toBe(2);
    expect(ops.find((o) => o.op === 'Gemm')).toBeUndefined();
    expect(report.sizeRatio).toBeLessThan(0.5);
    const metric = report.fidelity.metric!;
    expect(metric.reference - metric.value).toBeLessThanOrEqual(0.005);
  });
});
