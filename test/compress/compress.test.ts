import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { floatTensor, node, tensor } from '../../src/compress/graph.ts';
import { transposeValues } from '../../src/compress/hoist-constants.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { validateDocument } from '../../src/config/load.ts';
import { modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { encodeModelProto } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { sha256File } from '../../src/util/hash.ts';
import { fixtureModel, sameBytes, tempDir } from '../helpers/fixtures.ts';
import { ifNode, subgraph } from '../helpers/graphs.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

describe('compressModel', () => {
  it('gives a byte-identical model for the same input and recipe', async () => {
    const run = async (dir: string) =>
      compressModel({
        modelPath: fixtureModel('tiny-shakespeare-kv'),
        recipe: parseRecipeSpec('prune:0.3+int8'),
        outDir: join(tmp.path, dir),
        fidelity: 'off',
      });
    const [a, b] = [await run('same-a'), await run('same-b')];
    expect(readFileSync(a.modelPath).equals(readFileSync(b.modelPath))).toBe(true);
    expect(a.report.output.sha256).toBe(b.report.output.sha256);
  });

  it('writes a report that validates against slmops.compress/v1 and names input and output digests', async () => {
    const model = fixtureModel('digits-cnn');
    const { report, reportPath } = await compressModel({
      modelPath: model,
      recipe: parseRecipeSpec('int8'),
      outDir: join(tmp.path, 'report'),
      fidelity: 'off',
    });
    const written = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(() => validateDocument('compress', written, reportPath)).not.toThrow();
    expect(report.variantId).toBe('digits-cnn@int8:per-tensor,sym');
    expect(report.input.sha256).toBe(await sha256File(model));
    expect(report.fidelity).toEqual({
      status: 'skipped',
      reason: 'fidelity check turned off (--fidelity off)',
    });
    expect(report.passes[0]!.tensors.every((t) => typeof t.sqnrDb === 'number' && t.sqnrDb > 20)).toBe(true);
  });

  it('runs the fidelity check on synthesized inputs when no eval data is given', async () => {
    const { report } = await compressModel({
      modelPath: fixtureModel('newer-exporter'),
      recipe: parseRecipeSpec('int4:block=16'),
      outDir: join(tmp.path, 'synth'),
      fidelity: 'on',
      fidelityInProcess: true,
    });
    expect(report.fidelity.status).toBe('ran');
    expect(report.fidelity.samples).toBe(8);
    expect(report.fidelity.metric).toBeUndefined();
    expect(report.fidelity.cosine).toBeGreaterThan(0.99);
  });

  it('exits as an input error with "nothing to compress" when the recipe touches nothing, and writes nothing', async () => {
    const outDir = join(tmp.path, 'noop');
    const attempt = compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int4:include-ops=Conv'),
      outDir,
      fidelity: 'off',
    });
    await expect(attempt).rejects.toThrowError(ConfigurationError);
    await expect(attempt).rejects.toThrowError(/nothing to compress.*--allow-noop/);
    expect(existsSync(join(outDir, 'model.onnx'))).toBe(false);
  });

  it('writes the model unchanged with allowNoop', async () => {
    const { report } = await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int4:include-ops=Conv'),
      outDir: join(tmp.path, 'noop-allowed'),
      fidelity: 'off',
      allowNoop: true,
    });
    expect(report.passes[0]!.tensors).toEqual([]);
  });

  it('records a failed fidelity check in the report instead of failing the compression', async () => {
    const outDir = join(tmp.path, 'fidelity-fails');
    const { report } = await compressModel({
      modelPath: fixtureModel('digits-cnn'),
      recipe: parseRecipeSpec('int8'),
      outDir,
      fidelity: 'on',
      evalData: fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'),
      fidelityInProcess: true,
    });
    expect(report.fidelity.status).toBe('failed');
    expect(report.fidelity.reason).toMatch(/input_ids|cannot be derived|input/);
    expect(readdirSync(outDir).sort()).toEqual(['compress-report.json', 'model.onnx']);
  });

  it.each(['int4:block=32', 'int8'])(
    '%s: worker threads and this thread give the same files, streamed into the data file, with the digests reported',
    async (recipe) => {
      const run = (dir: string, workers: number) =>
        compressModel({
          modelPath: fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
          recipe: parseRecipeSpec(recipe),
          outDir: join(tmp.path, dir),
          fidelity: 'off',
          workers,
          parallelMinElements: 0,
        });
      const slug = recipe.replace(/\W/g, '_');
      const here = await run(`${slug}-here`, 0);
      const threads = await run(`${slug}-threads`, 2);
      const data = (r: typeof here) => join(dirname(r.modelPath), r.report.output.externalData![0]!.path);
      expect(readFileSync(threads.modelPath).equals(readFileSync(here.modelPath))).toBe(true);
      expect(readFileSync(data(threads)).equals(readFileSync(data(here)))).toBe(true);
      expect(threads.report.passes[0]!.tensors).toEqual(here.report.passes[0]!.tensors);
      expect(here.report.output.sha256).toBe(await sha256File(here.modelPath));
      expect(here.report.output.externalData![0]!.sha256).toBe(await sha256File(data(here)));
      expect(readdirSync(dirname(here.modelPath)).sort()).toEqual([
        'compress-report.json',
        'model.onnx',
        'model.onnx.data',
      ]);
    },
  );

  it.each(['int4:block=32', 'int8:per-channel'])(
    '%s: the same tensors from an inline model on worker threads as from its external-data copy in this thread',
    async (recipe) => {
      const slug = recipe.replace(/\W/g, '_');
      const inline = await compressModel({
        modelPath: fixtureModel('tiny-shakespeare-lm'),
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `${slug}-inline`),
        fidelity: 'off',
        workers: 2,
        parallelMinElements: 0,
      });
      const external = await compressModel({
        modelPath: fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `${slug}-external`),
        fidelity: 'off',
        workers: 0,
      });
      const a = readModel(inline.modelPath);
      const b = readModel(external.modelPath);
      const bByName = new Map(b.proto.graph!.initializer.map((t) => [t.name, t]));
      expect(a.proto.graph!.initializer.map((t) => t.name).sort()).toEqual([...bByName.keys()].sort());
      for (const t of a.proto.graph!.initializer) {
        expect(sameBytes(a.tensorBytes(t), b.tensorBytes(bByName.get(t.name)!)), t.name).toBe(true);
      }
    },
  );
});

/** Writes `proto` as `<tmp>/<name>/model.onnx` and returns the path. */
function writeModel(name: string, proto: ReturnType<typeof modelProto>): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'model.onnx');
  writeFileSync(path, encodeModelProto(proto));
  return path;
}

/** A one-MatMul model ([1, 64]·[64, 64]) at `opset`, its weight scaled by `scale`, written to `<tmp>/<name>/model.onnx`. */
function matmulModel(name: string, opset = 17, scale = 0.1): string {
  const w = Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i) * scale);
  const proto = modelProto(
    'mm',
    [node('MatMul', ['x', 'w'], ['y'])],
    [valueInfo('x', DataType.FLOAT, [1, 64])],
    [valueInfo('y', DataType.FLOAT, [1, 64])],
    [floatTensor('w', [64, 64], w)],
  );
  proto.opsetImport = [{ domain: '', version: opset }];
  return writeModel(name, proto);
}

describe('compressModel on inputs it must refuse', () => {
  const compress = (modelPath: string, recipe: string, outDir: string) =>
    compressModel({ modelPath, recipe: parseRecipeSpec(recipe), outDir, fidelity: 'off' });

  it('refuses an output folder that holds the input model, and leaves the input as it was', async () => {
    const model = matmulModel('in-place');
    const before = readFileSync(model);
    await expect(compress(model, 'int8', dirname(model))).rejects.toThrowError(
      /holds the input's model\.onnx, which compress would replace\. Write the variant to another folder/,
    );
    expect(readFileSync(model).equals(before)).toBe(true);
    expect(readdirSync(dirname(model))).toEqual(['model.onnx']);
  });

  it('refuses int8 below opset 11 before writing anything, and removes the folders it made', async () => {
    const model = matmulModel('opset9', 9);
    const out = join(tmp.path, 'opset9-out', 'a', 'b');
    await expect(compress(model, 'int8', out)).rejects.toThrowError(
      /needs opset 11 or later, and this model imports opset 9/,
    );
    expect(existsSync(join(tmp.path, 'opset9-out'))).toBe(false);
  });

  it("keeps a weight beyond float16's range in float32 rather than writing infinities", async () => {
    const model = matmulModel('huge', 17, 1e5);
    await expect(compress(model, 'fp16', join(tmp.path, 'huge-out'))).rejects.toThrowError(
      /w: holds values up to 1\.00e\+5, beyond float16's 65504: kept float32/,
    );
  });

  it('names a chain whose later pass finds nothing left to change', async () => {
    const model = matmulModel('chain');
    await expect(compress(model, 'fp16+int4', join(tmp.path, 'chain-out'))).rejects.toThrowError(
      /pass 2 of .* \(int4\) finds no weight to change after fp16\. Order the chain/,
    );
  });

  it('says when a file stands where the output folder should be', async () => {
    const model = matmulModel('blocked');
    const file = join(tmp.path, 'a-file');
    writeFileSync(file, '');
    await expect(compress(model, 'int8', file)).rejects.toThrowError(ConfigurationError);
    await expect(compress(model, 'int8', join(file, 'sub'))).rejects.toThrowError(
      /cannot create the output folder \(ENOTDIR\)\. A file stands where/,
    );
  });
});

/** A [64, 64] float weight of `f` over its element indices, times `scale`. */
function wave(name: string, f: (i: number) => number, scale = 0.1) {
  return floatTensor(
    name,
    [64, 64],
    Float32Array.from({ length: 64 * 64 }, (_, i) => f(i) * scale),
  );
}

describe('compressModel int8 on tied embeddings', () => {
  it('leaves a table that a Transpose also reads in float32, int8 and int4 alike, and says why', async () => {
    const table = Float32Array.from({ length: 100 * 64 }, (_, i) => Math.sin(i) * 0.1);
    const proto = modelProto(
      'tied',
      [
        node('Gather', ['emb', 'ids'], ['h0']),
        node('MatMul', ['h0', 'w'], ['h1']),
        node('Transpose', ['emb'], ['emb_t'], { attributes: { perm: [1, 0] } }),
        node('MatMul', ['h1', 'emb_t'], ['logits']),
      ],
      [valueInfo('ids', DataType.INT64, [1, 8])],
      [valueInfo('logits', DataType.FLOAT, [1, 8, 100])],
      [floatTensor('emb', [100, 64], table), wave('w', Math.cos)],
    );
    const path = writeModel('tied', proto);
    for (const recipe of ['int8', 'int4:block=32']) {
      const logs: string[] = [];
      const { report } = await compressModel({
        modelPath: path,
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `tied-out-${recipe.slice(0, 4)}`),
        fidelity: 'off',
        log: (m) => logs.push(m),
      });
      expect(report.passes[0]!.tensors.map((t) => t.name)).toEqual(['w']);
      expect(report.output.bytes).toBeLessThan(report.input.bytes);
      expect(logs.find((l) => l.includes('skipped emb'))).toMatch(/Transpose.*float32/);
    }
  });
});

describe('compressModel int4 on tied embeddings and weights it cannot take', () => {
  it('leaves a table that a Gather also reads in float32 (a Gemm head with transB), so the variant is not larger', async () => {
    const table = Float32Array.from({ length: 128 * 64 }, (_, i) => Math.sin(i) * 0.1);
    const proto = modelProto(
      'tied-gemm',
      [
        node('Gather', ['emb', 'ids'], ['h0']),
        node('Reshape', ['h0', 'shape'], ['h1']),
        node('MatMul', ['h1', 'w'], ['h2']),
        node('Gemm', ['h2', 'emb'], ['logits'], { attributes: { transB: 1 } }),
      ],
      [valueInfo('ids', DataType.INT64, [8])],
      [valueInfo('logits', DataType.FLOAT, [8, 128])],
      [
        floatTensor('emb', [128, 64], table),
        wave('w', Math.cos),
        tensor('shape', DataType.INT64, [2], new Uint8Array(BigInt64Array.of(8n, 64n).buffer)),
      ],
    );
    const logs: string[] = [];
    const { report } = await compressModel({
      modelPath: writeModel('tied-gemm', proto),
      recipe: parseRecipeSpec('int4:block=32'),
      outDir: join(tmp.path, 'tied-gemm-out'),
      fidelity: 'off',
      log: (m) => logs.push(m),
    });
    expect(report.passes[0]!.tensors.map((t) => t.name)).toEqual(['w']);
    expect(logs).toContain(
      'int4: skipped emb: also read by Gather, which keeps it float32 (an int4 copy would add to the file)',
    );
    expect(report.output.bytes).toBeLessThan(report.input.bytes);
  });

  it('says why it leaves a weight that comes first in its MatMul (W·x), or a bfloat16 one', async () => {
    const w = wave('w', Math.sin, 1);
    const bf16 = tensor('b', DataType.BFLOAT16, [64, 64], new Uint8Array(64 * 64 * 2));
    const proto = modelProto(
      'w-first',
      [node('MatMul', ['w', 'x'], ['h']), node('MatMul', ['h', 'b'], ['y'])],
      [valueInfo('x', DataType.FLOAT, [64, 4])],
      [valueInfo('y', DataType.BFLOAT16, [64, 64])],
      [w, bf16],
    );
    for (const recipe of ['int4:block=32', 'int8']) {
      const attempt = compressModel({
        modelPath: writeModel(`w-first-${recipe.slice(0, 4)}`, proto),
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `w-first-${recipe.slice(0, 4)}-out`),
        fidelity: 'off',
      });
      await expect(attempt).rejects.toThrowError(
        /nothing to compress.*skipped 2, first w: the weight is the first input of its MatMul \(W·x\)/,
      );
    }
  });
});

describe('transposeValues', () => {
  it('moves the axes as ONNX Transpose does, for any rank and perm', () => {
    expect(Array.from(transposeValues(Float32Array.of(0, 1, 2, 3, 4, 5), [2, 3], [1, 0]))).toEqual([
      0, 3, 1, 4, 2, 5,
    ]);
    // [2, 1, 3] → perm [2, 0, 1] → [3, 2, 1]: out[c][a][b] = in[a][b][c].
    expect(Array.from(transposeValues(Float32Array.of(0, 1, 2, 3, 4, 5), [2, 1, 3], [2, 0, 1]))).toEqual([
      0, 3, 1, 4, 2, 5,
    ]);
  });
});

describe('compressModel on weights behind an Identity or a Transpose', () => {
  it('folds a Transpose of a weight nothing else reads, and leaves one of a tied table alone', async () => {
    // A [64, 64] weight read through a Transpose, and a [32, 64] table read by a Gather and, transposed, by the head.
    const w = Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i * 0.7) * 0.1);
    const table = Float32Array.from({ length: 32 * 64 }, (_, i) => Math.cos(i) * 0.1);
    const proto = modelProto(
      'transposed-weight',
      [
        node('Gather', ['emb', 'ids'], ['h0']),
        node('Transpose', ['w'], ['w_t'], { attributes: { perm: [1, 0] } }),
        node('MatMul', ['h0', 'w_t'], ['h1']),
        node('Transpose', ['emb'], ['emb_t'], { attributes: { perm: [1, 0] } }),
        node('MatMul', ['h1', 'emb_t'], ['logits']),
      ],
      [valueInfo('ids', DataType.INT64, [1, 8])],
      [valueInfo('logits', DataType.FLOAT, [1, 8, 32])],
      [floatTensor('w', [64, 64], w), floatTensor('emb', [32, 64], table)],
    );
    const logs: string[] = [];
    const { report } = await compressModel({
      modelPath: writeModel('transposed-weight', proto),
      recipe: parseRecipeSpec('int8:reduce-range'),
      outDir: join(tmp.path, 'transposed-weight-out'),
      fidelity: 'on',
      fidelityInProcess: true,
      log: (m) => logs.push(m),
    });
    expect(report.passes[0]!.tensors.map((t) => t.name)).toEqual(['w_t']);
    expect(logs).toContain(
      '1 Transpose nodes of weights folded into the weights (as onnxruntime does at load)',
    );
    expect(report.fidelity.cosine).toBeGreaterThan(0.99);
  });

  it('reads the weight itself, as onnxruntime does at load, and quantizes it', async () => {
    const w = wave('w', Math.sin);
    const proto = modelProto(
      'identity-weight',
      [
        node('Identity', ['w'], ['w_shared']),
        node('Identity', ['w_shared'], ['w_again']),
        node('MatMul', ['x', 'w_again'], ['y']),
      ],
      [valueInfo('x', DataType.FLOAT, [1, 64])],
      [valueInfo('y', DataType.FLOAT, [1, 64])],
      [w],
    );
    const logs: string[] = [];
    const { report } = await compressModel({
      modelPath: writeModel('identity-weight', proto),
      recipe: parseRecipeSpec('int8:reduce-range'),
      outDir: join(tmp.path, 'identity-weight-out'),
      fidelity: 'on',
      fidelityInProcess: true,
      log: (m) => logs.push(m),
    });
    expect(report.passes[0]!.tensors.map((t) => t.name)).toEqual(['w']);
    expect(logs).toContain('2 Identity nodes of weights bypassed (as onnxruntime does at load)');
    expect(report.fidelity.cosine).toBeGreaterThan(0.99);
  });

  it('leaves an Identity whose name a subgraph below declares, and a weight the model also outputs, and says why', async () => {
    const w = wave('w', Math.sin);
    const v = wave('v', Math.cos);
    // The If's then-branch declares its own `w_shared`: bypassing the outer Identity would rename its reads.
    const then = subgraph(
      'then',
      [node('Neg', ['x'], ['w_shared']), node('Add', ['w_shared', 'x'], ['t'])],
      't',
      [1, 64],
    );
    const orElse = subgraph('else', [node('Relu', ['x'], ['e'])], 'e', [1, 64]);
    const proto = modelProto(
      'identity-shadowed',
      [
        node('Identity', ['w'], ['w_shared']),
        node('MatMul', ['x', 'w_shared'], ['h']),
        ifNode('choose', 'c', 'b', then, orElse),
        node('MatMul', ['h', 'v'], ['y']),
      ],
      [valueInfo('x', DataType.FLOAT, [1, 64]), valueInfo('c', DataType.BOOL, [])],
      [
        valueInfo('y', DataType.FLOAT, [1, 64]),
        valueInfo('b', DataType.FLOAT, [1, 64]),
        valueInfo('v', DataType.FLOAT, [64, 64]),
      ],
      [w, v],
    );
    const logs: string[] = [];
    const attempt = compressModel({
      modelPath: writeModel('identity-shadowed', proto),
      recipe: parseRecipeSpec('int8:reduce-range'),
      outDir: join(tmp.path, 'identity-shadowed-out'),
      fidelity: 'off',
      log: (m) => logs.push(m),
    });
    await expect(attempt).rejects.toThrowError(/nothing to compress/);
    expect(logs.some((l) => l.includes('Identity nodes of weights bypassed'))).toBe(false);
    expect(logs).toContain(
      'int8: skipped v: also a graph output, which keeps it float32 (an int8 copy would add to the file)',
    );
  });
});

describe('compressModel on weights held in Constant nodes', () => {
  it('finds them as initializers and quantizes them, and the variant still runs', async () => {
    const w = wave('', Math.sin);
    const proto = modelProto(
      'constant-weight',
      [node('Constant', [], ['w'], { attributes: { value: w } }), node('MatMul', ['x', 'w'], ['y'])],
      [valueInfo('x', DataType.FLOAT, [1, 64])],
      [valueInfo('y', DataType.FLOAT, [1, 64])],
      [],
    );
    const { report } = await compressModel({
      modelPath: writeModel('constant', proto),
      recipe: parseRecipeSpec('int8'),
      outDir: join(tmp.path, 'constant-out'),
      fidelity: 'on',
      fidelityInProcess: true,
    });
    expect(report.passes[0]!.tensors.map((t) => t.name)).toEqual(['w']);
    expect(report.fidelity.status).toBe('ran');
    expect(report.fidelity.cosine).toBeGreaterThan(0.95);
  });
});
