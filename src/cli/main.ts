import { runChildIfRequested } from '../compress/fidelity.ts';
import { runCli } from './program.ts';

if (!(await runChildIfRequested())) process.exitCode = await runCli(process.argv.slice(2));
