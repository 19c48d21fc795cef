import * as core from '@actions/core';

/** An output value: strings as they are, numbers and booleans as text, objects and arrays as JSON. */
export type OutputValue = string | number | boolean | object | undefined;

export interface OutputSink {
  set(name: string, value: string): void;
}

/** The runner's step outputs (`GITHUB_OUTPUT`). */
export const coreOutputs: OutputSink = { set: (name, value) => core.setOutput(name, value) };

/** The text an output value is written as; undefined values are not written. */
export function formatOutput(value: OutputValue): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Sets every output of a typed map (keys are the names declared in action.yml, via the action's `Outputs` map);
 * undefined values are left unset.
 */
export function setOutputs<Name extends string>(
  values: { readonly [K in Name]: OutputValue },
  sink: OutputSink = coreOutputs,
): void {
  for (const [name, value] of Object.entries(values) as [Name, OutputValue][]) {
    const text = formatOutput(value);
    if (text !== undefined) sink.set(name, text);
  }
}
