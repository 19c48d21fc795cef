import {
  coreInputs,
  getBooleanInput,
  getOptionalInput,
  getPositiveIntInput,
  getRequiredInput,
  type InputSource,
} from '../../action-kit/inputs.ts';

/** The inputs of actions/inspect/action.yml: one definition per name. */
export const Inputs = {
  Model: 'model',
  Run: 'run',
  Threads: 'threads',
  OutDir: 'out-dir',
} as const;

/** The outputs of actions/inspect/action.yml. */
export const Outputs = {
  Report: 'report',
  Params: 'params',
  Sha256: 'sha256',
  Bytes: 'bytes',
} as const;

export interface InspectInputs {
  /** Path of the .onnx file (relative to the workspace). */
  readonly model: string;
  /** Also load the model in onnxruntime and run it once on synthesized inputs. */
  readonly run: boolean;
  /** Intra-op threads for the run. */
  readonly threads: number;
  /** Folder for the report; default `RUNNER_TEMP`. */
  readonly outDir: string | undefined;
}

export function parseInputs(source: InputSource = coreInputs): InspectInputs {
  return {
    model: getRequiredInput(Inputs.Model, source),
    run: getBooleanInput(Inputs.Run, true, source),
    threads: getPositiveIntInput(Inputs.Threads, 1, source),
    outDir: getOptionalInput(Inputs.OutDir, source),
  };
}
