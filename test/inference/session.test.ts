import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/errors.ts';
import { createSession } from '../../src/inference/session.ts';
import { smokeRun } from '../../src/inference/smoke.ts';
import { resolveDim, synthesizeInputs } from '../../src/inference/synthesize.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('Session over onnxruntime-node', () => {
  it('exposes input and output metadata with symbolic dims', async () => {
    const session = await createSession(fixtureModel('digits-cnn'));
    expect(session.inputs).toEqual([
      { name: 'input', isTensor: true, type: 'float32', shape: ['batch', 1, 8, 8] },
    ]);
    expect(session.outputs.map((o) => o.name)).toEqual(['logits']);
    await session.release();
  });

  it('records per-node timings when profiling is on', async () => {
    const session = await createSession(fixtureModel('digits-cnn'), { profiling: true, intraOpThreads: 1 });
    await session.run(synthesizeInputs(session.inputs));
    const events = session.endProfiling();
    await session.release();
    const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
    expect(nodes.length).toBeGreaterThanOrEqual(4);
    expect(nodes.some((e) => e.args?.op_name === 'Conv')).toBe(true);
  });

  it('returns no events when profiling is off', async () => {
    const session = await createSession(fixtureModel('digits-cnn'));
    expect(session.endProfiling()).toEqual([]);
    await session.release();
  });

  it('runs a KV-cache decoder on synthesized inputs with empty pasts', async () => {
    const result = await smokeRun(fixtureModel('tiny-shakespeare-kv'));
    expect(result.inputs.find((i) => i.name === 'past_key_values.0.key')?.dims).toEqual([1, 4, 0, 48]);
    expect(result.outputs.find((o) => o.name === 'logits')?.dims).toEqual([1, 8, 65]);
    expect(result.outputs.find((o) => o.name === 'present.0.key')?.dims).toEqual([1, 4, 8, 48]);
  });

  it('turns a model onnxruntime cannot load into a ConfigurationError', async () => {
    await expect(createSession(new Uint8Array([8, 1, 18, 0]))).rejects.toThrowError(ConfigurationError);
  });
});

describe('resolving symbolic dims', () => {
  it('adds up expressions and starts past lengths at zero', () => {
    expect(resolveDim('past_seq + seq', { seq: 8 }, 1)).toBe(8);
    expect(resolveDim('past_seq + seq', { seq: 8, past_seq: 3 }, 1)).toBe(11);
    expect(resolveDim('batch', {}, 2)).toBe(2);
    expect(resolveDim(-1, {}, 5)).toBe(5);
  });
});
