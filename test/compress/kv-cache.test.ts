import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compressModel } from '../../src/compress/compress.ts';
import { parseRecipeSpec } from '../../src/compress/recipe-spec.ts';
import { greedyDecode } from '../../src/evaluate/decode-loop.ts';
import { readEvalData } from '../../src/evaluate/eval-data.ts';
import { createSession } from '../../src/inference/session.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

const kv = fixtureModel('tiny-shakespeare-kv');
const kvEval = fixtureModel('tiny-shakespeare-kv', 'eval.jsonl');

/** Max |difference| between each decode step's logits and a full pass over prompt + generated tokens. */
async function decodeVersusFullPass(modelPath: string): Promise<number> {
  const session = await createSession(modelPath);
  try {
    const first = readEvalData(kvEval)[0]!;
    const prompt = first.kind === 'tokens' ? first.inputIds : [];
    const run = await greedyDecode(session, prompt, 32);
    expect(run.cacheLength).toBe(prompt.length + 32);
    expect(run.stepMs).toHaveLength(33);
    expect(run.stepMs.every((ms) => ms > 0)).toBe(true);
    const all = [...prompt, ...run.tokens];
    const zero = (n: string) => ({
      type: 'float32' as const,
      dims: [1, 4, 0, 48],
      data: new Float32Array(0),
      name: n,
    });
    const feeds: Record<
      string,
      { type: 'float32' | 'int64'; dims: number[]; data: Float32Array | BigInt64Array }
    > = {
      input_ids: { type: 'int64', dims: [1, all.length], data: BigInt64Array.from(all.map(BigInt)) },
      attention_mask: { type: 'int64', dims: [1, all.length], data: new BigInt64Array(all.length).fill(1n) },
    };
    for (const input of session.inputs)
      if (input.name.startsWith('past')) feeds[input.name] = zero(input.name);
    const full = (await session.run(feeds)).logits!;
    const data = full.data as Float32Array;
    let max = 0;
    run.stepLogits.forEach((logits, step) => {
      const position = prompt.length - 1 + step;
      for (let v = 0; v < 65; v++) max = Math.max(max, Math.abs(logits[v]! - data[position * 65 + v]!));
    });
    return max;
  } finally {
    await session.release();
  }
}

describe('compressing the KV-cache decoder tiny-shakespeare-kv (Gemm projections)', () => {
  it('int4:block=32 is at most 0.25× the size with perplexity within +1.5 %, and presents stay float32', async () => {
    const result = await compressModel({
      modelPath: kv,
      recipe: parseRecipeSpec('int4:block=32'),
      outDir: join(tmp.path, 'int4'),
      evalData: kvEval,
      fidelity: 'on',
      fidelityInProcess: true,
    });
    expect(result.report.sizeRatio).toBeLessThanOrEqual(0.25);
    const metric = result.report.fidelity.metric!;
    expect(metric.value / metric.reference - 1).toBeLessThanOrEqual(0.015);
    expect(result.fidelity?.dtypeChanges).toEqual([]);
    const session = await createSession(result.modelPath);
    expect(session.outputs.filter((o) => o.name.startsWith('present')).map((o) => o.type)).toEqual(
      new Array(6).fill('float32'),
    );
    await session.release();
  });

  it.each(['int4:block=32', 'fp16'])(
    '%s decodes token by token to the logits of its own full pass within 1e-3',
    async (recipe) => {
      const { modelPath } = await compressModel({
        modelPath: kv,
        recipe: parseRecipeSpec(recipe),
        outDir: join(tmp.path, `decode-${recipe.replace(/\W/g, '_')}`),
        fidelity: 'off',
      });
      expect(await decodeVersusFullPass(modelPath)).toBeLessThanOrEqual(1e-3);
    },
  );

  it('the original decodes to its full pass within 1e-4, as its README states', async () => {
    expect(await decodeVersusFullPass(kv)).toBeLessThanOrEqual(1e-4);
  });
});
