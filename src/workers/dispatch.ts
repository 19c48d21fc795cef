/** The child side of src/workers/spawn.ts: every entry script calls `runChildIfRequested()` first. */
import { type FidelitySpec, measureFidelity } from '../compress/fidelity.ts';
import { ConfigurationError } from '../errors.ts';
import { type ChildFailure, childSpec } from './spawn.ts';

/**
 * In a child started by `runInChild`: do the work, print its JSON result, return true. Else return false. A failure
 * is printed as `{"childFailure": …}` (exit code 1), so the parent can tell the user what went wrong rather than
 * the tail of a stack trace.
 */
export async function runChildIfRequested(): Promise<boolean> {
  const kind = process.env.SLMOPS_CHILD;
  if (!kind) return false;
  try {
    process.stdout.write(`${JSON.stringify(await runChild(kind))}\n`);
  } catch (error) {
    const childFailure: ChildFailure = {
      message: error instanceof Error ? error.message : String(error),
      configuration: error instanceof ConfigurationError,
    };
    process.stdout.write(`${JSON.stringify({ childFailure })}\n`);
    process.exitCode = 1;
  }
  return true;
}

async function runChild(kind: string): Promise<unknown> {
  let result: unknown;
  switch (kind) {
    case 'fidelity':
      result = await measureFidelity(childSpec<FidelitySpec>());
      break;
    case 'bench': {
      const { runTimingProcess } = await import('../bench/timing-process.ts');
      result = await runTimingProcess(childSpec());
      break;
    }
    case 'rss': {
      const { runRssProcess } = await import('../bench/rss-process.ts');
      result = await runRssProcess(childSpec());
      break;
    }
    case 'profile': {
      const { runProfileProcess } = await import('../bench/profile-process.ts');
      result = await runProfileProcess(childSpec());
      break;
    }
    default:
      throw new Error(`unknown SLMOPS_CHILD kind "${kind}"`);
  }
  return result;
}
