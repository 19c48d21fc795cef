/**
 * One timing process of a benchmark (a child process): load every arm, time the first run, warm up, then time the
 * arms interleaved in randomized ABBA blocks; for decoders, also time a real greedy decode loop.
 */
import { performance } from 'node:perf_hooks';
import { ConfigurationError } from '../errors.ts';
import { greedyDecode } from '../evaluate/decode-loop.ts';
import { createSession, type Session } from '../inference/session.ts';
import { type Arm, measureInterleaved } from './interleave.ts';
import { type WorkloadSpec, workloadFeeds } from './workload.ts';

export interface TimingSpec {
  /** The arms, each at `threads` unless it names its own (the thread-scaling study times 1 and 2 threads). */
  arms: { name: string; path: string; threads?: number }[];
  workload: WorkloadSpec;
  threads: number;
  warmupRuns: number;
  warmupMs: number;
  iterations: number;
  /** Tokens generated in the decode loop (decode workloads); 0 skips it. */
  decodeTokens: number;
  seed: number;
}

export interface TimingResult {
  loadMs: Record<string, number>;
  firstRunMs: Record<string, number>;
  samplesMs: Record<string, number[]>;
  decodeMsPerToken: Record<string, number>;
}

/**
 * onnxruntime refusing the workload's inputs is almost always a workload that does not fit the model (a sequence
 * longer than its context, a token outside its vocabulary, a batch or dim it fixes): said as such, with the fix.
 */
function cannotRun(error: unknown, arm: string, workload: WorkloadSpec): Error {
  // slmops's own mistakes (a TypeError building the feeds, say) stay bugs; onnxruntime's refusals are plain Errors.
  const ours = error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError;
  if (error instanceof ConfigurationError || ours || !(error instanceof Error)) return error as Error;
  const what =
    workload.kind === 'generic'
      ? 'synthesized inputs'
      : `${workload.kind} at sequence length ${workload.sequenceLength}`;
  return new ConfigurationError(
    `onnxruntime cannot run the ${arm} model on its ${what}, batch ${workload.batch} (${error.message.split('\n')[0]})`,
    {
      fix: 'Make the workload fit the model: --seq within its context, --batch and --dim as it fixes them, eval token ids inside its vocabulary',
    },
  );
}

export async function runTimingProcess(spec: TimingSpec): Promise<TimingResult> {
  const sessions: Record<string, Session> = {};
  const loadMs: Record<string, number> = {};
  const firstRunMs: Record<string, number> = {};
  const arms: Arm[] = [];
  try {
    // Alternate which arm loads first between processes: load order alone biases an A/A comparison by ~1-2 %.
    const order = spec.seed % 2 === 0 ? [...spec.arms].reverse() : spec.arms;
    for (const arm of order) {
      const started = performance.now();
      const session = await createSession(arm.path, { intraOpThreads: arm.threads ?? spec.threads });
      loadMs[arm.name] = performance.now() - started;
      sessions[arm.name] = session;
      let feeds: Awaited<ReturnType<typeof workloadFeeds>>;
      try {
        feeds = await workloadFeeds(session, spec.workload);
        const first = performance.now();
        await session.run(feeds);
        firstRunMs[arm.name] = performance.now() - first;
      } catch (error) {
        throw cannotRun(error, arm.name, spec.workload);
      }
      arms.push({ name: arm.name, session, feeds });
    }
    const samplesMs = await measureInterleaved(arms, {
      warmupRuns: spec.warmupRuns,
      warmupMs: spec.warmupMs,
      iterations: spec.iterations,
      seed: spec.seed,
    });
    const decodeMsPerToken: Record<string, number> = {};
    if (spec.workload.kind === 'decode' && spec.decodeTokens > 0) {
      const prompt = Array.from(
        { length: spec.workload.sequenceLength },
        (_, i) => spec.workload.tokens?.[i] ?? i % 2,
      );
      for (const arm of arms) {
        // The steps after the prefill, each timed on its own (subtracting a separately timed prefill from the
        // whole loop can come out negative on a noisy machine).
        const { stepMs } = await greedyDecode(arm.session, prompt, spec.decodeTokens);
        const steps = stepMs.slice(1);
        decodeMsPerToken[arm.name] = steps.reduce((a, x) => a + x, 0) / steps.length;
      }
    }
    return { loadMs, firstRunMs, samplesMs, decodeMsPerToken };
  } finally {
    for (const session of Object.values(sessions)) await session.release();
  }
}
