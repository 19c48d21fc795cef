/** Peak memory of one model, alone in a fresh child process: load it and run its workload a few times. */
import { createSession } from '../inference/session.ts';
import { type WorkloadSpec, workloadFeeds } from './workload.ts';

export interface RssSpec {
  path: string;
  workload: WorkloadSpec;
  threads: number;
  runs: number;
}

export async function runRssProcess(spec: RssSpec): Promise<{ peakRssBytes: number }> {
  const session = await createSession(spec.path, { intraOpThreads: spec.threads });
  try {
    const feeds = await workloadFeeds(session, spec.workload);
    for (let i = 0; i < spec.runs; i++) await session.run(feeds);
  } finally {
    await session.release();
  }
  return { peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}
