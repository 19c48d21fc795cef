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
    throw new GateFailedError(
      `the slmops gate failed: ${result.verdict.rules.filter((r) => r.verdict === 'fail' && !r.advisory).length} budget(s) exceeded (see the job summary)`,
    );
  }
});
