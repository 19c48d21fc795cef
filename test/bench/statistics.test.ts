import { describe, expect, it } from 'vitest';
import {
  bootstrapMedianCi,
  bootstrapRatioCi,
  mad,
  percentileSorted,
  processRatioCi,
  studentT975,
  summarize,
} from '../../src/bench/statistics.ts';
import { prng } from '../../src/inference/synthesize.ts';

/** Latencies of `processes` processes: each has its own offset (process noise) plus iteration noise. */
function latencies(processes: number, iterations: number, base: number, seed: number): number[][] {
  const random = prng(seed);
  return Array.from({ length: processes }, () => {
    const offset = 1 + (random() - 0.5) * 0.1;
    return Array.from({ length: iterations }, () => base * offset * (1 + random() * 0.05));
  });
}

describe('latency statistics', () => {
  it('interpolates percentiles and reports p99 only from 1000 samples', () => {
    expect(percentileSorted([1, 2, 3, 4], 50)).toBe(2.5);
    expect(summarize([1, 2, 3, 4, 100]).p50).toBe(3);
    expect(summarize(Array.from({ length: 999 }, (_, i) => i)).p99).toBeNull();
    expect(summarize(Array.from({ length: 1000 }, (_, i) => i)).p99).toBeCloseTo(989.01, 2);
    expect(mad([1, 2, 3, 4, 100])).toBe(1);
  });

  it('gives a median CI that covers the median and narrows with more processes', () => {
    const few = bootstrapMedianCi(latencies(3, 50, 10, 1));
    const many = bootstrapMedianCi(latencies(30, 50, 10, 1));
    expect(few[0]).toBeLessThan(few[1]);
    expect(many[1] - many[0]).toBeLessThan(few[1] - few[0]);
    expect(many[0]).toBeLessThan(10.3);
    expect(many[1]).toBeGreaterThan(10);
  });

  it('puts 1 inside the ratio CI of two equal arms and excludes it for a 20 % slowdown', () => {
    const base = latencies(8, 40, 10, 2);
    const same = latencies(8, 40, 10, 3);
    const slower = latencies(8, 40, 12, 4);
    const equal = bootstrapRatioCi(same, base);
    expect(equal.ci95[0]).toBeLessThan(1);
    expect(equal.ci95[1]).toBeGreaterThan(1);
    const slow = bootstrapRatioCi(slower, base);
    expect(slow.ci95[0]).toBeGreaterThan(1.1);
    expect(slow.ratio).toBeGreaterThan(1.15);
  });

  it('gives Student t quantiles from the table and from the expansion beyond it', () => {
    expect(studentT975(1)).toBe(12.706);
    expect(studentT975(11)).toBe(2.201);
    expect(studentT975(40)).toBeCloseTo(2.0211, 3);
    expect(studentT975(120)).toBeCloseTo(1.9799, 3);
    expect(studentT975(0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('centres the process ratio interval on the per-process ratios and excludes 1 for a 12 % slowdown', () => {
    const base = latencies(12, 60, 10, 5);
    // The same processes, 12 % slower, with their own iteration noise: the process offsets cancel in the ratio.
    const random = prng(6);
    const slower = base.map((g) => g.map((v) => v * 1.12 * (1 + (random() - 0.5) * 0.02)));
    const c = processRatioCi(slower, base);
    expect(c.ratio).toBeGreaterThan(1.1);
    expect(c.ratio).toBeLessThan(1.14);
    expect(c.ci95[0]).toBeGreaterThan(1.05);
    expect(c.ci95[0]).toBeLessThan(c.ratio);
    expect(c.ci95[1]).toBeGreaterThan(c.ratio);
  });

  it('holds the true ratio about 95 % of the time on simulated A/A runs with process-level effects', () => {
    // Each process shifts both arms alike (placement, neighbours) and one arm by a small random amount (memory
    // layout): the per-process ratio has a spread the interval has to cover.
    const random = prng(7);
    let covered = 0;
    let narrower = 0;
    const runs = 200;
    for (let r = 0; r < runs; r++) {
      const head: number[][] = [];
      const base: number[][] = [];
      for (let p = 0; p < 12; p++) {
        const shared = 1 + (random() - 0.5) * 0.3;
        const armEffect = 1 + (random() - 0.5) * 0.06;
        const noise = () => 1 + random() * random() * 0.2;
        head.push(Array.from({ length: 60 }, () => 10 * shared * armEffect * noise()));
        base.push(Array.from({ length: 60 }, () => 10 * shared * noise()));
      }
      const c = processRatioCi(head, base);
      if (c.ci95[0] <= 1 && c.ci95[1] >= 1) covered += 1;
      if (r < 10) {
        const b = bootstrapRatioCi(head, base, { resamples: 200, seed: r });
        if (c.ci95[1] / c.ci95[0] < b.ci95[1] / b.ci95[0]) narrower += 1;
      }
    }
    expect(covered / runs).toBeGreaterThan(0.9);
    expect(covered / runs).toBeLessThan(0.99);
    expect(narrower).toBeGreaterThanOrEqual(8);
  });

  it('narrows the ratio bootstrap when runs are drawn as the pairs they were measured in', () => {
    // Each interleaved block shares a large drift; head and base differ only by a little noise of their own.
    const random = prng(11);
    const head: number[][] = [];
    const base: number[][] = [];
    for (let p = 0; p < 6; p++) {
      const h: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < 60; i++) {
        const drift = 10 * (1 + random() * 0.5);
        h.push(drift * (1 + random() * 0.01));
        b.push(drift * (1 + random() * 0.01));
      }
      head.push(h);
      base.push(b);
    }
    const width = (c: { ci95: [number, number] }) => c.ci95[1] / c.ci95[0];
    const paired = bootstrapRatioCi(head, base, { resamples: 400, paired: true });
    const independent = bootstrapRatioCi(head, base, { resamples: 400 });
    expect(paired.ratio).toBe(independent.ratio);
    expect(width(paired)).toBeLessThan(width(independent));
  });

  it('falls back to the bootstrap over iterations with a single process', () => {
    const base = latencies(1, 60, 10, 8);
    const head = latencies(1, 60, 10, 9);
    const c = processRatioCi(head, base);
    expect(c.ci95[0]).toBeLessThan(c.ci95[1]);
    expect(Number.isFinite(c.ci95[1])).toBe(true);
  });
});
