import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEvalData } from '../../src/evaluate/eval-data.ts';
import { evalFeeds } from '../../src/evaluate/feeds.ts';
import { createSession, type TensorValue } from '../../src/inference/session.ts';
import { readModel } from '../../src/onnx/read.ts';
import { writeModel } from '../../src/onnx/write.ts';
import { fixtureModel, sameBytes, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

async function outputsOf(modelPath: string, evalPath: string): Promise<Record<string, TensorValue>> {
  const session = await createSession(modelPath, { intraOpThreads: 1 });
  try {
    return await session.run(evalFeeds(session.inputs, readEvalData(evalPath), evalPath, session.outputs));
  } finally {
    await session.release();
  }
}

const cases = [
  {
    name: 'digits-cnn',
    model: fixtureModel('digits-cnn'),
    evalData: fixtureModel('digits-cnn', 'eval.jsonl'),
  },
  {
    name: 'tiny-shakespeare-lm',
    model: fixtureModel('tiny-shakespeare-lm'),
    evalData: fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'),
  },
  {
    name: 'tiny-shakespeare-lm (external data)',
    model: fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'),
    evalData: fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'),
  },
  {
    name: 'tiny-shakespeare-kv',
    model: fixtureModel('tiny-shakespeare-kv'),
    evalData: fixtureModel('tiny-shakespeare-kv', 'eval.jsonl'),
  },
];

describe.each(cases)('round trip of $name', ({ name, model, evalData }) => {
  const slug = name.replace(/\W+/g, '-');

  it.each([
    ['in one file', false],
    ['with external data', true],
  ] as const)(
    'read then write %s gives outputs equal to the original on every eval input',
    async (_label, external) => {
      const outDir = join(tmp.path, `${slug}-${external}`);
      await import('node:fs').then((fs) => fs.mkdirSync(outDir, { recursive: true }));
      const written = writeModel(readModel(model), join(outDir, 'model.onnx'), { externalData: external });
      expect(Boolean(written.dataFile)).toBe(external);
      expect(readdirSync(outDir).sort()).toEqual(
        external ? ['model.onnx', 'model.onnx.data'] : ['model.onnx'],
      );

      const [before, after] = [await outputsOf(model, evalData), await outputsOf(written.path, evalData)];
      expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
      for (const [key, value] of Object.entries(before)) {
        const other = after[key]!;
        expect(other.dims).toEqual(value.dims);
        expect(sameBytes(other.data as Float32Array, value.data as Float32Array)).toBe(true);
      }
    },
  );
});
