import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession, type TensorValue } from '../../src/inference/session.ts';
import { inspectModel } from '../../src/onnx/inspect.ts';
import type { OnnxModel } from '../../src/onnx/model.ts';
import type { TensorProto } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { stringValues, tensorStorage } from '../../src/onnx/tensor.ts';
import { forEachTensor } from '../../src/onnx/walk.ts';
import { writeModel } from '../../src/onnx/write.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

interface ExpectedTensor {
  name: string;
  kind: string;
  data_type_name: string;
  dims: number[];
  storage: string;
  values: (number | string | boolean)[];
  bits?: number[];
  sparse_values?: ExpectedTensor;
  sparse_indices?: ExpectedTensor;
}

interface Expected {
  tensors: ExpectedTensor[];
  element_counts: Record<string, number>;
  runs: {
    inputs: Record<string, number[]>;
    outputs: Record<string, { dims: number[]; values: unknown[] }>;
  }[];
}

const modelPath = fixtureModel('tensor-forms');
const expected = JSON.parse(readFileSync(fixtureModel('tensor-forms', 'expected.json'), 'utf8')) as Expected;
const tmp = tempDir();
afterAll(() => tmp.remove());

function byName(model: OnnxModel): Map<string, TensorProto[]> {
  const map = new Map<string, TensorProto[]>();
  forEachTensor(model.proto, ({ tensor }) => map.set(tensor.name, [...(map.get(tensor.name) ?? []), tensor]));
  return map;
}

function decoded(model: OnnxModel, tensor: TensorProto, spec: ExpectedTensor): unknown[] {
  if (spec.data_type_name === 'STRING') return stringValues(tensor);
  if (spec.data_type_name === 'BOOL')
    return Array.from(model.tensorArray(tensor) as Uint8Array, (v) => v === 1);
  if (/INT64/.test(spec.data_type_name))
    return Array.from(model.tensorArray(tensor) as BigInt64Array, String);
  if (spec.data_type_name === 'UINT64')
    return Array.from(model.tensorArray(tensor) as BigUint64Array, String);
  if (/FLOAT8/.test(spec.data_type_name)) return Array.from(model.tensorArray(tensor) as Uint8Array);
  if (/FLOAT|DOUBLE/.test(spec.data_type_name)) return Array.from(model.tensorFloat32(tensor));
  return Array.from(model.tensorArray(tensor) as Int32Array);
}

function expectSame(actual: unknown[], wanted: unknown[], what: string): void {
  expect(actual.length, what).toBe(wanted.length);
  actual.forEach((v, i) => {
    const w = wanted[i];
    if (typeof v === 'number' && typeof w === 'number') {
      // float32 decoding of float64 values: compare at float32 precision, keeping -0 distinct from 0.
      expect(Object.is(v, Math.fround(w)) || Object.is(v, w), `${what}[${i}]: ${v} vs ${w}`).toBe(true);
    } else {
      expect(v, `${what}[${i}]`).toEqual(w);
    }
  });
}

describe('decoding tensors written by the onnx Python package in every storage form', () => {
  const model = readModel(modelPath);
  const tensors = byName(model);
  const dense = expected.tensors.filter((t) => t.kind !== 'sparse_initializer');

  it.each(dense.map((t) => [t.name, t.data_type_name, t.storage, t] as const))(
    '%s (%s in %s) decodes to the values onnx wrote',
    (name, _dtype, storage, spec) => {
      const tensor = tensors.get(name)?.[0];
      expect(tensor, name).toBeDefined();
      expect(tensorStorage(tensor!)).toBe(
        storage === 'none' ? 'empty' : storage === 'raw_data' ? 'raw' : 'typed',
      );
      if (spec.data_type_name === 'DOUBLE') {
        expectSame(Array.from(model.tensorArray(tensor!) as Float64Array), spec.values, name);
      } else if (/FLOAT8/.test(spec.data_type_name)) {
        expectSame(decoded(model, tensor!, spec), spec.bits!, name);
      } else {
        expectSame(decoded(model, tensor!, spec), spec.values, name);
      }
      if (spec.bits && /16/.test(spec.data_type_name)) {
        expect(Array.from(model.tensorArray(tensor!) as Uint16Array)).toEqual(spec.bits);
      }
    },
  );

  it('decodes the values and indices of sparse initializers', () => {
    for (const spec of expected.tensors.filter((t) => t.kind === 'sparse_initializer')) {
      const sparse = model.proto.graph!.sparseInitializer.find(
        (s) => s.values?.name === spec.sparse_values!.name,
      )!;
      expectSame(
        decoded(model, sparse.values!, spec.sparse_values!),
        spec.sparse_values!.values,
        `${spec.name}.values`,
      );
      expectSame(
        decoded(model, sparse.indices!, spec.sparse_indices!),
        spec.sparse_indices!.values,
        `${spec.name}.indices`,
      );
    }
  });

  it('counts parameters over the initializers of every graph, sparse ones by their dense shape', async () => {
    const report = await inspectModel(modelPath);
    const counts = expected.element_counts;
    const want =
      counts.main_initializers! + counts.subgraph_initializers! + counts.sparse_initializers_dense!;
    expect(report.parameters).toBe(want);
    expect(report.constantTensors).toBe(expected.tensors.filter((t) => t.kind === 'node_attribute').length);
    expect(report.subgraphCount).toBeGreaterThanOrEqual(3);
    expect(report.opsets.map((o) => o.domain)).toContain('com.microsoft');
  });
});

describe('writing the tensor-forms model back', () => {
  async function run(path: string, inputs: Record<string, number[]>): Promise<Record<string, TensorValue>> {
    const session = await createSession(path);
    try {
      const feeds: Record<string, TensorValue> = {};
      for (const [name, values] of Object.entries(inputs)) {
        feeds[name] = { type: 'float32', dims: [values.length], data: Float32Array.from(values) };
      }
      return await session.run(feeds);
    } finally {
      await session.release();
    }
  }

  it.each([false, true])(
    'with externalData=%s runs in onnxruntime to the outputs onnx recorded',
    async (external) => {
      const out = join(tmp.path, `forms-${external}.onnx`);
      writeModel(readModel(modelPath), out, { externalData: external, threshold: 8 });
      if (external) expect(readModel(out).externalFiles().length).toBe(1);
      for (const runSpec of expected.runs) {
        const outputs = await run(out, runSpec.inputs);
        for (const [name, want] of Object.entries(runSpec.outputs)) {
          const got = outputs[name]!;
          expect(got.dims, name).toEqual(want.dims);
          const values = Array.from(got.data as ArrayLike<number | bigint>, (v) =>
            typeof v === 'bigint' ? String(v) : v,
          );
          const wanted = want.values.map((v) => (typeof v === 'boolean' ? Number(v) : v));
          expectSame(values, wanted, name);
        }
      }
    },
  );
});
