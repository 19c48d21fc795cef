import { coreLogger } from '../../action-kit/core-logger.ts';
import { setOutputs } from '../../action-kit/outputs.ts';
import { runAction } from '../../action-kit/run.ts';
import { writeSummary } from '../../action-kit/summary.ts';
import { parseInputs } from './inputs.ts';
import { runInspect } from './run.ts';

await runAction('inspect', async () => {
  const inputs = parseInputs();
  const result = await runInspect(inputs, { log: coreLogger, env: process.env });
  setOutputs(result.outputs);
  await writeSummary(result.summary);
});
