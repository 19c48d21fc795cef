import { ConfigurationError } from '../errors.ts';

/** The error of an action whose contract is published but whose capability lands in a later version. */
export function notAvailableYet(name: string): ConfigurationError {
  return new ConfigurationError(`the ${name} action is not available yet in this version of slmops`, {
    fix: `Its inputs and outputs are fixed (actions/${name}/README.md); pin a later release of slmops to use it`,
  });
}
