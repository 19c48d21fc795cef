/**
 * Verdicts per (variant, profile, metric). Deterministic metrics (size, quality on fixed eval data, memory) gate
 * hard. Latency gates statistically: fail only when the whole 95 % CI is past the limit, inconclusive when the
 * CI straddles it. Emulated results judge absolute latency on the device prediction, as advisory verdicts that
 * never gate by default. A PR label turns fails into acknowledged passes.
 */

import type {
  BenchResult,
  BudgetLimits,
  BudgetsDocument,
  Interval,
  RuleVerdict,
  Verdict,
  VerdictRule,
} from '../config/types.ts';
import { limitsFor, ruleMatches } from './budgets.ts';
import type { LoadedResult } from './results.ts';

export interface JudgeOptions {
  /** Labels on the pull request (for the acknowledgement label). */
  labels?: readonly string[];
  /** Overrides the budgets file's `acceptLabel`. */
  acceptLabel?: string;
  /** Results written by untrusted code (fork pull requests): the verdict is advisory. */
  untrusted?: boolean;
  /** Let predictions of emulated profiles gate (off by default). */
  gatePredictions?: boolean;
}

export interface JudgedRule extends VerdictRule {
  /** Informs but does not decide the overall verdict (predictions). */
  advisory?: boolean;
}

export interface JudgedVerdict extends Verdict {
  rules: JudgedRule[];
  notes: string[];
  budgetsSource?: string;
}

type Result = BenchResult & { findings?: string[] };

function byInterval(interval: Interval, limit: number, higherIsWorse: boolean): RuleVerdict {
  const [lo, hi] = interval;
  if (higherIsWorse) return lo > limit ? 'fail' : hi <= limit ? 'pass' : 'inconclusive';
  return hi < limit ? 'fail' : lo >= limit ? 'pass' : 'inconclusive';
}

function hard(value: number, limit: number, higherIsWorse: boolean): RuleVerdict {
  return (higherIsWorse ? value > limit : value < limit) ? 'fail' : 'pass';
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The rules one result is judged on. */
export function judgeResult(result: Result, limits: BudgetLimits, options: JudgeOptions = {}): JudgedRule[] {
  const rules: JudgedRule[] = [];
  const base = { variantId: result.variantId, profileId: result.profile.id };
  const add = (rule: Omit<JudgedRule, 'variantId' | 'profileId'>) => rules.push({ ...base, ...rule });
  const missing = (metric: string, kind: 'absolute' | 'relative', limit: number, what: string) =>
    add({ metric, kind, limit, value: null, verdict: 'inconclusive', reason: `no ${what} in the result` });
  const emulated = result.profile.mode === 'emulated';
  const predictionAdvisory = emulated && !options.gatePredictions;

  const latency = limits.latency;
  for (const key of ['p50Ms', 'p90Ms'] as const) {
    const limit = latency?.[key];
    if (limit === undefined) continue;
    const metric = `latency.${key}`;
    if (emulated) {
      if (!result.predicted) {
        missing(metric, 'absolute', limit, 'device prediction');
        continue;
      }
      // The device's p90 as its p50 times the host's p90/p50 (1 when the host's p50 is 0: no ratio to carry).
      const scale =
        key === 'p50Ms' || !(result.latencyMs.p50 > 0)
          ? 1
          : (result.latencyMs.p90 ?? result.latencyMs.p50) / result.latencyMs.p50;
      const interval: Interval = [
        result.predicted.intervalMs[0] * scale,
        result.predicted.intervalMs[1] * scale,
      ];
      add({
        metric,
        kind: 'absolute',
        limit,
        value: result.predicted.p50Ms * scale,
        ci95: interval,
        verdict: byInterval(interval, limit, true),
        reason: `predicted for ${result.profile.id} (${result.predicted.calibrated ? 'calibrated' : 'uncalibrated'}, model error ${result.predicted.modelError}); prediction interval against ${limit} ms`,
        ...(predictionAdvisory ? { advisory: true } : {}),
      });
    } else if (key === 'p50Ms') {
      add({
        metric,
        kind: 'absolute',
        limit,
        value: result.latencyMs.p50,
        ci95: result.latencyMs.ci95,
        verdict: byInterval(result.latencyMs.ci95, limit, true),
        reason: `95 % CI of the median against ${limit} ms`,
      });
    } else {
      const p90 = result.latencyMs.p90;
      if (p90 === null) missing(metric, 'absolute', limit, 'p90');
      else
        add({
          metric,
          kind: 'absolute',
          limit,
          value: p90,
          verdict: hard(p90, limit, true),
          reason: `measured p90 against ${limit} ms`,
        });
    }
  }
  if (latency?.ratioTolerance !== undefined) {
    const limit = 1 + latency.ratioTolerance;
    if (!result.comparison) missing('latency.ratioTolerance', 'relative', limit, 'baseline comparison');
    else {
      const verdict = byInterval(result.comparison.ci95, limit, true);
      add({
        metric: 'latency.ratioTolerance',
        kind: 'relative',
        limit,
        value: result.comparison.ratioP50,
        baseline: result.comparison.baselineP50Ms ?? null,
        ci95: result.comparison.ci95,
        verdict,
        reason:
          verdict === 'fail'
            ? `clearly slower than ${result.comparison.baselineVariantId}: the whole 95 % CI of head/base is above ${limit.toFixed(2)}`
            : verdict === 'inconclusive'
              ? `the 95 % CI of head/base straddles ${limit.toFixed(2)}: not clearly within the tolerance; ${
                  result.workload.protocol === 'quick'
                    ? 'the quick protocol is a smoke measurement: use the full protocol to gate'
                    : "re-run with more timing processes (the benchmark action's `processes` input, `slmops bench --processes`) or on a quieter runner, or widen the tolerance"
                }`
              : `head/base within ${pct(latency.ratioTolerance)} of ${result.comparison.baselineVariantId}`,
      });
    }
  }
  if (limits.tokensPerSec?.min !== undefined) {
    const limit = limits.tokensPerSec.min;
    const measured = result.throughput?.tokensPerSec;
    if (measured === undefined) missing('tokensPerSec.min', 'absolute', limit, 'throughput');
    else if (emulated && result.predicted) {
      const predicted = measured * (result.latencyMs.p50 / result.predicted.p50Ms);
      const interval: Interval = [
        measured * (result.latencyMs.p50 / result.predicted.intervalMs[1]),
        measured * (result.latencyMs.p50 / result.predicted.intervalMs[0]),
      ];
      add({
        metric: 'tokensPerSec.min',
        kind: 'absolute',
        limit,
        value: predicted,
        ci95: interval,
        verdict: byInterval(interval, limit, false),
        reason: `predicted tokens/s on ${result.profile.id} against ${limit}`,
        ...(predictionAdvisory ? { advisory: true } : {}),
      });
    } else {
      add({
        metric: 'tokensPerSec.min',
        kind: 'absolute',
        limit,
        value: measured,
        verdict: hard(measured, limit, false),
        reason: `measured tokens/s against ${limit}`,
      });
    }
  }
  if (limits.sizeBytes?.max !== undefined) {
    const limit = limits.sizeBytes.max;
    add({
      metric: 'sizeBytes.max',
      kind: 'absolute',
      limit,
      value: result.model.bytes,
      verdict: hard(result.model.bytes, limit, true),
      reason: `model size against ${limit} bytes`,
    });
  }
  if (limits.sizeBytes?.growth !== undefined) {
    const limit = limits.sizeBytes.growth;
    const baseBytes = result.comparison?.baselineBytes;
    if (!baseBytes) missing('sizeBytes.growth', 'relative', limit, 'baseline size');
    else {
      const growth = result.model.bytes / baseBytes - 1;
      add({
        metric: 'sizeBytes.growth',
        kind: 'relative',
        limit,
        value: growth,
        baseline: baseBytes,
        verdict: hard(growth, limit, true),
        reason: `size ${growth >= 0 ? '+' : ''}${pct(growth)} against ${result.comparison!.baselineVariantId} (allowed +${pct(limit)})`,
      });
    }
  }
  if (limits.peakRssBytes?.max !== undefined) {
    const limit = limits.peakRssBytes.max;
    add({
      metric: 'peakRssBytes.max',
      kind: 'absolute',
      limit,
      value: result.peakRssBytes,
      verdict: hard(result.peakRssBytes, limit, true),
      reason: `peak RSS against ${limit} bytes`,
    });
  }
  if (limits.loadMs?.max !== undefined) {
    const limit = limits.loadMs.max;
    add({
      metric: 'loadMs.max',
      kind: 'absolute',
      limit,
      value: result.loadMs,
      verdict: hard(result.loadMs, limit, true),
      reason: `load time against ${limit} ms`,
    });
  }
  const quality = result.quality;
  const qualityRule = (
    metric: string,
    kind: 'absolute' | 'relative',
    limit: number,
    name: string,
    compute: () => { value: number | null; verdict: RuleVerdict; reason: string; baseline?: number | null },
  ) => {
    if (!quality || quality.metric !== name) {
      missing(metric, kind, limit, `${name} (give eval data to the benchmark)`);
      return;
    }
    add({ metric, kind, limit, ...compute() });
  };
  if (limits.perplexity?.max !== undefined) {
    const limit = limits.perplexity.max;
    qualityRule('perplexity.max', 'absolute', limit, 'perplexity', () => ({
      value: quality!.value,
      verdict: hard(quality!.value, limit, true),
      reason: `perplexity on the eval data against ${limit}`,
    }));
  }
  if (limits.perplexity?.increasePct !== undefined) {
    const limit = limits.perplexity.increasePct;
    qualityRule('perplexity.increasePct', 'relative', limit, 'perplexity', () => {
      if (quality!.reference === null)
        return {
          value: null,
          verdict: 'inconclusive',
          reason: 'no reference perplexity (run the benchmark with a baseline)',
        };
      const increase = (quality!.value / quality!.reference - 1) * 100;
      return {
        value: increase,
        baseline: quality!.reference,
        verdict: hard(increase, limit, true),
        reason: `perplexity ${increase >= 0 ? '+' : ''}${increase.toFixed(2)} % against the reference (allowed +${limit} %)`,
      };
    });
  }
  if (limits.accuracy?.min !== undefined) {
    const limit = limits.accuracy.min;
    qualityRule('accuracy.min', 'absolute', limit, 'accuracy', () => ({
      value: quality!.value,
      verdict: hard(quality!.value, limit, false),
      reason: `accuracy on the eval data against ${limit}`,
    }));
  }
  if (limits.accuracy?.drop !== undefined) {
    const limit = limits.accuracy.drop;
    qualityRule('accuracy.drop', 'relative', limit, 'accuracy', () => {
      if (quality!.reference === null)
        return {
          value: null,
          verdict: 'inconclusive',
          reason: 'no reference accuracy (run the benchmark with a baseline)',
        };
      const drop = quality!.reference - quality!.value;
      return {
        value: drop,
        baseline: quality!.reference,
        verdict: hard(drop, limit, true),
        reason: `accuracy drop ${(drop * 100).toFixed(2)} points (allowed ${(limit * 100).toFixed(2)})`,
      };
    });
  }
  if (limits.agreement?.min !== undefined) {
    const limit = limits.agreement.min;
    const value = quality?.agreement;
    if (value === null || value === undefined)
      missing('agreement.min', 'absolute', limit, 'top-1 agreement with a reference');
    else
      add({
        metric: 'agreement.min',
        kind: 'absolute',
        limit,
        value,
        verdict: hard(value, limit, false),
        reason: `top-1 agreement with the reference against ${limit}`,
      });
  }
  if (result.functional) add(functionalRule(result.functional, limits.agreement?.min));
  return rules;
}

/**
 * The arm64 functional check (src/devices/qemu): a failed check fails; a skipped one is an advisory inconclusive
 * (visible, never a silent pass); a passed one fails when its top-1 agreement (with the reference model when it ran,
 * else with the x86-64 run of the variant) is below the budget's `agreement.min`. `limit` is that floor (0: none).
 */
function functionalRule(
  functional: NonNullable<BenchResult['functional']>,
  floor: number | undefined,
): Omit<JudgedRule, 'variantId' | 'profileId'> {
  const value = functional.reference?.agreement ?? functional.agreement ?? null;
  const limit = floor ?? 0;
  const where = `arm64 under qemu (${functional.qemuCpu ?? 'no CPU model'})`;
  const base = { metric: 'functional', kind: 'absolute' as const, limit, value };
  if (functional.status === 'failed')
    return {
      ...base,
      verdict: 'fail',
      reason: `${where}: ${functional.reason ?? 'the functional check failed'}`,
    };
  if (functional.status === 'skipped')
    return {
      ...base,
      verdict: 'inconclusive',
      advisory: true,
      reason: `${where}: skipped: ${functional.reason ?? 'no reason given'}`,
    };
  const against = functional.reference ? 'the reference model' : 'the x86-64 run';
  if (floor !== undefined && value !== null && value < floor)
    return {
      ...base,
      verdict: 'fail',
      reason: `${where}: top-1 agreement with ${against} ${value.toFixed(4)} is below the floor ${floor}`,
    };
  return {
    ...base,
    verdict: 'pass',
    reason: `${where}: loads, runs and agrees on ${functional.samples} inputs${value === null ? '' : ` (top-1 agreement with ${against} ${value.toFixed(4)})`}`,
  };
}

function hostKey(result: Result): string {
  const h = result.host;
  return `${h.cpuModel} | ${h.isaFlags.join(' ')} | ${h.physicalCores}c/${h.logicalCores}t | onnxruntime ${h.onnxruntime}`;
}

/** Judges every result and decides the overall verdict. */
export function judge(
  results: LoadedResult[],
  budgets: BudgetsDocument,
  options: JudgeOptions = {},
): JudgedVerdict {
  const notes: string[] = [];
  const rules: JudgedRule[] = [];
  for (const { result } of results)
    rules.push(...judgeResult(result, limitsFor(budgets, result.variantId, result.profile.id), options));

  // Results from different hosts are never compared silently: say so when one (variant, profile) has several.
  const hosts = new Map<string, Set<string>>();
  for (const { result } of results) {
    const key = `${result.variantId} on ${result.profile.id}`;
    hosts.set(key, (hosts.get(key) ?? new Set()).add(hostKey(result)));
  }
  for (const [key, set] of hosts) {
    if (set.size > 1)
      notes.push(
        `${key} was measured on ${set.size} different hosts; each result is judged on its own, never against the others`,
      );
  }
  // A rule no result matches (a typo in its profile or variant) would silently judge nothing: say which.
  budgets.rules.forEach((rule, i) => {
    const matches = results.some(({ result }) => ruleMatches(rule, result.variantId, result.profile.id));
    if (!matches && results.length) {
      notes.push(
        `budgets rules[${i}] (profile ${rule.profile}${rule.variant ? `, variant ${rule.variant}` : ''}) matches none of the results (profiles: ${[...new Set(results.map((r) => r.result.profile.id))].join(', ')}): check its profile and variant`,
      );
    }
  });
  const distinctHosts = new Set(results.map((r) => hostKey(r.result)));
  if (distinctHosts.size > 1)
    notes.push(
      `results come from ${distinctHosts.size} different hosts (matrix legs); comparisons stay within each result`,
    );

  const acceptLabel = options.acceptLabel ?? budgets.acceptLabel;
  const accepted = Boolean(acceptLabel && options.labels?.includes(acceptLabel));
  if (accepted) {
    for (const rule of rules) {
      if (rule.verdict === 'fail' && !rule.advisory) {
        rule.verdict = 'acknowledged';
        rule.reason = `${rule.reason} — accepted with the label "${acceptLabel}"`;
      }
    }
  }
  const deciding = rules.filter((r) => !r.advisory);
  const overall = deciding.some((r) => r.verdict === 'fail')
    ? 'fail'
    : deciding.some((r) => r.verdict === 'inconclusive')
      ? 'inconclusive'
      : 'pass';
  return {
    schema: 'slmops.verdict/v1',
    overall,
    advisory: Boolean(options.untrusted),
    rules,
    inputs: results.map((r) => ({ path: r.path, sha256: r.sha256 })),
    ...(accepted && rules.some((r) => r.verdict === 'acknowledged') ? { acknowledgedBy: acceptLabel } : {}),
    notes,
    createdAt: new Date().toISOString(),
  };
}

/**
 * Whether the step fails: on a failed gate, and on an inconclusive one with failOn 'inconclusive' or the budgets'
 * `onInconclusive: fail | rerun` (rerun fails the step so that "Re-run failed jobs" measures again).
 */
export function gateFails(
  verdict: Verdict,
  failOn: 'fail' | 'inconclusive',
  onInconclusive?: BudgetsDocument['onInconclusive'],
): boolean {
  if (verdict.advisory) return false;
  if (verdict.overall === 'fail') return true;
  return (
    verdict.overall === 'inconclusive' &&
    (failOn === 'inconclusive' || onInconclusive === 'fail' || onInconclusive === 'rerun')
  );
}
