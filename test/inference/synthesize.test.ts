import { describe, expect, it } from 'vitest';
import { floatData } from '../../src/inference/float-data.ts';
import { synthesizeInputs } from '../../src/inference/synthesize.ts';

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
