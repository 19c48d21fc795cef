import { describe, expect, it } from 'vitest';
import { runAction } from '../harness/run-action.ts';

describe('action inputs', () => {
  it('are validated before any work, naming the input, the value and the allowed values', async () => {
    const run = await runAction({ action: 'gate', inputs: { results: 'r/', mode: 'fast' } });
    expect(run.exitCode).toBe(2);
    expect(run.errors).toEqual(["input 'mode': 'fast' is not valid. Use one of gate, comment"]);
  });
});
