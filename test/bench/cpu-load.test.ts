import { describe, expect, it } from 'vitest';
import { cpuLoad, cpuSnapshot, parseCpuSnapshot } from '../../src/bench/cpu-load.ts';

const self = (ticks: number) => `4242 (node (worker)) S 1 2 3 0 -1 0 0 0 0 0 ${ticks} 0 0 0 20 0 1 0`;

describe('host load while measuring', () => {
  it('splits the machine’s CPU time into ours, other processes’ and the hypervisor’s steal', () => {
    const a = parseCpuSnapshot('cpu  1000 0 100 5000 10 0 0 200 0 0\ncpu0 1 2 3', self(300));
    // 1 s on 2 CPUs = 200 ticks: we used 100, others 50, steal 20, idle 30.
    const b = parseCpuSnapshot('cpu  1140 0 110 5030 10 0 0 220 0 0\ncpu0 1 2 3', self(400));
    const load = cpuLoad(a, b, 2)!;
    expect(load.ownCores).toBeCloseTo(1, 5);
    expect(load.otherCores).toBeCloseTo(0.5, 5);
    expect(load.stealPct).toBeCloseTo(10, 5);
  });

  it('reads a comm with spaces and parentheses from /proc/self/stat', () => {
    expect(parseCpuSnapshot('cpu  1 0 0 1 0 0 0 0', self(7))!.own).toBe(7);
  });

  it('gives nothing rather than a wrong figure when the counters are missing or did not move', () => {
    expect(parseCpuSnapshot('intr 1 2 3', self(1))).toBeUndefined();
    const a = parseCpuSnapshot('cpu  1 0 0 1 0 0 0 0', self(1));
    expect(cpuLoad(a, a, 2)).toBeUndefined();
    expect(cpuLoad(undefined, a, 2)).toBeUndefined();
  });

  it('reads this machine’s counters on Linux', () => {
    if (process.platform !== 'linux') return;
    expect(cpuSnapshot()!.total).toBeGreaterThan(0);
  });
});
