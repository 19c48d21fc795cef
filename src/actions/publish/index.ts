import { runAction } from '../../action-kit/run.ts';
import { notAvailableYet } from '../not-available.ts';
import { parseInputs } from './inputs.ts';

// Contract only: the inputs are parsed and validated, and the capability lands in a later version.
await runAction('publish', async () => {
  parseInputs();
  throw notAvailableYet('publish');
});
