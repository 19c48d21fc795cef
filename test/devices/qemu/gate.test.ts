/** The gate and the PR comment with a functional block: its rule (metric `functional`) and its status per device. */
import { describe, expect, it } from 'vitest';
import type { FunctionalResult } from '../../../src/config/types.ts';
import { judge, judgeResult } from '../../../src/gate/judge.ts';
import { renderGateReport } from '../../../src/report/gate-report.ts';
import { benchResult, loaded } from '../../helpers/results.ts';

const emulated = { profile: { id: 'raspberry-pi-4', mode: 'emulated' as const } };

function functional(patch: Partial<FunctionalResult>): FunctionalResult {
  return {
    status: 'passed',
    profile: 'raspberry-pi-4',
    qemuCpu: 'cortex-a72',
    qemuVersion: '7.2.22',
    features: ['fp', 'asimd', 'evtstrm', 'crc32', 'cpuid'],
    samples: 8,
    seconds: 7.8,
    agreement: 1,
    maxAbsDiff: 5.7e-6,
    ...patch,
  };
}

const ruleOf = (f: FunctionalResult, limits = {}) =>
  judgeResult(benchResult({ ...emulated, functional: f } as never), limits).find(
    (r) => r.metric === 'functional',
  );

describe('the functional rule', () => {
  it('fails a failed check with its reason, whatever the budgets say', () => {
    const reason = 'raspberry-pi-4 (QEMU_CPU=cortex-a72, QEMU 7.2.22): the arm64 run crashed with SIGILL';
    const rule = ruleOf(functional({ status: 'failed', reason }));
    expect(rule).toMatchObject({ verdict: 'fail', metric: 'functional', profileId: 'raspberry-pi-4' });
    expect(rule?.reason).toContain(reason);
    expect(rule?.advisory).toBeUndefined();
  });

  it('shows a skipped check as an advisory inconclusive rule, never as a pass', () => {
    const rule = ruleOf(functional({ status: 'skipped', reason: 'no qemu-aarch64', samples: 0 }));
    expect(rule).toMatchObject({ verdict: 'inconclusive', advisory: true });
    expect(rule?.reason).toContain('skipped: no qemu-aarch64');
  });

  it('fails a passed check whose agreement is below the budget floor, preferring the reference model', () => {
    const check = functional({ agreement: 1, reference: { agreement: 0.9, maxAbsDiff: 0.4 } });
    expect(ruleOf(check, { agreement: { min: 0.95 } })).toMatchObject({
      verdict: 'fail',
      value: 0.9,
      limit: 0.95,
    });
    expect(ruleOf(check, { agreement: { min: 0.85 } })).toMatchObject({ verdict: 'pass', value: 0.9 });
    expect(ruleOf(functional({ agreement: 0.97 }), { agreement: { min: 0.98 } })?.verdict).toBe('fail');
  });

  it('passes a passed check without a floor, and adds no rule to a result without the check', () => {
    expect(ruleOf(functional({}))).toMatchObject({ verdict: 'pass', limit: 0, value: 1 });
    expect(judgeResult(benchResult(emulated), {}).some((r) => r.metric === 'functional')).toBe(false);
  });

  it('makes the whole gate fail on a crash on one device', () => {
    const ok = benchResult({ ...emulated, functional: functional({}) } as never);
    const crash = benchResult({
      profile: { id: 'raspberry-pi-5', mode: 'emulated' },
      functional: functional({ status: 'failed', profile: 'raspberry-pi-5', reason: 'SIGILL' }),
    } as never);
    const verdict = judge([loaded(ok, 'a.json'), loaded(crash, 'b.json')], {
      schema: 'slmops.budgets/v1',
      rules: [],
    });
    expect(verdict.overall).toBe('fail');
  });
});

describe('the report', () => {
  it('shows each device functional status next to its numbers', () => {
    const pi4 = benchResult({
      ...emulated,
      variantId: 'digits@int8',
      functional: functional({ metric: { name: 'accuracy', arm64: 1, x86: 1 }, metricDelta: 0 }),
    } as never);
    const pi5 = benchResult({
      profile: { id: 'raspberry-pi-5', mode: 'emulated' },
      variantId: 'digits@int8',
      functional: functional({
        status: 'failed',
        profile: 'raspberry-pi-5',
        qemuCpu: 'cortex-a76',
        reason: 'crashed with SIGILL at udot v16.4s, v0.16b, v4.4b[0]',
      }),
    } as never);
    const results = [loaded(pi4, 'a.json'), loaded(pi5, 'b.json')];
    const verdict = judge(results, { schema: 'slmops.budgets/v1', rules: [] });
    const markdown = renderGateReport(verdict, results);
    expect(markdown).toMatch(/### raspberry-pi-4 \(emulated[^\n]*· arm64 functional check ✅ passed/);
    expect(markdown).toMatch(/### raspberry-pi-5 \(emulated[^\n]*· arm64 functional check ❌ failed/);
    expect(markdown).toContain(
      '- ✅ digits@int8: passed (QEMU_CPU=cortex-a72, QEMU 7.2.22): 8 inputs, top-1 agreement with x86-64 1.0000, max |Δ| 5.70e-6, accuracy Δ +0.0000',
    );
    expect(markdown).toContain('crashed with SIGILL at udot v16.4s, v0.16b, v4.4b[0]');
    expect(markdown).toContain('| digits@int8 | functional |');
    expect(markdown).toContain('timings under emulation are not latencies');
  });
});
