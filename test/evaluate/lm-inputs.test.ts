import { describe, expect, it } from 'vitest';
import { chooseWorkload, workloadFeeds } from '../../src/bench/workload.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { greedyDecode } from '../../src/evaluate/decode-loop.ts';
import { isPastInput, kvLayout, pastSequenceAxis, stepFeeds } from '../../src/evaluate/lm-inputs.ts';
import { floatData } from '../../src/inference/float-data.ts';
import { createSession, type Session } from '../../src/inference/session.ts';
import { type DecoderOptions, decoderModel, VOCAB } from '../helpers/decoder-model.ts';

async function withDecoder<T>(options: DecoderOptions, use: (session: Session) => Promise<T>): Promise<T> {
  const session = await createSession(decoderModel(options));
  try {
    return await use(session);
  } finally {
    await session.release();
  }
}

const DYNAMO = { batch: 's0', seq: 's1', past: 's2', total: 's2 + s1' };

describe('isPastInput and kvLayout', () => {
  it('take cache_position and use_cache_branch for what they are, not for pasts', () => {
    expect(isPastInput('past_key_values.3.value')).toBe(true);
    expect(isPastInput('past_7')).toBe(true);
    expect(isPastInput('cache_position')).toBe(false);
    expect(isPastInput('use_cache_branch')).toBe(false);
    expect(isPastInput('past_attention_mask')).toBe(false);
  });

  it('pairs every past with its present in a model that also has cache_position and use_cache_branch', async () => {
    await withDecoder({ cachePosition: true, useCacheBranch: true }, async (session) => {
      const layout = kvLayout(session.inputs, session.outputs)!;
      expect([...layout.pastToPresent]).toEqual([
        ['past_key_values.0.key', 'present.0.key'],
        ['past_key_values.0.value', 'present.0.value'],
      ]);
      expect(layout).toMatchObject({ cachePosition: 'cache_position', useCacheBranch: 'use_cache_branch' });
    });
  });
});

describe('pastSequenceAxis', () => {
  const past = (shape: (number | string)[]) => ({ name: 'p', isTensor: true, type: 'float32', shape });
  it("finds the cache axis where the present's dim differs, whatever the names", () => {
    expect(pastSequenceAxis(past(['s0', 4, 's2', 16]), past(['s0', 4, 's2 + s1', 16]))).toBe(2);
    // onnxruntime-genai's transposed keys: [batch, heads, head_dim, past].
    expect(pastSequenceAxis(past(['b', 4, 16, 'p']), past(['b', 4, 16, 't']))).toBe(3);
  });
  it('falls back to a dim named like a length, then to the second to last', () => {
    expect(pastSequenceAxis(past(['b', 'past_seq', 4, 16]), undefined)).toBe(1);
    expect(pastSequenceAxis(past(['b', 4, 'x', 16]), undefined)).toBe(2);
  });
});

describe('stepFeeds', () => {
  it("gives an encoder's token_type_ids one segment (zeros), and still names an input it cannot derive", () => {
    const io = (name: string, type = 'int64') => ({ name, isTensor: true, type, shape: ['b', 's'] });
    const feeds = stepFeeds(
      [io('input_ids'), io('attention_mask'), io('token_type_ids')],
      [io('hidden', 'float32')],
      {
        rows: [[5, 6, 7]],
        past: 0,
      },
    );
    expect(feeds.token_type_ids).toMatchObject({ dims: [1, 3] });
    expect(Array.from(feeds.token_type_ids!.data as BigInt64Array)).toEqual([0n, 0n, 0n]);
    expect(() =>
      stepFeeds([io('input_ids'), io('pixel_values', 'float32')], [io('hidden', 'float32')], {
        rows: [[5]],
        past: 0,
      }),
    ).toThrowError(/model input "pixel_values" cannot be derived from token ids/);
  });

  it('feeds torch-dynamo dims, int32 ids and a float16 cache, whose presents grow by the new tokens', async () => {
    await withDecoder(
      { dims: DYNAMO, ids: 'int32', cache: 'float16', positionIds: true },
      async (session) => {
        const prefill = stepFeeds(session.inputs, session.outputs, { rows: [[1, 2, 3]], past: 0 });
        expect(prefill.input_ids).toMatchObject({ type: 'int32', dims: [1, 3] });
        expect(prefill['past_key_values.0.key']).toMatchObject({ type: 'float16', dims: [1, 1, 0, 4] });
        const first = await session.run(prefill);
        expect(first['present.0.key']!.dims).toEqual([1, 1, 3, 4]);
        const pasts = new Map([
          ['past_key_values.0.key', first['present.0.key']!],
          ['past_key_values.0.value', first['present.0.value']!],
        ]);
        const step = stepFeeds(session.inputs, session.outputs, { rows: [[4]], past: 3 }, { pasts });
        expect(step.attention_mask!.dims).toEqual([1, 4]);
        expect(Array.from(step.position_ids!.data as Int32Array)).toEqual([3]);
        const second = await session.run(step);
        expect(second['present.0.value']!.dims).toEqual([1, 1, 4, 4]);
      },
    );
  });

  it("binds cache_position to the new tokens' positions and use_cache_branch to whether a cache is fed", async () => {
    await withDecoder({ cachePosition: true, useCacheBranch: true }, async (session) => {
      const prefill = stepFeeds(session.inputs, session.outputs, { rows: [[1, 2]], past: 0 });
      expect(Array.from(prefill.cache_position!.data as BigInt64Array)).toEqual([0n, 1n]);
      expect(Array.from(prefill.use_cache_branch!.data as Uint8Array)).toEqual([0]);
      const step = stepFeeds(session.inputs, session.outputs, { rows: [[5]], past: 2 });
      expect(Array.from(step.cache_position!.data as BigInt64Array)).toEqual([2n]);
      expect(Array.from(step.use_cache_branch!.data as Uint8Array)).toEqual([1]);
    });
  });

  it('names the fixed length of input_ids and the flag that fits it', async () => {
    await withDecoder({ fixedLength: 8, noCache: true }, async (session) => {
      expect(() => stepFeeds(session.inputs, session.outputs, { rows: [[1, 2, 3]], past: 0 })).toThrowError(
        /input "input_ids" has a fixed sequence length of 8, not 3\. Use sequence length 8 \(slmops bench --seq 8\)/,
      );
    });
  });
});

describe('greedyDecode on other exporters', () => {
  it('decodes a dynamo-named float16-cache decoder token by token to the logits of its own full pass', async () => {
    const options: DecoderOptions = {
      dims: DYNAMO,
      cache: 'float16',
      cachePosition: true,
      useCacheBranch: true,
    };
    await withDecoder(options, async (session) => {
      const run = await greedyDecode(session, [3, 1, 4], 4);
      expect(run.cacheLength).toBe(3 + 4);
      const all = [3, 1, 4, ...run.tokens];
      const full = await session.run(stepFeeds(session.inputs, session.outputs, { rows: [all], past: 0 }));
      const logits = floatData(full.logits!);
      run.stepLogits.forEach((step, i) => {
        const at = (2 + i) * VOCAB;
        for (let v = 0; v < VOCAB; v++) expect(step[v]!).toBeCloseTo(logits[at + v]!, 5);
      });
    });
  });
});

describe('workloads', () => {
  it('time a decode step with the cache filled to the sequence length', async () => {
    await withDecoder({ dims: DYNAMO, ids: 'int32' }, async (session) => {
      const spec = { kind: 'decode' as const, batch: 2, sequenceLength: 6, dims: {} };
      const feeds = await workloadFeeds(session, spec);
      expect(feeds.input_ids!.dims).toEqual([2, 1]);
      expect(feeds['past_key_values.0.key']!.dims).toEqual([2, 1, 6, 4]);
      expect(feeds.attention_mask!.dims).toEqual([2, 7]);
      const out = await session.run(feeds);
      expect(out['present.0.key']!.dims).toEqual([2, 1, 7, 4]);
    });
  });

  it('refuse decode on a model without a KV cache, naming the workload that fits', async () => {
    await withDecoder({ noCache: true }, async (session) => {
      expect(() => chooseWorkload(session.inputs, session.outputs, 'decode')).toThrowError(
        ConfigurationError,
      );
      expect(() => chooseWorkload(session.inputs, session.outputs, 'decode')).toThrowError(
        /--workload prefill/,
      );
      expect(chooseWorkload(session.inputs, session.outputs, 'auto')).toBe('prefill');
    });
    // A classifier: neither decode nor prefill fits, generic does.
    const image = [{ name: 'pixels', isTensor: true, type: 'float32', shape: ['n', 3, 8, 8] }];
    expect(() => chooseWorkload(image, [], 'decode')).toThrowError(/--workload generic/);
  });
});

describe('pastSequenceAxis with several renamed dims', () => {
  it('prefers the differing dim named like a length over a renamed head count', () => {
    const io = (shape: (number | string)[]) => ({ name: 'p', isTensor: true, type: 'float32', shape });
    expect(
      pastSequenceAxis(io(['b', 'num_heads', 'past_len', 64]), io(['b', 'heads', 'total_len', 64])),
    ).toBe(2);
  });
});
