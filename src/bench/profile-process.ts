/**
 * onnxruntime's per-node profile of a workload (a child process): one session builds the feeds (the decode
 * workload's prefill), a second, profiling session runs only the timed workload, so the profile holds nothing else.
 */
import { createSession } from '../inference/session.ts';
import { type NodeCost, nodeCosts } from './node-costs.ts';
import { type WorkloadSpec, workloadFeeds } from './workload.ts';

export interface ProfileSpec {
  path: string;
  workload: WorkloadSpec;
  threads: number;
  runs: number;
}

export async function runProfileProcess(spec: ProfileSpec): Promise<{ nodes: NodeCost[] }> {
  const builder = await createSession(spec.path, { intraOpThreads: spec.threads });
  const feeds = await workloadFeeds(builder, spec.workload);
  await builder.release();
  const session = await createSession(spec.path, { intraOpThreads: spec.threads, profiling: true });
  try {
    for (let i = 0; i < spec.runs; i++) await session.run(feeds);
    return { nodes: nodeCosts(session.endProfiling(), spec.runs) };
  } finally {
    await session.release();
  }
}
