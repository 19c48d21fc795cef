/**
 * Statistics for latency on noisy machines: percentiles, MAD, a hierarchical bootstrap confidence interval of one
 * arm's median (resample processes, then iterations within each chosen process), and the head/base ratio's
 * interval over processes. Pooling every iteration as if independent gives intervals that are too narrow,
 * because processes differ more than iterations do.
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
  /** Ratio only: draw head and base runs as pairs of the same index (compared in benchmarks/bench). */
  paired?: boolean;
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
      if (options.paired) {
        // Runs drawn as (head[i], base[i]) pairs: the interleaved blocks that measured them together.
        const n = Math.min(hg.length, bg.length);
        for (let i = 0; i < n; i++) {
          const j = Math.floor(random() * n);
          h.push(hg[j]!);
          b.push(bg[j]!);
        }
      } else {
        for (let i = 0; i < hg.length; i++) h.push(hg[Math.floor(random() * hg.length)]!);
        for (let i = 0; i < bg.length; i++) b.push(bg[Math.floor(random() * bg.length)]!);
      }
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

/** Two-sided 97.5 % quantiles of Student's t for 1…30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The 97.5 % quantile of Student's t: the table, then the Cornish-Fisher expansion (error < 1e-4 above 30). */
export function studentT975(degreesOfFreedom: number): number {
  if (degreesOfFreedom < 1) return Number.POSITIVE_INFINITY;
  const tabled = T975[Math.floor(degreesOfFreedom) - 1];
  if (tabled !== undefined) return tabled;
  const z = 1.959964;
  const v = degreesOfFreedom;
  return z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v * v);
}

/**
 * The head/base ratio of medians and its 95 % interval over processes, where every process measured both arms
 * interleaved: per process the log of median(head) / median(base), then a Student t interval of their mean. The
 * ratio is the geometric mean of the per-process ratios.
 *
 * Load order, memory placement and a noisy neighbour shift a whole process; within a process the interleaving
 * cancels drift between the arms. So the per-process ratios are the independent observations, and their spread
 * holds both sources of noise. On A/A runs on a shared 2-core VM this interval held the true ratio 96-100 % of the
 * time while being 2-3x narrower than `bootstrapRatioCi`, which resamples iterations of each arm independently
 * and so counts the within-process noise twice (docs/benchmark-validation.md).
 *
 * One process cannot show the spread between processes: it falls back to `bootstrapRatioCi`.
 */
export function processRatioCi(
  head: readonly ArrayLike<number>[],
  base: readonly ArrayLike<number>[],
): { ratio: number; ci95: [number, number] } {
  if (head.length !== base.length) throw new Error('head and base need the same processes');
  if (head.length < 2) return bootstrapRatioCi(head, base);
  const logs = head.map((g, i) => Math.log(median(g) / median(base[i]!)));
  const n = logs.length;
  const center = logs.reduce((a, x) => a + x, 0) / n;
  const sd = Math.sqrt(logs.reduce((a, x) => a + (x - center) ** 2, 0) / (n - 1));
  const half = (studentT975(n - 1) * sd) / Math.sqrt(n);
  return { ratio: Math.exp(center), ci95: [Math.exp(center - half), Math.exp(center + half)] };
}
