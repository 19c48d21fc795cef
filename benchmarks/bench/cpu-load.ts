/**
 * Waiting for a quiet machine, for the validation benchmarks; the counters are src/bench/cpu-load.ts's.
 */
import { cpuLoad, cpuSnapshot } from '../../src/bench/cpu-load.ts';

export { type CpuLoad, cpuLoad, cpuSnapshot } from '../../src/bench/cpu-load.ts';

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Cores' worth of CPU other processes used during the next `ms` (we sleep meanwhile). */
export function othersDuring(ms: number): number {
  const a = cpuSnapshot();
  sleepSync(ms);
  return cpuLoad(a, cpuSnapshot())?.otherCores ?? 0;
}

/**
 * Waits until other processes use less than `cores` over a 2 s window, at most `maxMs`.
 * Returns how long it waited and the last window's load.
 */
export function waitForQuiet(cores: number, maxMs: number): { waitedMs: number; otherCores: number } {
  const started = Date.now();
  for (;;) {
    const others = othersDuring(2000);
    const waitedMs = Date.now() - started;
    if (others < cores || waitedMs >= maxMs) return { waitedMs, otherCores: others };
    sleepSync(3000);
  }
}
