import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { InputSource } from '../../src/action-kit/inputs.ts';
import { recordInputs } from '../../src/action-kit/inputs.ts';
import { type ActionSpec, actionNames } from '../harness/action-docs.ts';
import { repoRoot } from '../harness/prepare.ts';
import { evaluateDefault } from '../harness/run-action.ts';

/** The published contract: these names are what workflows depend on. Changing one is a breaking change. */
const CONTRACT: Record<string, { inputs: string[]; outputs: string[] }> = {
  inspect: {
    inputs: ['model', 'run', 'threads', 'out-dir'],
    outputs: ['report', 'params', 'sha256', 'bytes'],
  },
  compress: { inputs: ['model', 'recipes', 'out-dir', 'eval-data'], outputs: ['variants'] },
  benchmark: {
    inputs: [
      'models',
      'profiles',
      'baseline-model',
      'eval-data',
      'protocol',
      'processes',
      'iterations',
      'threads',
      'out-dir',
    ],
    outputs: ['results', 'summary'],
  },
  gate: {
    inputs: ['results', 'budgets', 'github-token', 'mode', 'comment', 'fail-on', 'accept-label'],
    outputs: ['verdict', 'comment-id', 'comment-operation'],
  },
  publish: {
    // The contract's names, plus name, include, results (inputs) and tag, result (outputs), added by the publish issue.
    inputs: ['model-dir', 'name', 'include', 'results', 'version', 'channel', 'draft', 'github-token'],
    outputs: ['release-id', 'release-url', 'version', 'tag', 'result', 'assets', 'subjects'],
  },
};

interface InputsModule {
  Inputs: Record<string, string>;
  Outputs: Record<string, string>;
  parseInputs(source: InputSource): unknown;
}

const spec = (name: string) =>
  parse(readFileSync(path.join(repoRoot, 'actions', name, 'action.yml'), 'utf8')) as ActionSpec;
const inputsModule = async (name: string) =>
  (await import(`../../src/actions/${name}/inputs.ts`)) as InputsModule;

describe('the actions', () => {
  it('are exactly the contracted ones, each with an action.yml and a source folder', () => {
    expect(actionNames()).toEqual(Object.keys(CONTRACT).sort());
    for (const name of actionNames()) {
      expect(existsSync(path.join(repoRoot, 'src/actions', name, 'index.ts')), name).toBe(true);
    }
  });
});

describe.each(Object.keys(CONTRACT))('actions/%s', (name) => {
  const contract = CONTRACT[name] as { inputs: string[]; outputs: string[] };

  it('runs the bundle of its name on node24', () => {
    expect(spec(name).runs).toEqual({ using: 'node24', main: `../../dist/${name}/index.js` });
  });

  it('declares exactly the contracted inputs and outputs', () => {
    expect(Object.keys(spec(name).inputs ?? {})).toEqual(contract.inputs);
    expect(Object.keys(spec(name).outputs ?? {})).toEqual(contract.outputs);
  });

  it('defines each input and output name once in inputs.ts, matching action.yml', async () => {
    const { Inputs, Outputs } = await inputsModule(name);
    for (const names of [Object.values(Inputs), Object.values(Outputs)]) {
      expect(new Set(names).size).toBe(names.length);
    }
    expect(Object.values(Inputs).sort()).toEqual(Object.keys(spec(name).inputs ?? {}).sort());
    expect(Object.values(Outputs).sort()).toEqual(Object.keys(spec(name).outputs ?? {}).sort());
  });

  it('describes every input and output', () => {
    const { inputs = {}, outputs = {} } = spec(name);
    for (const [key, value] of [...Object.entries(inputs), ...Object.entries(outputs)]) {
      expect(value.description, key).toMatch(/\S{3}/);
    }
  });

  it('accepts its own action.yml defaults once the required inputs are given', async () => {
    const { inputs = {} } = spec(name);
    const values: Record<string, string> = {};
    for (const [key, input] of Object.entries(inputs)) {
      const fallback = evaluateDefault(input.default);
      if (fallback !== undefined) values[key] = fallback;
      if (input.required) values[key] = `given-${key}`;
    }
    const { parseInputs } = await inputsModule(name);
    expect(() => parseInputs(recordInputs(values))).not.toThrow();
  });

  it('refuses to go without each input its action.yml marks as required', async () => {
    const { inputs = {} } = spec(name);
    const { parseInputs } = await inputsModule(name);
    for (const [key, input] of Object.entries(inputs)) {
      const values: Record<string, string> = {};
      for (const [other, o] of Object.entries(inputs)) {
        const fallback = evaluateDefault(o.default);
        if (fallback !== undefined) values[other] = fallback;
        if (o.required) values[other] = `given-${other}`;
      }
      values[key] = '';
      if (input.required) {
        expect(() => parseInputs(recordInputs(values)), key).toThrow(new RegExp(`input '${key}'`));
      }
    }
  });
});
