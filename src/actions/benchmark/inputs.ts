import {
  coreInputs,
  getEnumInput,
  getOptionalInput,
  getOptionalPositiveIntInput,
  getUniqueListInput,
  type InputSource,
} from '../../action-kit/inputs.ts';
import { ConfigurationError } from '../../errors.ts';

/** The inputs of actions/benchmark/action.yml: one definition per name. */
export const Inputs = {
  Models: 'models',
  Profiles: 'profiles',
  BaselineModel: 'baseline-model',
  EvalData: 'eval-data',
  Protocol: 'protocol',
  Processes: 'processes',
  Iterations: 'iterations',
  Threads: 'threads',
  OutDir: 'out-dir',
} as const;

/** The outputs of actions/benchmark/action.yml. */
export const Outputs = {
  Results: 'results',
  Summary: 'summary',
} as const;

export const PROTOCOLS = ['quick', 'full'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const DEFAULT_OUT_DIR = 'slmops/bench';

export interface BenchmarkInputs {
  /** The models (or variants) to measure; never empty. */
  readonly models: readonly string[];
  /** Device profile ids or files; empty = this runner as it is. */
  readonly profiles: readonly string[];
  /** Measured side by side with each model (base of a pull request). */
  readonly baselineModel: string | undefined;
  readonly evalData: string | undefined;
  /** `full` for gating (several processes, ABBA blocks); `quick` for a smoke measurement. */
  readonly protocol: Protocol;
  /** Fresh timing processes; undefined = the protocol's. */
  readonly processes: number | undefined;
  /** Timed runs per arm in each process; undefined = the protocol's. */
  readonly iterations: number | undefined;
  /** Intra-op threads; undefined = each profile's. */
  readonly threads: number | undefined;
  readonly outDir: string;
}

export function parseInputs(source: InputSource = coreInputs): BenchmarkInputs {
  const models = getUniqueListInput(Inputs.Models, source);
  if (models.length === 0) {
    throw new ConfigurationError('is required and was not given', {
      subject: `input '${Inputs.Models}'`,
      fix: 'Give one model path per line',
    });
  }
  return {
    models: models,
    profiles: getUniqueListInput(Inputs.Profiles, source),
    baselineModel: getOptionalInput(Inputs.BaselineModel, source),
    evalData: getOptionalInput(Inputs.EvalData, source),
    protocol: getEnumInput(Inputs.Protocol, PROTOCOLS, 'full', source),
    processes: getOptionalPositiveIntInput(Inputs.Processes, source),
    iterations: getOptionalPositiveIntInput(Inputs.Iterations, source),
    threads: getOptionalPositiveIntInput(Inputs.Threads, source),
    outDir: getOptionalInput(Inputs.OutDir, source) ?? DEFAULT_OUT_DIR,
  };
}
