import { describe, expect, it } from 'vitest';
import { FAKE_TOKEN, runAction } from '../harness/run-action.ts';

const REQUIRED: Record<string, Record<string, string>> = {
  publish: { 'model-dir': 'slmops/variants' },
};

describe.each(Object.keys(REQUIRED))('the contract-only %s action', (name) => {
  it('validates its inputs, then fails with exit code 2 and one line saying it is not available yet', async () => {
    const run = await runAction({ action: name, inputs: REQUIRED[name] });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual([
      `the ${name} action is not available yet in this version of slmops. Its inputs and outputs are fixed ` +
        `(actions/${name}/README.md); pin a later release of slmops to use it`,
    ]);
    expect(run.outputs).toEqual({});
    expect(run.stderr).toBe('');
  });
});

describe('contract-only actions', () => {
  it('report an invalid input before saying they are not available', async () => {
    const run = await runAction({ action: 'gate', inputs: { results: 'r/', mode: 'fast' } });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual(["input 'mode': 'fast' is not valid. Use one of gate, comment"]);
  });

  it('mask the default github-token (the workflow token) as soon as they read it', async () => {
    const run = await runAction({ action: 'publish', inputs: REQUIRED.publish });
    expect(run.stdout).toContain(`::add-mask::${FAKE_TOKEN}`);
  });
});
