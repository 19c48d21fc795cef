import { coreLogger } from '../../action-kit/core-logger.ts';
import { setOutputs } from '../../action-kit/outputs.ts';
import { runAction } from '../../action-kit/run.ts';
import { writeSummary } from '../../action-kit/summary.ts';
import { GateFailedError } from '../../errors.ts';
import { parseInputs } from './inputs.ts';
import { runGateAction } from './run.ts';

await runAction('gate', async () => {
  const result = await runGateAction(parseInputs(), { log: coreLogger, env: process.env });
  setOutputs(result.outputs);
  await writeSummary(result.summary);
  if (result.failed) {
    const failed = result.verdict.rules.filter((r) => r.verdict === 'fail' && !r.advisory).length;
    throw new GateFailedError(
      failed > 0
        ? `the slmops gate failed: ${failed} budget(s) exceeded (see the job summary)`
        : 'the slmops gate is inconclusive: a latency CI straddles its budget; re-run the benchmark jobs ("Re-run failed jobs") to measure again',
    );
  }
});
