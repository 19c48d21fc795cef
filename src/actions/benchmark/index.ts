import { coreLogger } from '../../action-kit/core-logger.ts';
import { setOutputs } from '../../action-kit/outputs.ts';
import { runAction } from '../../action-kit/run.ts';
import { writeSummary } from '../../action-kit/summary.ts';
import { runChildIfRequested } from '../../workers/dispatch.ts';
import { parseInputs } from './inputs.ts';
import { runBenchmark } from './run.ts';

// Timing, memory and profile processes re-enter this script as children (src/workers).
if (!(await runChildIfRequested())) {
  await runAction('benchmark', async () => {
    const result = await runBenchmark(parseInputs(), { log: coreLogger, env: process.env });
    setOutputs(result.outputs);
    await writeSummary(result.summary);
  });
}
