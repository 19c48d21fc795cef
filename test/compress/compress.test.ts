import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { validateDocument } from '../../src/config/load.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { readModel } from '../../src/onnx/read.ts';
import { sha256File } from '../../src/util/hash.ts';
import { fixtureModel, sameBytes, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

describe('compressModel', () => {
  it('gives a byte-identical model for the same input and recipe', async () => {
    const run = async (dir: string) =>
      compressModel({
        modelPath: fixtureModel('tiny-shakespeare-kv'),
        recipe: parseRecipeSpec('prune:0.3+int8'),
        outDir: join(tmp.path, dir),
        fidelity: 'off',
      });
    const [a, b] = [await run('same-a'), await run('same-b')];
    expect(readFileSync(a.modelPath).equals(readFileSync(b.modelPath))).toBe(true);
    expect(a.report.output.sha256).toBe(b.report.output.sha256);
  });

  it('writes a report that validates against slmops.compress/v1 and names input and output digests', async () => {
    const model = fixtureModel('digits-cnn');
    const { report, reportPath } = await compressModel({
      modelPath: model,
      recipe: parseRecipeSpec('int8'),
      outDir: join(tmp.path, 'report'),
      fidelity: 'off',
    });
    const written = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(() => validateDocument('compress', written, reportPath)).not.toThrow();
    expect(report.variantId).toBe('digits-cnn@int8:per-tensor,sym');
    expect(report.input.sha256).toBe(await sha256File(model));
    expect(report.fidelity).toEqual({
      status: 'skipped',
      reason: 'fidelity check turned off (--fidelity off)',
    });
    expect(report.passes[0]!.tensors.every((t) => typeof t.sqnrDb === 'number' && t.sqnrDb > 20)).toBe(true);
  });

  it('runs the fidelity check on synthesized inputs when no eval data is given', async () => {
    const { report } = await compressModel({
      modelPath: fixtureModel('newer-exporter'),
      recipe: parseRecipeSpec('int4:block=16'),
      outDir: join(tmp.path, 'synth'),
      fidelity: 'on',
      fidelityInProcess: true,
    });
    expect(report.fidelity.status).toBe('ran');
    expect(report.fidelity.samples).toBe(8);
    expect(report.fidelity.metric).toBeUndefined();
    expect(report.fidelity.cosine).toBeGreaterThan(0.99);
  });

  it('exits as an input error with "nothing to compress" when the recipe touches nothing, and writes nothing', async () => {
    const outDir = join(tmp.path, 'noop');
    const attempt = compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int4:include-ops=Conv'),
      outDir,
      fidelity: 'off',
    });
    await expect(attempt).rejects.toThrowError(ConfigurationError);
    await expect(attempt).rejects.toThrowError(/nothing to compress.*--allow-noop/);
    expect(existsSync(join(outDir, 'model.onnx'))).toBe(false);
  });

  it('writes the model unchanged with allowNoop', async () => {
    const { report } = await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int4:include-ops=Conv'),
      outDir: join(tmp.path, 'noop-allowed'),
      fidelity: 'off',
      allowNoop: true,
    });
    expect(report.passes[0]!.tensors).toEqual([]);
  });

  it('records a failed fidelity check in the report instead of failing the compression', async () => {
    const outDir = join(tmp.path, 'fidelity-fails');
    const { report } = await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int8'),
      outDir,
      fidelity: 'on',
      evalData: fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'),
      fidelityInProcess: true,
    });
    expect(report.fidelity.status).toBe('failed');
    expect(report.fidelity.reason).toMatch(/input_ids|cannot be derived|input/);
    expect(readdirSync(outDir).sort()).toEqual(['compress-report.json', 'model.onnx']);
  });

  it.each(['int4:block=32', 'int8'])(
    '%s: worker threads and this thread give the same files, streamed into the data file, with the digests reported',
    async (recipe) => {
      const run = (dir: string, workers: number) =>
        compressModel({
          modelPath: fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
          recipe: parseRecipeSpec(recipe),
          outDir: join(tmp.path, dir),
          fidelity: 'off',
          workers,
          parallelMinElements: 0,
        });
      const slug = recipe.replace(/\W/g, '_');
      const here = await run(`${slug}-here`, 0);
      const threads = await run(`${slug}-threads`, 2);
      const data = (r: typeof here) => join(dirname(r.modelPath), r.report.output.externalData![0]!.path);
      expect(readFileSync(threads.modelPath).equals(readFileSync(here.modelPath))).toBe(true);
      expect(readFileSync(data(threads)).equals(readFileSync(data(here)))).toBe(true);
      expect(threads.report.passes[0]!.tensors).toEqual(here.report.passes[0]!.tensors);
      expect(here.report.output.sha256).toBe(await sha256File(here.modelPath));
      expect(here.report.output.externalData![0]!.sha256).toBe(await sha256File(data(here)));
      expect(readdirSync(dirname(here.modelPath)).sort()).toEqual([
        'compress-report.json',
        'model.onnx',
        'model.onnx.data',
      ]);
    },
  );

  it.each(['int4:block=32', 'int8:per-channel'])(
    '%s: the same tensors from an inline model on worker threads as from its external-data copy in this thread',
    async (recipe) => {
      const slug = recipe.replace(/\W/g, '_');
      const inline = await compressModel({
        modelPath: fixtureModel('tiny-shakespeare-lm'),
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `${slug}-inline`),
        fidelity: 'off',
        workers: 2,
        parallelMinElements: 0,
      });
      const external = await compressModel({
        modelPath: fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `${slug}-external`),
        fidelity: 'off',
        workers: 0,
      });
      const a = readModel(inline.modelPath);
      const b = readModel(external.modelPath);
      const bByName = new Map(b.proto.graph!.initializer.map((t) => [t.name, t]));
      expect(a.proto.graph!.initializer.map((t) => t.name).sort()).toEqual([...bByName.keys()].sort());
      for (const t of a.proto.graph!.initializer) {
        expect(sameBytes(a.tensorBytes(t), b.tensorBytes(bByName.get(t.name)!)), t.name).toBe(true);
      }
    },
  );
});
