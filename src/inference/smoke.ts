/** Loads a model in onnxruntime and runs it once on synthesized inputs: does it work on this runner? */
import { performance } from 'node:perf_hooks';
import { createSession } from './session.ts';
import { synthesizeInputs } from './synthesize.ts';

export interface SmokeResult {
  loadMs: number;
  runMs: number;
  inputs: { name: string; type: string; dims: number[] }[];
  outputs: { name: string; type: string; dims: number[] }[];
}

export async function smokeRun(
  modelPath: string,
  options: { threads?: number; dims?: Record<string, number> } = {},
): Promise<SmokeResult> {
  const started = performance.now();
  const session = await createSession(modelPath, { intraOpThreads: options.threads ?? 1 });
  const loadMs = performance.now() - started;
  try {
    const feeds = synthesizeInputs(session.inputs, { dims: { seq: 8, ...options.dims } });
    const runStarted = performance.now();
    const results = await session.run(feeds);
    const runMs = performance.now() - runStarted;
    return {
      loadMs,
      runMs,
      inputs: Object.entries(feeds).map(([name, t]) => ({ name, type: t.type, dims: t.dims })),
      outputs: Object.entries(results).map(([name, t]) => ({ name, type: t.type, dims: t.dims })),
    };
  } finally {
    await session.release();
  }
}
