import { describe, expect, it } from 'vitest';
import { tableRows } from '../../src/compress/fidelity.ts';
import { floatData } from '../../src/inference/float-data.ts';
import { synthesizeInputs } from '../../src/inference/synthesize.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('synthesizeInputs', () => {
  it('fills float16 inputs with values spread over [-1, 1], as float32 ones, and float16 masks with ones', () => {
    const feeds = synthesizeInputs([
      { name: 'x', isTensor: true, type: 'float16', shape: ['batch', 256] },
      { name: 'attention_mask', isTensor: true, type: 'float16', shape: [1, 4] },
    ]);
    const x = floatData(feeds.x!);
    expect(feeds.x!.dims).toEqual([1, 256]);
    expect(Math.min(...x)).toBeLessThan(-0.5);
    expect(Math.max(...x)).toBeGreaterThan(0.5);
    expect(Math.max(...x.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(Array.from(floatData(feeds.attention_mask!))).toEqual([1, 1, 1, 1]);
  });

  it('binds symbolic dims by name and sums expressions such as past + seq', () => {
    const feeds = synthesizeInputs(
      [{ name: 'kv', isTensor: true, type: 'float32', shape: ['b', 'past + seq', 2] }],
      {
        dims: { b: 2, past: 3, seq: 4 },
      },
    );
    expect(feeds.kv!.dims).toEqual([2, 7, 2]);
  });
});

describe('synthesized token ids', () => {
  it('cover the rows of the table they index, per input', () => {
    const feeds = synthesizeInputs(
      [
        { name: 'input_ids', isTensor: true, type: 'int64', shape: [1, 512] },
        { name: 'other', isTensor: true, type: 'int64', shape: [1, 512] },
      ],
      { intHighOf: { input_ids: 65 } },
    );
    const ids = Array.from(feeds.input_ids!.data as BigInt64Array, Number);
    expect(Math.max(...ids)).toBe(64);
    expect(Math.min(...ids)).toBe(0);
    expect(Math.max(...Array.from(feeds.other!.data as BigInt64Array, Number))).toBe(1);
  });

  it("are bounded by the embedding table a model's input_ids index", () => {
    expect(tableRows(fixtureModel('tiny-shakespeare-lm'))).toEqual({ input_ids: 65 });
    expect(tableRows(fixtureModel('digits-cnn'))).toEqual({});
  });
});
