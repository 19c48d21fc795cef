import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ActionRun, runAction } from '../harness/run-action.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('the benchmark action, run as the runner runs it', () => {
  let run: ActionRun;

  beforeAll(async () => {
    run = await runAction({
      action: 'benchmark',
      inputs: {
        models: 'models/kv/model.onnx',
        'baseline-model': 'base/kv/model.onnx',
        profiles: 'raspberry-pi-5\nthis-host-is-not-a-pi',
        protocol: 'quick',
      },
      files: {
        'models/kv/model.onnx': fixtureModel('tiny-shakespeare-kv'),
        'base/kv/model.onnx': fixtureModel('tiny-shakespeare-kv'),
      },
      event: {
        pull_request: { number: 7, head: { sha: '0123456789abcdef0123456789abcdef01234567' } },
      },
    });
  }, 300_000);

  it('fails with one line listing the known profiles when a profile id is unknown', () => {
    expect(run.exitCode).toBe(2);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatch(/unknown device profile "this-host-is-not-a-pi".*raspberry-pi-5/);
  });

  it('writes a result per profile with the decode step, the A/B ratio and the pull request', async () => {
    const ok = await runAction({
      action: 'benchmark',
      inputs: {
        models: 'models/kv/model.onnx',
        'baseline-model': 'base/kv/model.onnx',
        profiles: 'raspberry-pi-5',
        protocol: 'quick',
      },
      files: {
        'models/kv/model.onnx': fixtureModel('tiny-shakespeare-kv'),
        'base/kv/model.onnx': fixtureModel('tiny-shakespeare-kv'),
      },
      event: { pull_request: { number: 7, head: { sha: '0123456789abcdef0123456789abcdef01234567' } } },
    });
    expect(ok.errors).toEqual([]);
    expect(ok.exitCode).toBe(0);
    const results = JSON.parse(ok.outputs.results ?? '[]') as string[];
    expect(results).toEqual(['slmops/bench/kv.raspberry-pi-5.bench.json']);
    const result = JSON.parse(readFileSync(path.join(ok.workspace, results[0]!), 'utf8'));
    expect(result.schema).toBe('slmops.bench/v1');
    expect(result.profile).toEqual({ id: 'raspberry-pi-5', mode: 'emulated' });
    expect(result.workload).toMatchObject({ kind: 'decode', protocol: 'quick' });
    expect(result.comparison.baselineVariantId).toBe('kv');
    expect(result.pullRequest).toEqual({ number: 7, headSha: '0123456789abcdef0123456789abcdef01234567' });
    expect(result.predicted.modelError).toBe('unvalidated');
    expect(ok.summary).toContain('### slmops benchmark');
    expect(ok.summary).toContain('raspberry-pi-5 (emulated)');
    expect(readFileSync(path.join(ok.workspace, ok.outputs.summary ?? ''), 'utf8')).toContain('Head/base');
  }, 300_000);
});

describe('the benchmark action on models that would write over each other', () => {
  it('refuses one model listed under two spellings, before measuring', async () => {
    const run = await runAction({
      action: 'benchmark',
      inputs: { models: 'net/model.onnx\n./net/model.onnx', protocol: 'quick' },
      files: { 'net/model.onnx': fixtureModel('digits-cnn') },
    });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([
      expect.stringMatching(/lists the same model twice \('net\/model.onnx' and '.\/net\/model.onnx'\)/),
    ]);
  });

  it('stops before a second model of the same variant id overwrites the first one’s result', async () => {
    const run = await runAction({
      action: 'benchmark',
      inputs: { models: 'a/net/model.onnx\nb/net/model.onnx', protocol: 'quick' },
      files: {
        'a/net/model.onnx': fixtureModel('digits-cnn'),
        'b/net/model.onnx': fixtureModel('digits-cnn'),
      },
    });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([
      expect.stringMatching(/'a\/net\/model.onnx' and 'b\/net\/model.onnx' are both variant net/),
    ]);
  }, 300_000);
});
