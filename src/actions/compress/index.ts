import { coreLogger } from '../../action-kit/core-logger.ts';
import { setOutputs } from '../../action-kit/outputs.ts';
import { runAction } from '../../action-kit/run.ts';
import { writeSummary } from '../../action-kit/summary.ts';
import { runChildIfRequested } from '../../workers/dispatch.ts';
import { parseInputs } from './inputs.ts';
import { runCompress } from './run.ts';

// The fidelity check re-enters this script in a child process (src/compress/fidelity.ts).
if (!(await runChildIfRequested())) {
  await runAction('compress', async () => {
    const result = await runCompress(parseInputs(), { log: coreLogger, env: process.env });
    setOutputs(result.outputs);
    await writeSummary(result.summary);
  });
}
