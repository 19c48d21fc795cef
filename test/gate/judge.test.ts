import { describe, expect, it } from 'vitest';
import type { BudgetsDocument } from '../../src/config/types.ts';
import { DEFAULT_BUDGETS, limitsFor } from '../../src/gate/budgets.ts';
import { gateFails, judge, judgeResult } from '../../src/gate/judge.ts';
import { benchResult, loaded } from '../helpers/results.ts';

const native = { profile: { id: 'rpi5', mode: 'native' as const } };

describe('latency against the baseline', () => {
  it.each([
    [[1.06, 1.1], 'fail'],
    [[0.98, 1.04], 'pass'],
    [[1.0, 1.08], 'inconclusive'],
    [[1.05, 1.05], 'pass'],
  ] as const)('a head/base CI of %j with 5 %% tolerance is %s', (ci95, verdict) => {
    const result = benchResult({
      ...native,
      comparison: { baselineVariantId: 'b', ratioP50: (ci95[0] + ci95[1]) / 2, ci95: [...ci95] },
    });
    const [rule] = judgeResult(result, { latency: { ratioTolerance: 0.05 } });
    expect(rule).toMatchObject({ metric: 'latency.ratioTolerance', verdict, limit: 1.05 });
  });

  it('tells how to get a verdict when the ratio is inconclusive: more processes, or the full protocol', () => {
    const straddling = { baselineVariantId: 'b', ratioP50: 1.04, ci95: [1.0, 1.08] as [number, number] };
    const base = benchResult({ ...native, comparison: straddling });
    const full = benchResult({
      ...native,
      comparison: straddling,
      workload: { ...base.workload, protocol: 'full' },
    });
    expect(judgeResult(full, { latency: { ratioTolerance: 0.05 } })[0]!.reason).toMatch(
      /more timing processes .*`processes` input/,
    );
    const quick = benchResult({
      ...native,
      comparison: straddling,
      workload: { ...base.workload, protocol: 'quick' },
    });
    expect(judgeResult(quick, { latency: { ratioTolerance: 0.05 } })[0]!.reason).toMatch(
      /quick protocol is a smoke measurement: use the full protocol/,
    );
  });

  it('is inconclusive with a reason when the result has no baseline comparison', () => {
    const { comparison: _c, ...rest } = benchResult(native);
    const [rule] = judgeResult(rest, { latency: { ratioTolerance: 0.05 } });
    expect(rule).toMatchObject({ verdict: 'inconclusive', reason: 'no baseline comparison in the result' });
  });
});

describe('absolute latency', () => {
  it('gates a native result on the CI of its median', () => {
    const result = benchResult({ ...native, latencyMs: { p50: 10, ci95: [9.8, 10.2] } });
    expect(judgeResult(result, { latency: { p50Ms: 9.5 } })[0]!.verdict).toBe('fail');
    expect(judgeResult(result, { latency: { p50Ms: 10.5 } })[0]!.verdict).toBe('pass');
    expect(judgeResult(result, { latency: { p50Ms: 10 } })[0]!.verdict).toBe('inconclusive');
  });

  it('judges an emulated result on its prediction, as advisory', () => {
    const result = benchResult({
      profile: { id: 'rpi5', mode: 'emulated' },
      predicted: { p50Ms: 30, intervalMs: [25, 35], calibrated: false, modelError: 'unvalidated' },
    });
    const [rule] = judgeResult(result, { latency: { p50Ms: 20 } });
    expect(rule).toMatchObject({ verdict: 'fail', advisory: true, value: 30 });
    const verdict = judge([loaded(result)], {
      schema: 'slmops.budgets/v1',
      rules: [{ profile: '*', latency: { p50Ms: 20 } }],
    });
    expect(verdict.overall).toBe('pass');
    const gating = judge(
      [loaded(result)],
      { schema: 'slmops.budgets/v1', rules: [{ profile: '*', latency: { p50Ms: 20 } }] },
      { gatePredictions: true },
    );
    expect(gating.overall).toBe('fail');
  });
});

describe('deterministic budgets', () => {
  it('fails size growth past the limit and passes within it', () => {
    const result = benchResult({
      ...native,
      model: { bytes: 1030 },
      comparison: { baselineVariantId: 'b', ratioP50: 1, ci95: [1, 1], baselineBytes: 1000 },
    });
    expect(judgeResult(result, { sizeBytes: { growth: 0.02 } })[0]!.verdict).toBe('fail');
    expect(judgeResult(result, { sizeBytes: { growth: 0.05 } })[0]!.verdict).toBe('pass');
  });

  it('judges perplexity increase and accuracy drop against the reference', () => {
    const lm = benchResult({
      ...native,
      quality: { metric: 'perplexity', value: 10.6, reference: 10, delta: 0.6, agreement: 0.9 },
    });
    expect(judgeResult(lm, { perplexity: { increasePct: 5 } })[0]).toMatchObject({
      verdict: 'fail',
      value: expect.closeTo(6, 6),
    });
    const clf = benchResult({
      ...native,
      quality: { metric: 'accuracy', value: 0.97, reference: 0.975, delta: -0.005, agreement: 0.99 },
    });
    expect(judgeResult(clf, { accuracy: { drop: 0.01 } })[0]!.verdict).toBe('pass');
    expect(judgeResult(clf, { accuracy: { drop: 0.001 } })[0]!.verdict).toBe('fail');
    expect(judgeResult(clf, { perplexity: { max: 5 } })[0]).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringMatching(/no perplexity/),
    });
  });
});

describe('budgets files', () => {
  const budgets: BudgetsDocument = {
    schema: 'slmops.budgets/v1',
    defaults: { latency: { ratioTolerance: 0.05 } },
    rules: [
      { profile: '*', sizeBytes: { max: 100 } },
      {
        profile: 'rpi5',
        variant: 'tiny-lm@int4*',
        latency: { ratioTolerance: 0.1 },
        sizeBytes: { max: 200 },
      },
    ],
  };

  it('merges the defaults and every matching rule, later values winning', () => {
    expect(limitsFor(budgets, 'tiny-lm@int4:block=32,sym,acc=0', 'rpi5')).toEqual({
      latency: { ratioTolerance: 0.1 },
      sizeBytes: { max: 200 },
    });
    expect(limitsFor(budgets, 'tiny-lm@int8:per-tensor,sym', 'rpi5')).toEqual({
      latency: { ratioTolerance: 0.05 },
      sizeBytes: { max: 100 },
    });
    expect(limitsFor(budgets, 'tiny-lm@int4:block=32,sym,acc=0', 'n100')).toEqual({
      latency: { ratioTolerance: 0.05 },
      sizeBytes: { max: 100 },
    });
  });

  it('has sensible defaults without a budgets file', () => {
    expect(limitsFor(DEFAULT_BUDGETS, 'x', 'y')).toEqual({
      latency: { ratioTolerance: 0.05 },
      sizeBytes: { growth: 0.02 },
    });
  });
});

describe('the overall verdict', () => {
  const slow = benchResult({
    ...native,
    comparison: { baselineVariantId: 'b', ratioP50: 1.2, ci95: [1.15, 1.25], baselineBytes: 320000 },
  });

  it('fails on any failing rule and turns fails into acknowledged passes with the accept label', () => {
    expect(judge([loaded(slow)], DEFAULT_BUDGETS).overall).toBe('fail');
    const accepted = judge([loaded(slow)], DEFAULT_BUDGETS, { labels: ['slmops:accept-regression'] });
    expect(accepted.overall).toBe('pass');
    expect(accepted.acknowledgedBy).toBe('slmops:accept-regression');
    expect(accepted.rules.find((r) => r.metric === 'latency.ratioTolerance')!.verdict).toBe('acknowledged');
  });

  it('is advisory for untrusted results and then never fails the step', () => {
    const verdict = judge([loaded(slow)], DEFAULT_BUDGETS, { untrusted: true });
    expect(verdict.advisory).toBe(true);
    expect(gateFails(verdict, 'fail')).toBe(false);
  });

  it('fails on inconclusive only when asked', () => {
    const unclear = benchResult({
      ...native,
      comparison: { baselineVariantId: 'b', ratioP50: 1.04, ci95: [1.0, 1.09], baselineBytes: 320000 },
    });
    const verdict = judge([loaded(unclear)], DEFAULT_BUDGETS);
    expect(verdict.overall).toBe('inconclusive');
    expect(gateFails(verdict, 'fail')).toBe(false);
    expect(gateFails(verdict, 'inconclusive')).toBe(true);
    expect(gateFails(verdict, 'fail', 'fail')).toBe(true);
  });

  it('says so when one variant and profile were measured on different hosts', () => {
    const other = benchResult({ ...native, host: { cpuModel: 'Cortex-A76' } });
    const verdict = judge([loaded(benchResult(native)), loaded(other)], DEFAULT_BUDGETS);
    expect(verdict.notes.join('\n')).toMatch(/measured on 2 different hosts/);
  });
});

describe('onInconclusive: rerun', () => {
  it('fails the step on an inconclusive verdict so that a re-run measures again', () => {
    const unclear = benchResult({
      profile: { id: 'rpi5', mode: 'native' },
      comparison: { baselineVariantId: 'b', ratioP50: 1.04, ci95: [1.0, 1.09], baselineBytes: 320000 },
    });
    const verdict = judge([loaded(unclear)], DEFAULT_BUDGETS);
    expect(gateFails(verdict, 'fail', 'rerun')).toBe(true);
    expect(gateFails(verdict, 'fail', 'warn')).toBe(false);
  });
});

describe('judge on budgets that do not reach the results', () => {
  it('notes a rule whose profile or variant matches none of the results', () => {
    const verdict = judge([loaded(benchResult())], {
      schema: 'slmops.budgets/v1',
      rules: [
        { profile: 'raspbery-pi-5', latency: { p50Ms: 1 } },
        { profile: '*', variant: 'no-such-model*', sizeBytes: { max: 1 } },
      ],
    });
    expect(verdict.overall).toBe('pass');
    expect(verdict.notes.join('\n')).toMatch(
      /rules\[0\] \(profile raspbery-pi-5\) matches none of the results/,
    );
    expect(verdict.notes.join('\n')).toMatch(
      /rules\[1\] \(profile \*, variant no-such-model\*\) matches none/,
    );
  });
});

describe('judge on an emulated result measured at 0 ms', () => {
  it('judges a p90 budget on the prediction without a NaN verdict', () => {
    const result = benchResult({
      profile: { id: 'rpi5', mode: 'emulated' },
      latencyMs: { p50: 0, p90: 0 },
      predicted: { p50Ms: 4, intervalMs: [3, 5], calibrated: true, modelError: 'unvalidated' },
    });
    const verdict = judge([loaded(result)], {
      schema: 'slmops.budgets/v1',
      rules: [{ profile: '*', latency: { p90Ms: 10 } }],
    });
    const rule = verdict.rules.find((r) => r.metric === 'latency.p90Ms')!;
    expect(Number.isFinite(rule.value)).toBe(true);
    expect(rule.verdict).toBe('pass');
  });
});
