/** The child side of src/workers/spawn.ts: every entry script calls `runChildIfRequested()` first. */
import { type FidelitySpec, measureFidelity } from '../compress/fidelity.ts';
import { childSpec } from './spawn.ts';

/** In a child started by `runInChild`: do the work, print its JSON result, return true. Else return false. */
export async function runChildIfRequested(): Promise<boolean> {
  const kind = process.env.SLMOPS_CHILD;
  if (!kind) return false;
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
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return true;
}
