import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { floatTensor, node } from '../../src/compress/graph.ts';
import { inlineLocalFunctions } from '../../src/compress/inline-functions.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { fillPattern, modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { createSession } from '../../src/inference/session.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import {
  AttributeType,
  decodeModelProto,
  encodeModelProto,
  type FunctionProto,
  type ModelProto,
  type NodeProto,
} from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';
import { ifNode, subgraph } from '../helpers/graphs.ts';

const D = 32;

function weight(name: string, seed: number, dims = [D, D]) {
  const values = fillPattern(new Float32Array(dims[0]! * dims[1]!), seed).map((v) => v / Math.sqrt(D));
  return floatTensor(name, dims, values);
}

function localFunction(
  name: string,
  input: string[],
  output: string[],
  body: NodeProto[],
  extra: Partial<FunctionProto> = {},
): FunctionProto {
  return {
    name,
    domain: 'local',
    input,
    output,
    attribute: [],
    attributeProto: [],
    node: body,
    opsetImport: [{ domain: '', version: 17 }],
    valueInfo: [],
    ...extra,
  };
}

/** A model of `nodes` on input x [1, D] → y [1, D], calling the given local functions (domain `local`). */
function withFunctions(
  nodes: NodeProto[],
  functions: FunctionProto[],
  initializers = [weight('W1', 1), weight('W2', 2)],
): ModelProto {
  const model = modelProto(
    'functions',
    nodes,
    [valueInfo('x', DataType.FLOAT, [1, D])],
    [valueInfo('y', DataType.FLOAT, [1, D])],
    initializers,
  );
  model.irVersion = 9;
  model.opsetImport.push({ domain: 'local', version: 1 });
  model.functions = functions;
  return model;
}

const call = (fn: string, inputs: string[], outputs: string[], name: string) =>
  node(fn, inputs, outputs, { domain: 'local', name });

/** A copy through the wire format, as a file would give it. */
const copy = (model: ModelProto): ModelProto => decodeModelProto(encodeModelProto(model));

/** The model's output y on a fixed x (and bool inputs `extra`); a path lets onnxruntime find external data. */
async function run(model: ModelProto | string, extra: Record<string, boolean> = {}): Promise<Float32Array> {
  const session = await createSession(typeof model === 'string' ? model : encodeModelProto(model));
  try {
    const feeds: Parameters<typeof session.run>[0] = {
      x: { type: 'float32', dims: [1, D], data: fillPattern(new Float32Array(D), 9) },
    };
    for (const [name, value] of Object.entries(extra))
      feeds[name] = { type: 'bool', dims: [], data: new Uint8Array([value ? 1 : 0]) };
    const out = await session.run(feeds);
    return out.y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** A node without a `domain` field, as onnx.helper.make_node writes them (the default domain, left out). */
function bare(n: NodeProto): NodeProto {
  const { domain: _domain, ...rest } = n;
  return rest as NodeProto;
}

const linear = localFunction(
  'Linear',
  ['X', 'W'],
  ['Y'],
  [
    bare(node('MatMul', ['X', 'W'], ['T'], { name: 'mm' })),
    bare(node('Relu', ['T'], ['Y'], { name: 'act' })),
  ],
);

/** A Constant node holding `t` (a weight in a function body). */
const constant = (output: string, t: ReturnType<typeof weight>): NodeProto => ({
  ...node('Constant', [], [output], { name: `${output}_const` }),
  attribute: [{ name: 'value', type: AttributeType.Tensor, t } as NodeProto['attribute'][number]],
});

/** Proj(X) = X · Wc, its weight held by a Constant of its body. */
const proj = localFunction(
  'Proj',
  ['X'],
  ['Y'],
  [constant('Wc', weight('unused', 3)), node('MatMul', ['X', 'Wc'], ['Y'], { name: 'mm' })],
);

const ops = (model: ModelProto) => model.graph!.node.map((n) => n.opType);

describe('inlineLocalFunctions', () => {
  it('replaces each call of a function holding a product by its nodes, bound to the weights the call passes', async () => {
    const model = withFunctions(
      [call('Linear', ['x', 'W1'], ['h'], 'l1'), call('Linear', ['h', 'W2'], ['y'], 'l2')],
      [linear],
    );
    const before = await run(model);
    const inlined = copy(model);
    expect(inlineLocalFunctions(inlined)).toEqual({ calls: 2, functions: 1, skipped: [] });
    expect(inlined.functions).toEqual([]);
    expect(ops(inlined)).toEqual(['MatMul', 'Relu', 'MatMul', 'Relu']);
    const [mm1, relu1, mm2, relu2] = inlined.graph!.node;
    expect(mm1!.input).toEqual(['x', 'W1']);
    expect(mm2!.input).toEqual([relu1!.output[0], 'W2']);
    expect(relu2!.output).toEqual(['y']);
    // Each call's own values are renamed apart.
    expect(mm1!.output[0]).not.toBe(mm2!.output[0]);
    expect(await run(inlined)).toEqual(before);
  });

  it("resolves attribute references from the call, else from the function's default", async () => {
    const gemm = node('Gemm', ['X', 'W'], ['Y'], { name: 'gemm' });
    gemm.attribute = [
      { name: 'alpha', refAttrName: 'scale', type: AttributeType.Float } as NodeProto['attribute'][number],
      { name: 'transB', refAttrName: 'transpose', type: AttributeType.Int } as NodeProto['attribute'][number],
    ];
    const scaled = localFunction('Scaled', ['X', 'W'], ['Y'], [gemm], {
      attribute: ['scale'],
      attributeProto: [
        { name: 'transpose', type: AttributeType.Int, i: 1 } as NodeProto['attribute'][number],
      ],
    });
    const site = call('Scaled', ['x', 'W1'], ['y'], 'scaled');
    site.attribute = [{ name: 'scale', type: AttributeType.Float, f: 0.5 } as NodeProto['attribute'][number]];
    const model = withFunctions([site], [scaled]);
    const before = await run(model);
    const inlined = copy(model);
    inlineLocalFunctions(inlined);
    const attributes = inlined.graph!.node[0]!.attribute;
    expect(attributes.map((a) => [a.name, a.refAttrName || undefined])).toEqual([
      ['alpha', undefined],
      ['transB', undefined],
    ]);
    expect(attributes[0]!.f).toBe(0.5);
    expect(Number(attributes[1]!.i)).toBe(1);
    expect(await run(inlined)).toEqual(before);
  });

  it('makes a Constant weight of a function called twice one initializer of the main graph', async () => {
    const model = withFunctions(
      [call('Proj', ['x'], ['h'], 'p1'), call('Proj', ['h'], ['y'], 'p2')],
      [proj],
      [],
    );
    const before = await run(model);
    const inlined = copy(model);
    inlineLocalFunctions(inlined);
    expect(ops(inlined)).toEqual(['MatMul', 'MatMul']);
    expect(inlined.graph!.initializer).toHaveLength(1);
    const [held] = inlined.graph!.initializer;
    expect(inlined.graph!.node.map((n) => n.input[1])).toEqual([held!.name, held!.name]);
    expect(await run(inlined)).toEqual(before);
  });

  it('keeps one initializer for a weight of a function called from the main graph and from both branches of an If', async () => {
    const branch = (name: string) =>
      subgraph(name, [call('Proj', ['h'], [`${name}_out`], `${name}_call`)], `${name}_out`, [1, D]);
    const choose = ifNode('choose', 'c', 'y', branch('then'), branch('else'));
    const model = withFunctions([call('Proj', ['x'], ['h'], 'p0'), choose], [proj], []);
    model.graph!.input.push(valueInfo('c', DataType.BOOL, []));
    const inlined = copy(model);
    expect(inlineLocalFunctions(inlined).calls).toBe(3);
    expect(inlined.graph!.initializer).toHaveLength(1);
    for (const c of [true, false]) expect(await run(inlined, { c })).toEqual(await run(model, { c }));
  });

  it('inlines the functions a function calls, and renames the values of its subgraphs apart', async () => {
    const branch = (name: string, op: string) =>
      subgraph(name, [node(op, ['T'], [`${name}_out`], { name: `${name}_op` })], `${name}_out`, [1, D]);
    const choose = ifNode('choose', 'C', 'Y', branch('then', 'Relu'), branch('else', 'Neg'));
    const outer = localFunction(
      'Outer',
      ['X', 'W', 'C'],
      ['Y'],
      [call('Linear', ['X', 'W'], ['T'], 'inner'), choose],
      {
        opsetImport: [
          { domain: '', version: 17 },
          { domain: 'local', version: 1 },
        ],
      },
    );
    const model = withFunctions(
      [call('Outer', ['x', 'W1', 'c'], ['h'], 'o1'), call('Outer', ['h', 'W2', 'c'], ['y'], 'o2')],
      [outer, linear],
    );
    model.graph!.input.push(valueInfo('c', DataType.BOOL, []));
    const inlined = copy(model);
    expect(inlineLocalFunctions(inlined)).toMatchObject({ calls: 4, functions: 2 });
    expect(inlined.functions).toEqual([]);
    expect(ops(inlined)).toEqual(['MatMul', 'Relu', 'If', 'MatMul', 'Relu', 'If']);
    const branchOutputs = inlined
      .graph!.node.filter((n) => n.opType === 'If')
      .flatMap((n) => n.attribute.map((a) => a.g!.output[0]!.name));
    expect(new Set(branchOutputs).size).toBe(4);
    for (const c of [true, false]) expect(await run(inlined, { c })).toEqual(await run(model, { c }));
  });

  it('resolves attribute references inside the subgraphs of a body, and holds their weights once for every call', async () => {
    const elu = node('Elu', ['T'], ['then_out'], { name: 'elu' });
    elu.attribute = [
      { name: 'alpha', refAttrName: 'a', type: AttributeType.Float } as NodeProto['attribute'][number],
    ];
    const then = subgraph(
      'then',
      [constant('Wb', weight('unused', 4)), node('MatMul', ['X', 'Wb'], ['T'], { name: 'mm' }), elu],
      'then_out',
      [1, D],
    );
    const orElse = subgraph('else', [node('Neg', ['X'], ['else_out'])], 'else_out', [1, D]);
    const choose = ifNode('choose', 'C', 'Y', then, orElse);
    const branchy = localFunction('Branchy', ['X', 'C'], ['Y'], [choose], { attribute: ['a'] });
    const site = (input: string, output: string, name: string) => {
      const n = call('Branchy', [input, 'c'], [output], name);
      n.attribute = [{ name: 'a', type: AttributeType.Float, f: 3 } as NodeProto['attribute'][number]];
      return n;
    };
    const model = withFunctions([site('x', 'h', 'b1'), site('h', 'y', 'b2')], [branchy], []);
    model.graph!.input.push(valueInfo('c', DataType.BOOL, []));
    const inlined = copy(model);
    inlineLocalFunctions(inlined);
    const elus = inlined.graph!.node.map((n) => n.attribute[0]!.g!.node.find((x) => x.opType === 'Elu')!);
    expect(elus.map((e) => [e.attribute[0]!.f, e.attribute[0]!.refAttrName || undefined])).toEqual([
      [3, undefined],
      [3, undefined],
    ]);
    expect(inlined.graph!.initializer).toHaveLength(1);
    for (const c of [true, false]) expect(await run(inlined, { c })).toEqual(await run(model, { c }));
  });

  it("leaves a function whose body imports another opset version than the model's, and says why", () => {
    const older = { ...linear, opsetImport: [{ domain: '', version: 13 }] };
    const model = withFunctions([call('Linear', ['x', 'W1'], ['y'], 'l1')], [older]);
    const outcome = inlineLocalFunctions(model);
    expect(outcome.calls).toBe(0);
    expect(outcome.skipped).toEqual(['local.Linear: its body uses ai.onnx opset 13, the model 17']);
    expect(model.functions).toHaveLength(1);
  });

  it('leaves a function without products or lookups as it is (a normalization block)', () => {
    const model = readModel(fixtureModel('newer-exporter')).proto;
    expect(inlineLocalFunctions(model)).toEqual({ calls: 0, functions: 0, skipped: [] });
    expect(model.functions.map((f) => f.name)).toEqual(['RMSNormBlock']);
  });
});

describe('compress of a model whose products live in a function', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  /** `weight(name, seed)` with its values moved to `file` (at `offset`), as onnx saves external data. */
  function external(name: string, seed: number, file: string, offset: number) {
    const t = weight(name, seed);
    const bytes = t.rawData;
    writeFileSync(join(tmp.path, file), bytes, { flag: offset === 0 ? 'w' : 'a' });
    return {
      ...t,
      rawData: new Uint8Array(0),
      dataLocation: 1,
      externalData: [
        { key: 'location', value: file },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes.length) },
      ],
    };
  }

  it('compresses weights held by Constant nodes with external data, in the main graph and in a function body', async () => {
    const main = external('Wm', 6, 'weights.bin', 0);
    const proj = localFunction(
      'Proj',
      ['X'],
      ['Y'],
      [constant('Wf', external('Wf', 5, 'weights.bin', D * D * 4)), node('MatMul', ['X', 'Wf'], ['Y'])],
    );
    const model = withFunctions(
      [
        constant('Wm', main),
        node('MatMul', ['x', 'Wm'], ['h'], { name: 'main_mm' }),
        call('Proj', ['h'], ['y'], 'p1'),
      ],
      [proj],
      [],
    );
    const path = join(tmp.path, 'external-constants.onnx');
    writeFileSync(path, encodeModelProto(model));
    const { report } = await compressModel({
      modelPath: path,
      recipe: parseRecipeSpec('int4:block=32'),
      outDir: join(tmp.path, 'external-int4'),
      fidelity: 'off',
    });
    expect(report.passes[0]!.tensors).toHaveLength(2);
    const variantPath = join(tmp.path, 'external-int4', 'model.onnx');
    expect(ops(readModel(variantPath).proto)).toEqual(['MatMulNBits', 'MatMulNBits']);
    const [before, after] = [await run(path), await run(variantPath)];
    const scale = Math.max(...before.map(Math.abs));
    expect(Math.max(...before.map((v, i) => Math.abs(v - after[i]!)))).toBeLessThan(0.15 * scale);
  });

  it('quantizes the weights the calls pass in, and the variant computes about what the model did', async () => {
    const model = withFunctions(
      [call('Linear', ['x', 'W1'], ['h'], 'l1'), call('Linear', ['h', 'W2'], ['y'], 'l2')],
      [linear],
    );
    const path = join(tmp.path, 'functions.onnx');
    writeFileSync(path, encodeModelProto(model));
    const logs: string[] = [];
    const { report } = await compressModel({
      modelPath: path,
      recipe: parseRecipeSpec('int4:block=32'),
      outDir: join(tmp.path, 'int4'),
      fidelity: 'off',
      log: (m) => logs.push(m),
    });
    expect(report.passes[0]!.tensors.map((t) => t.name).sort()).toEqual(['W1', 'W2']);
    expect(logs.join('\n')).toMatch(/2 calls of 1 model-local functions inlined/);
    const variant = readModel(join(tmp.path, 'int4', 'model.onnx')).proto;
    expect(ops(variant)).toEqual(['MatMulNBits', 'Relu', 'MatMulNBits', 'Relu']);
    const [before, after] = [await run(model), await run(variant)];
    const scale = Math.max(...before.map(Math.abs));
    expect(Math.max(...before.map((v, i) => Math.abs(v - after[i]!)))).toBeLessThan(0.1 * scale);
  });
});
