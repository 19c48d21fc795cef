import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../harness/run-action.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('the compress action, run as the runner runs it', () => {
  let run: ActionRun;

  beforeAll(async () => {
    run = await runAction({
      action: 'compress',
      inputs: {
        model: 'models/digits/model.onnx',
        recipes: 'int8\nint4:block=32\n# a comment\nfp16',
        'eval-data': 'models/digits/eval.jsonl',
      },
      files: {
        'models/digits/model.onnx': fixtureModel('digits-cnn'),
        'models/digits/eval.jsonl': fixtureModel('digits-cnn', 'eval.jsonl'),
      },
    });
  }, 240_000);

  it('writes one variant per recipe and lists them in the variants output', () => {
    expect(run.errors).toEqual([]);
    expect(run.exitCode).toBe(0);
    const variants = JSON.parse(run.outputs.variants ?? '[]');
    expect(variants.map((v: { id: string }) => v.id)).toEqual([
      'digits@int8:per-tensor,sym',
      'digits@int4:block=32,sym,acc=0',
      'digits@fp16:keep-io=true',
    ]);
    for (const v of variants) {
      expect(v.path).toMatch(/^slmops\/variants\/digits@.*\/model\.onnx$/);
      expect(v.sizeRatio).toBeLessThan(0.55);
    }
  });

  it('runs the fidelity check in a child process of the bundle, with accuracy from the eval data', () => {
    const variants = JSON.parse(run.outputs.variants ?? '[]');
    const report = JSON.parse(readFileSync(path.join(run.workspace, variants[0].report), 'utf8'));
    expect(report.schema).toBe('slmops.compress/v1');
    expect(report.fidelity.status).toBe('ran');
    expect(report.fidelity.metric.name).toBe('accuracy');
    expect(report.fidelity.metric.value).toBeGreaterThan(0.96);
  });

  it('writes a job-summary table with one row per variant', () => {
    expect(run.summary).toContain('### slmops compress: `models/digits/model.onnx`');
    expect(run.summary.match(/\| `digits@/g)).toHaveLength(3);
  });

  it('fails with exit code 2 and one line when a recipe changes nothing', async () => {
    const noop = await runAction({
      action: 'compress',
      inputs: { model: 'm/model.onnx', recipes: 'int4:include-ops=Conv' },
      files: { 'm/model.onnx': fixtureModel('digits-cnn') },
    });
    expect(noop.exitCode).toBe(2);
    expect(noop.errors).toHaveLength(1);
    expect(noop.errors[0]).toMatch(/nothing to compress/);
  }, 120_000);
});
