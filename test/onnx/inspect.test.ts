import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/inference/session.ts';
import { formatInspectReport, inspectModel } from '../../src/onnx/inspect.ts';
import { readModel } from '../../src/onnx/read.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('inspecting the shared models', () => {
  it.each([
    ['digits-cnn', 'model.onnx', 38_282],
    ['tiny-shakespeare-lm', 'model.onnx', 1_829_376],
    ['tiny-shakespeare-lm', 'external/model.onnx', 1_829_376],
    ['tiny-shakespeare-kv', 'model.onnx', 1_409_088],
  ])('%s/%s counts the parameters its README states', async (name, file, params) => {
    const report = await inspectModel(fixtureModel(name, file));
    expect(report.parameters).toBe(params);
  });

  it('keeps symbolic dims, including expressions, in input and output shapes', async () => {
    const report = await inspectModel(fixtureModel('tiny-shakespeare-kv'));
    expect(report.inputs.find((i) => i.name === 'attention_mask')).toEqual({
      name: 'attention_mask',
      type: 'int64',
      shape: ['batch', 'past_seq + seq'],
    });
    expect(report.outputs[0]).toEqual({ name: 'logits', type: 'float32', shape: ['batch', 'seq', 65] });
    expect(report.opHistogram.find((o) => o.op === 'Gemm')?.count).toBe(12);
    expect(report.nodeCount).toBe(680);
  });

  it('reports the sha256 of the model file and of each external data file', async () => {
    const report = await inspectModel(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'));
    expect(report.sha256).toBe('c2b0f91d61837a51aa427669a452cdc2418e95d7cc940dafb0d96888e3476036');
    expect(report.externalData).toEqual([
      {
        location: 'model.onnx.data',
        bytes: 7_297_536,
        referencedBytes: 7_297_536,
        tensors: 27,
        sha256: 'c2618e57a0bf8d34732eb26b840cb131546a29282e09f23d29b2b7dac5e34472',
      },
    ]);
    expect(report.largestTensors[0]!.storage).toBe('external:model.onnx.data');
    expect(formatInspectReport(report)).toContain('1,829,376 in 53 initializers');
  });
});

describe('inspecting models from other writers', () => {
  it("reads a newer exporter's model-local function and opset 23 import", async () => {
    const expected = JSON.parse(readFileSync(fixtureModel('newer-exporter', 'expected.json'), 'utf8'));
    const report = await inspectModel(fixtureModel('newer-exporter'));
    expect(report.parameters).toBe(expected.parameter_count);
    expect(report.opsets).toEqual(
      expected.opset_imports.map((o: { domain: string; version: number }) => ({
        domain: o.domain || 'ai.onnx',
        version: o.version,
      })),
    );
    expect(report.functions.map((f) => `${f.domain}.${f.name}`)).toEqual(
      expected.functions.map((f: { domain: string; name: string }) => `${f.domain}.${f.name}`),
    );
    expect(report.opHistogram.some((o) => o.op.startsWith('slmops.test::'))).toBe(true);
  });

  it('reads tensors from two external files in a subfolder at non-zero offsets', async () => {
    const expected = JSON.parse(readFileSync(fixtureModel('external-nested', 'expected.json'), 'utf8'));
    const model = readModel(fixtureModel('external-nested'));
    for (const spec of expected.external_tensors as { name: string; values: number[]; offset: number }[]) {
      const tensor = model.proto.graph!.initializer.find((t) => t.name === spec.name)!;
      expect(model.externalRef(tensor)?.offset).toBe(spec.offset);
      expect(Array.from(model.tensorFloat32(tensor))).toEqual(spec.values.map(Math.fround));
    }
    const report = await inspectModel(fixtureModel('external-nested'));
    expect(report.parameters).toBe(expected.parameter_count);
    expect(report.externalData.map((f) => [f.location, f.bytes, f.sha256])).toEqual(
      Object.entries(expected.files as Record<string, { bytes: number; sha256: string }>).map(([p, f]) => [
        p,
        f.bytes,
        f.sha256,
      ]),
    );
  });

  it("runs the newer exporter's model in onnxruntime to the logits onnxruntime recorded in Python", async () => {
    const expected = JSON.parse(readFileSync(fixtureModel('newer-exporter', 'expected.json'), 'utf8'));
    const ids: number[] = expected.eval_first_line.input_ids;
    const session = await createSession(fixtureModel('newer-exporter'));
    const out = await session.run({
      input_ids: { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) },
    });
    await session.release();
    expect(out.logits!.dims).toEqual(expected.logits_shape);
    expect(Array.from(out.logits!.data as Float32Array)).toEqual(expected.logits.map(Math.fround));
  });
});
