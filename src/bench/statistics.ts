/**
 * Statistics for latency on noisy machines: percentiles, MAD, and a hierarchical bootstrap confidence interval
 * (resample processes, then iterations within each chosen process). Pooling every iteration as if independent
 * gives intervals that are too narrow, because processes differ more than iterations do.
 */
import { prng } from '../inference/synthesize.ts';

/** Linear-interpolated percentile (0..100) of sorted values. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export function median(values: ArrayLike<number>): number {
  return percentileSorted(sortedCopy(values), 50);
}

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** Median absolute deviation from the median (unscaled). */
export function mad(values: ArrayLike<number>): number {
  const m = median(values);
  return median(Array.from(values, (v) => Math.abs(v - m)));
}

export interface Summary {
  p50: number;
  p90: number;
  /** Only with at least 1000 samples: fewer cannot estimate a 99th percentile. */
  p99: number | null;
  mean: number;
  mad: number;
  n: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values);
  return {
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: sorted.length >= 1000 ? percentileSorted(sorted, 99) : null,
    mean: mean(sorted),
    mad: mad(sorted),
    n: sorted.length,
  };
}

export interface BootstrapOptions {
  resamples?: number;
  /** Two-sided confidence level, default 0.95. */
  level?: number;
  seed?: number;
}

function resampleMedian(
  groups: readonly ArrayLike<number>[],
  random: () => number,
  scratch: number[],
): number {
  scratch.length = 0;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[Math.floor(random() * groups.length)]!;
    for (let i = 0; i < group.length; i++) scratch.push(group[Math.floor(random() * group.length)]!);
  }
  return median(scratch);
}

/** Hierarchical bootstrap CI of the median over groups (processes) of samples (iterations). */
export function bootstrapMedianCi(
  groups: readonly ArrayLike<number>[],
  options: BootstrapOptions = {},
): [number, number] {
  const resamples = options.resamples ?? 2000;
  const alpha = (1 - (options.level ?? 0.95)) / 2;
  const random = prng(options.seed ?? 12345);
  const scratch: number[] = [];
  const medians = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) medians[r] = resampleMedian(groups, random, scratch);
  medians.sort();
  return [percentileSorted(medians, alpha * 100), percentileSorted(medians, (1 - alpha) * 100)];
}

/**
 * Hierarchical bootstrap CI of the ratio of medians head/base, where each process measured both arms (paired
 * by process): a resample picks processes, then iterations of each arm within them.
 */
export function bootstrapRatioCi(
  head: readonly ArrayLike<number>[],
  base: readonly ArrayLike<number>[],
  options: BootstrapOptions = {},
): { ratio: number; ci95: [number, number] } {
  if (head.length !== base.length) throw new Error('head and base need the same processes');
  const resamples = options.resamples ?? 2000;
  const alpha = (1 - (options.level ?? 0.95)) / 2;
  const random = prng(options.seed ?? 12345);
  const ratios = new Float64Array(resamples);
  const h: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < resamples; r++) {
    h.length = 0;
    b.length = 0;
    for (let g = 0; g < head.length; g++) {
      const pick = Math.floor(random() * head.length);
      const hg = head[pick]!;
      const bg = base[pick]!;
      for (let i = 0; i < hg.length; i++) h.push(hg[Math.floor(random() * hg.length)]!);
      for (let i = 0; i < bg.length; i++) b.push(bg[Math.floor(random() * bg.length)]!);
    }
    ratios[r] = median(h) / median(b);
  }
  ratios.sort();
  const ratio = median(head.flatMap((g) => Array.from(g))) / median(base.flatMap((g) => Array.from(g)));
  return {
    ratio,
    ci95: [percentileSorted(ratios, alpha * 100), percentileSorted(ratios, (1 - alpha) * 100)],
  };
}
