import { coreLogger } from '../../action-kit/core-logger.ts';
import { setOutputs } from '../../action-kit/outputs.ts';
import { runAction } from '../../action-kit/run.ts';
import { writeSummary } from '../../action-kit/summary.ts';
import { parseInputs } from './inputs.ts';
import { runPublishAction } from './run.ts';

await runAction('publish', async () => {
  const result = await runPublishAction(parseInputs(), { log: coreLogger, env: process.env });
  setOutputs(result.outputs);
  await writeSummary(result.summary);
});
