/**
 * Weights held by the main graph and read by the branches of an If, as optimum's merged decoders keep them (one
 * decoder for the first step and for steps with a KV cache): every pass compresses them where they are held, once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { floatTensor, node } from '../../src/compress/graph.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { fillPattern, modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { createSession } from '../../src/inference/session.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { encodeModelProto } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { ifNode, subgraph } from '../helpers/graphs.ts';

const D = 64;

const weight = (name: string, seed: number) =>
  floatTensor(
    name,
    [D, D],
    fillPattern(new Float32Array(D * D), seed).map((v) => v / Math.sqrt(D)),
  );

/** y = c ? (x·W1)·W2 : Gemm(x·W1, W3, transB): W1 read by both branches, all three held by the main graph. */
function mergedDecoderLike(): Uint8Array {
  const gemm = node('Gemm', ['e1', 'W3'], ['else_out'], { name: 'else_gemm', attributes: { transB: 1 } });
  const choose = ifNode(
    'use_cache_branch',
    'c',
    'y',
    subgraph(
      'then',
      [
        node('MatMul', ['x', 'W1'], ['t1'], { name: 'then_mm1' }),
        node('MatMul', ['t1', 'W2'], ['then_out'], { name: 'then_mm2' }),
      ],
      'then_out',
      [1, D],
    ),
    subgraph('else', [node('MatMul', ['x', 'W1'], ['e1'], { name: 'else_mm1' }), gemm], 'else_out', [1, D]),
  );
  const model = modelProto(
    'merged',
    [choose],
    [valueInfo('x', DataType.FLOAT, [1, D]), valueInfo('c', DataType.BOOL, [])],
    [valueInfo('y', DataType.FLOAT, [1, D])],
    [weight('W1', 1), weight('W2', 2), weight('W3', 3)],
  );
  return encodeModelProto(model);
}

async function run(model: Uint8Array | string, c: boolean): Promise<Float32Array> {
  const session = await createSession(model);
  try {
    const out = await session.run({
      x: { type: 'float32', dims: [1, D], data: fillPattern(new Float32Array(D), 9) },
      c: { type: 'bool', dims: [], data: new Uint8Array([c ? 1 : 0]) },
    });
    return out.y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const maxDiff = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

describe('compress of weights that If branches read from the main graph', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  const source = join(tmp.path, 'merged.onnx');
  writeFileSync(source, mergedDecoderLike());

  it.each([
    ['int4:block=32', 'MatMulNBits', ['Q4', 'scales'], 0.15],
    // Reduced range: full-range int8 weights saturate onnxruntime's AVX2 kernels (docs/compress.md).
    ['int8:reduce-range', 'MatMulInteger', ['quantized', 'scale', 'zero_point'], 0.05],
    ['fp16', 'MatMul', ['fp16'], 0.002],
  ] as const)(
    '%s compresses each weight once, where the main graph holds it, and both branches still compute about what they did',
    async (recipe, op, suffixes, tolerance) => {
      const outDir = join(tmp.path, recipe.replace(/[:=]/g, '-'));
      const { report } = await compressModel({
        modelPath: source,
        recipe: parseRecipeSpec(recipe),
        outDir,
        fidelity: 'off',
      });
      expect(report.passes[0]!.tensors.map((t) => t.name).sort()).toEqual(['W1', 'W2', 'W3']);
      const variant = readModel(join(outDir, 'model.onnx')).proto;
      const graph = variant.graph!;
      // The float32 weights are gone; what replaced them is held by the main graph, once each.
      expect(graph.initializer.map((t) => t.name)).toEqual(
        ['W1', 'W2', 'W3'].flatMap((w) => suffixes.map((suffix) => `${w}_${suffix}`)),
      );
      const branches = graph.node[graph.node.length - 1]!.attribute.map((a) => a.g!);
      for (const b of branches) {
        expect(b.initializer.filter((t) => t.name.startsWith('W'))).toEqual([]);
        expect(b.node.some((n) => n.opType === op)).toBe(true);
      }
      for (const c of [true, false]) {
        const [before, after] = [await run(source, c), await run(join(outDir, 'model.onnx'), c)];
        expect(maxDiff(before, after)).toBeLessThan(tolerance * Math.max(...before.map(Math.abs)));
      }
    },
  );

  it('int4 quantizes a weight read by a MatMul and by a Gemm with transB = 1 once per layout', async () => {
    const path = join(tmp.path, 'two-layouts.onnx');
    const model = modelProto(
      'layouts',
      [
        node('MatMul', ['x', 'W1'], ['a'], { name: 'mm' }),
        node('Gemm', ['x', 'W1'], ['b'], { name: 'gemm', attributes: { transB: 1 } }),
        node('Add', ['a', 'b'], ['y'], { name: 'sum' }),
      ],
      [valueInfo('x', DataType.FLOAT, [1, D])],
      [valueInfo('y', DataType.FLOAT, [1, D])],
      [weight('W1', 1)],
    );
    writeFileSync(path, encodeModelProto(model));
    const outDir = join(tmp.path, 'two-layouts');
    await compressModel({
      modelPath: path,
      recipe: parseRecipeSpec('int4:block=32'),
      outDir,
      fidelity: 'off',
    });
    const variant = join(outDir, 'model.onnx');
    expect(readModel(variant).proto.graph!.initializer.map((t) => t.name)).toEqual([
      'W1_Q4',
      'W1_scales',
      'W1_Q4_1',
      'W1_scales_1',
    ]);
    const x = fillPattern(new Float32Array(D), 9);
    const outputs = await Promise.all(
      [path, variant].map(async (p) => {
        const session = await createSession(p);
        try {
          return (await session.run({ x: { type: 'float32', dims: [1, D], data: x } })).y!
            .data as Float32Array;
        } finally {
          await session.release();
        }
      }),
    );
    const [before, after] = outputs as [Float32Array, Float32Array];
    expect(maxDiff(before, after)).toBeLessThan(0.15 * Math.max(...before.map(Math.abs)));
  });

  it('fp16 leaves a weight whose name a subgraph declares too, as a Cast to it would assign the name twice', async () => {
    const then = subgraph('then', [node('MatMul', ['x', 'W1'], ['t'])], 't', [1, D]);
    then.initializer.push(weight('W1', 7)); // shadows the main graph's W1
    const path = join(tmp.path, 'shadowed.onnx');
    writeFileSync(
      path,
      encodeModelProto(
        modelProto(
          'shadowed',
          [
            node('MatMul', ['x', 'W1'], ['h']),
            ifNode('choose', 'c', 'y', then, subgraph('else', [node('Relu', ['h'], ['e'])], 'e', [1, D])),
          ],
          [valueInfo('x', DataType.FLOAT, [1, D]), valueInfo('c', DataType.BOOL, [])],
          [valueInfo('y', DataType.FLOAT, [1, D])],
          [weight('W1', 1)],
        ),
      ),
    );
    const logs: string[] = [];
    const attempt = compressModel({
      modelPath: path,
      recipe: parseRecipeSpec('fp16'),
      outDir: join(tmp.path, 'shadowed-fp16'),
      fidelity: 'off',
      log: (m) => logs.push(m),
    });
    await expect(attempt).rejects.toThrowError(/nothing to compress/);
    expect(logs).toContain(
      'fp16: skipped W1: another graph (a subgraph) declares the same name, so a Cast to it would assign it twice',
    );
  });

  it('prunes the weights where the main graph holds them', async () => {
    const outDir = join(tmp.path, 'prune');
    const { report } = await compressModel({
      modelPath: source,
      recipe: parseRecipeSpec('prune:sparsity=0.5'),
      outDir,
      fidelity: 'off',
    });
    expect(report.passes[0]!.tensors.map((t) => [t.name, t.sparsity])).toEqual([
      ['W1', 0.5],
      ['W2', 0.5],
      ['W3', 0.5],
    ]);
    expect(await run(join(outDir, 'model.onnx'), true)).toHaveLength(D);
  });
});
