import { describe, expect, it } from 'vitest';
import {
  bootstrapMedianCi,
  bootstrapRatioCi,
  mad,
  percentileSorted,
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
});
