/**
 * Interleaved A/B timing inside one process: both arms loaded, warmed up, then timed in randomized ABBA / BAAB
 * blocks so that drift (thermal, noisy neighbours, frequency) falls on both arms alike.
 */
import { performance } from 'node:perf_hooks';
import type { Session, TensorValue } from '../inference/session.ts';
import { prng } from '../inference/synthesize.ts';

export interface Arm {
  name: string;
  session: Session;
  feeds: Record<string, TensorValue>;
}

export interface InterleaveOptions {
  /** At least this many warm-up runs per arm… */
  warmupRuns?: number;
  /** …and at least this long in warm-up overall. */
  warmupMs?: number;
  /** Timed runs per arm. */
  iterations: number;
  seed?: number;
}

async function time(arm: Arm): Promise<number> {
  const started = performance.now();
  await arm.session.run(arm.feeds);
  return performance.now() - started;
}

/** Per-arm latencies in ms, in the order they were taken. */
export async function measureInterleaved(
  arms: Arm[],
  options: InterleaveOptions,
): Promise<Record<string, number[]>> {
  const random = prng(options.seed ?? 7);
  const warmupRuns = options.warmupRuns ?? 5;
  const warmupMs = options.warmupMs ?? 1000;
  const started = performance.now();
  for (let i = 0; i < warmupRuns || performance.now() - started < warmupMs; i++) {
    for (const arm of arms) await time(arm);
  }
  const samples: Record<string, number[]> = Object.fromEntries(arms.map((a) => [a.name, []]));
  const [a, b] = arms as [Arm, Arm];
  if (arms.length === 1) {
    for (let i = 0; i < options.iterations; i++) samples[a.name]!.push(await time(a));
    return samples;
  }
  // Blocks of 4: ABBA or BAAB, chosen at random, until each arm has its iterations.
  while (samples[a.name]!.length < options.iterations) {
    const order = random() < 0.5 ? [a, b, b, a] : [b, a, a, b];
    for (const arm of order) samples[arm.name]!.push(await time(arm));
  }
  for (const arm of arms) samples[arm.name] = samples[arm.name]!.slice(0, options.iterations);
  return samples;
}
