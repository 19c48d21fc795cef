import { describe, expect, it } from 'vitest';
import { nodeCosts } from '../../src/bench/node-costs.ts';
import type { ProfileEvent } from '../../src/inference/session.ts';
import { createSession } from '../../src/inference/session.ts';

/** A kernel event as onnxruntime's profiler writes it. */
function kernel(
  name: string,
  op: string,
  dur: number,
  inputs: number[][],
  outputs: number[][],
): ProfileEvent {
  return {
    cat: 'Node',
    name: `${name}_kernel_time`,
    dur,
    ts: 0,
    args: {
      op_name: op,
      input_type_shape: inputs.map((d) => ({ float: d })),
      output_type_shape: outputs.map((d) => ({ float: d })),
      parameter_size: '100',
      activation_size: '20',
      output_size: '30',
    },
  };
}

describe('nodeCosts', () => {
  it('averages kernel time over runs and sums the bytes a node moves', () => {
    const events = [kernel('add', 'Add', 4, [[2, 3]], [[2, 3]]), kernel('add', 'Add', 6, [[2, 3]], [[2, 3]])];
    expect(nodeCosts(events, 2)).toEqual([
      { name: 'add', op: 'Add', us: 5, ops: 0, int8: false, bytes: 150 },
    ]);
  });

  it('gives a matrix product its GEMM shape, batch and sequence folded into the rows', () => {
    const [mm] = nodeCosts(
      [
        kernel(
          'mm',
          'MatMul',
          10,
          [
            [1, 16, 192],
            [192, 768],
          ],
          [[1, 16, 768]],
        ),
      ],
      1,
    );
    expect(mm!.dims).toEqual({ m: 16, k: 192, n: 768 });
    expect(mm!.ops).toBe(2 * 16 * 192 * 768);
    // Attention's batched product: heads are rows too.
    const [qk] = nodeCosts(
      [
        kernel(
          'qk',
          'MatMul',
          10,
          [
            [1, 4, 16, 48],
            [1, 4, 48, 16],
          ],
          [[1, 4, 16, 16]],
        ),
      ],
      1,
    );
    expect(qk!.dims).toEqual({ m: 64, k: 48, n: 16 });
    const [q4] = nodeCosts(
      [
        kernel(
          'q4',
          'MatMulNBits',
          10,
          [
            [1, 1, 192],
            [576, 6, 16],
            [576, 6],
          ],
          [[1, 1, 576]],
        ),
      ],
      1,
    );
    expect(q4!.dims).toEqual({ m: 1, k: 192, n: 576 });
  });

  it('gives a convolution the shape im2col runs: a row per output pixel, a column per output channel', () => {
    const [conv] = nodeCosts(
      [kernel('c', 'Conv', 10, [[1, 3, 8, 8], [16, 3, 3, 3], [16]], [[1, 16, 8, 8]])],
      1,
    );
    expect(conv!.dims).toEqual({ m: 64, k: 27, n: 16 });
    expect(conv!.ops).toBe(2 * 64 * 27 * 16);
  });

  it('leaves nodes without matrix work, or without shapes, without dims', () => {
    const costs = nodeCosts(
      [
        kernel('r', 'Reshape', 1, [[1, 16, 192]], [[16, 192]]),
        { ...kernel('m', 'MatMul', 1, [], []), args: { op_name: 'MatMul' } },
      ],
      1,
    );
    expect(costs.map((c) => [c.ops, c.dims])).toEqual([
      [0, undefined],
      [0, undefined],
    ]);
  });

  it("reads the shapes of a real model's products from onnxruntime's profile", async () => {
    const session = await createSession('test/fixtures/models/digits-cnn/model.onnx', { profiling: true });
    try {
      const input = session.inputs[0]!;
      const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
      const size = dims.reduce((a, b) => a * b, 1);
      await session.run({ [input.name]: { type: 'float32', dims, data: new Float32Array(size).fill(0.5) } });
      const matrix = nodeCosts(session.endProfiling(), 1).filter((c) => c.dims);
      // digits-cnn at batch 1: Conv 1→16 and 16→32 (3×3, 8×8 pixels), then Linear 512→64 and 64→10.
      const shapes = matrix.map((c) => [c.dims!.m, c.dims!.k, c.dims!.n]).sort((a, b) => b[1]! - a[1]!);
      expect(shapes).toEqual([
        [1, 512, 64],
        [64, 144, 32],
        [1, 64, 10],
        [64, 9, 16],
      ]);
    } finally {
      await session.release();
    }
  });
});
