/**
 * Alternatives to src/bench/statistics.ts's `bootstrapRatioCi` for the head/base ratio, compared in the
 * `protocol` section on A/A data (where the true ratio is 1).
 *
 * `bootstrapRatioCi` resamples processes, then the iterations of head and of base *independently* within each
 * picked process. But the timing loop pairs them: measureInterleaved runs ABBA/BAAB blocks, so head[i] and
 * base[i] come from the same block (i = 2k, 2k + 1 from block k) and share its drift and noise bursts. The ratio of
 * medians benefits from that pairing; independent resampling does not reproduce it, so the interval comes out wider
 * than the estimator's real spread.
 *
 * - `pairedBootstrapRatioCi`: the same hierarchical bootstrap, but iterations are drawn as pairs (head[i], base[i]).
 * - src's `processRatioCi` (what `slmops bench` uses since this study): per process the log of
 *   median(head) / median(base); a Student t interval over processes.
 */
import { median, percentileSorted } from '../../src/bench/statistics.ts';
import { prng } from '../../src/inference/synthesize.ts';

export function pairedBootstrapRatioCi(
  head: readonly ArrayLike<number>[],
  base: readonly ArrayLike<number>[],
  options: { resamples?: number; seed?: number } = {},
): { ratio: number; ci95: [number, number] } {
  const resamples = options.resamples ?? 2000;
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
      const n = Math.min(hg.length, bg.length);
      for (let i = 0; i < n; i++) {
        const j = Math.floor(random() * n);
        h.push(hg[j]!);
        b.push(bg[j]!);
      }
    }
    ratios[r] = median(h) / median(b);
  }
  ratios.sort();
  const ratio = median(head.flatMap((g) => Array.from(g))) / median(base.flatMap((g) => Array.from(g)));
  return { ratio, ci95: [percentileSorted(ratios, 2.5), percentileSorted(ratios, 97.5)] };
}
