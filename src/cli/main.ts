import { runChildIfRequested } from '../workers/dispatch.ts';
import { runCli } from './program.ts';

if (!(await runChildIfRequested())) process.exitCode = await runCli(process.argv.slice(2));
