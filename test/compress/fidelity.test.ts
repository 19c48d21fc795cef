import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { measureFidelity } from '../../src/compress/fidelity.ts';
import { node } from '../../src/compress/graph.ts';
import { modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { createSession } from '../../src/inference/session.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { decodeModelProto, encodeModelProto } from '../../src/onnx/proto.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

const LM = fixtureModel('tiny-shakespeare-lm');
const lines = readFileSync(fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, 6)
  .map((l) => JSON.parse(l).input_ids as number[]);

function evalFile(name: string, rows: unknown[][]): string {
  const path = join(tmp.path, name);
  writeFileSync(path, rows.map((input_ids) => JSON.stringify({ input_ids })).join('\n'));
  return path;
}

/** Perplexity computed here, line by line, from the model's logits: the reference for the metric. */
async function perplexityByHand(rows: number[][]): Promise<number> {
  const session = await createSession(LM);
  let nll = 0;
  let count = 0;
  try {
    for (const ids of rows) {
      const out = await session.run({
        input_ids: { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) },
      });
      const logits = out.logits!.data as Float32Array;
      const vocab = out.logits!.dims[2]!;
      for (let t = 0; t + 1 < ids.length; t++) {
        const row = logits.subarray(t * vocab, (t + 1) * vocab);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
        nll += lse - row[ids[t + 1]!]!;
        count += 1;
      }
    }
  } finally {
    await session.release();
  }
  return Math.exp(nll / count);
}

describe('measureFidelity on eval lines', () => {
  it('scores each line at its own length, so a short first line does not skew the others', async () => {
    const rows = [lines[0]!.slice(0, 64), ...lines.slice(1)];
    const evalData = evalFile('ragged.jsonl', rows);
    const { metric } = await measureFidelity({
      reference: LM,
      candidate: LM,
      evalData,
      samples: 100,
      threads: 1,
    });
    expect(metric?.name).toBe('perplexity');
    expect(metric!.reference).toBeCloseTo(await perplexityByHand(rows), 6);
    expect(metric!.value).toBe(metric!.reference);
  });

  it('reads a compared model whose output is named otherwise by its place', async () => {
    const proto = decodeModelProto(readFileSync(LM));
    const logits = proto.graph!.output[0]!.name;
    proto.graph!.output[0]!.name = 'scores';
    for (const n of proto.graph!.node) n.output = n.output.map((o) => (o === logits ? 'scores' : o));
    const renamed = join(tmp.path, 'renamed.onnx');
    writeFileSync(renamed, encodeModelProto(proto));
    const { metric, top1Agreement } = await measureFidelity({
      reference: LM,
      candidate: renamed,
      evalData: evalFile('renamed.jsonl', lines.slice(0, 4)),
      samples: 100,
      threads: 1,
    });
    expect(metric!.value).toBe(metric!.reference);
    expect(top1Agreement).toBe(1);
  });

  it('runs lines that name every input ({"inputs": {…}}) on a model of token ids', async () => {
    const evalData = join(tmp.path, 'named-inputs.jsonl');
    writeFileSync(evalData, `${JSON.stringify({ inputs: { input_ids: lines[0]!.slice(0, 16) } })}\n`);
    const m = await measureFidelity({ reference: LM, candidate: LM, evalData, samples: 100, threads: 1 });
    expect(m.samples).toBe(1);
    expect(m.top1Agreement).toBe(1);
  });

  it('names the line of a token the model cannot embed', async () => {
    const evalData = evalFile('oov.jsonl', [lines[0]!, [1, 2, 999, 3]]);
    const error = await measureFidelity({
      reference: LM,
      candidate: LM,
      evalData,
      samples: 100,
      threads: 1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/oov\.jsonl: line 2[:,]/);
  });

  it('refuses an empty line of token ids, naming it', async () => {
    const evalData = evalFile('empty.jsonl', [lines[0]!, []]);
    await expect(
      measureFidelity({ reference: LM, candidate: LM, evalData, samples: 100, threads: 1 }),
    ).rejects.toThrowError(/line 2, field "input_ids": is empty/);
  });
});

describe('measureFidelity on eval lines that do not fit the model', () => {
  it('runs a model that fixes its batch that many lines at a time, and says so when the lines do not divide', async () => {
    const proto = modelProto(
      'fixed-batch',
      [node('Relu', ['x'], ['y'])],
      [valueInfo('x', DataType.FLOAT, [3, 4])],
      [valueInfo('y', DataType.FLOAT, [3, 4])],
      [],
    );
    const model = join(tmp.path, 'fixed-batch.onnx');
    writeFileSync(model, encodeModelProto(proto));
    const write = (name: string, n: number) => {
      const path = join(tmp.path, name);
      const rows = Array.from({ length: n }, (_, i) =>
        JSON.stringify({ input: [0, 0, 0, 0].map((_, j) => (i === j ? 1 : 0)), label: i % 4 }),
      );
      writeFileSync(path, `${rows.join('\n')}\n`);
      return path;
    };
    const m = await measureFidelity({
      reference: model,
      candidate: model,
      evalData: write('three.jsonl', 3),
      samples: 100,
      threads: 1,
    });
    expect(m.metric).toEqual({ name: 'accuracy', value: 1, reference: 1 });
    await expect(
      measureFidelity({
        reference: model,
        candidate: model,
        evalData: write('four.jsonl', 4),
        samples: 100,
        threads: 1,
      }),
    ).rejects.toThrowError(/holds 4 lines, and the model fixes its batch at 3/);
  });

  const DIGITS = fixtureModel('digits-cnn');
  const input = new Array(64).fill(0.5);

  it('names a line without a label when other lines have one', async () => {
    const evalData = join(tmp.path, 'some-labels.jsonl');
    writeFileSync(evalData, `${JSON.stringify({ input, label: 3 })}\n${JSON.stringify({ input })}\n`);
    await expect(
      measureFidelity({ reference: DIGITS, candidate: DIGITS, evalData, samples: 100, threads: 1 }),
    ).rejects.toThrowError(/line 2 has no "label" where other lines have one/);
  });

  it('names a label outside the classes of the model output', async () => {
    const evalData = join(tmp.path, 'labels.jsonl');
    writeFileSync(
      evalData,
      `${JSON.stringify({ input, label: 3 })}\n${JSON.stringify({ input, label: 99 })}\n`,
    );
    await expect(
      measureFidelity({ reference: DIGITS, candidate: DIGITS, evalData, samples: 100, threads: 1 }),
    ).rejects.toThrowError(/line 2, field "label": class 99 where the model's output .* has 10 classes/);
  });

  it("refuses a classifier's eval lines for a language model", async () => {
    const evalData = join(tmp.path, 'classifier-lines.jsonl');
    writeFileSync(evalData, `${JSON.stringify({ input, label: 3 })}\n`);
    await expect(
      measureFidelity({ reference: LM, candidate: LM, evalData, samples: 100, threads: 1 }),
    ).rejects.toThrowError(/line 1 is a classifier line .* but the model takes token ids \("input_ids"\)/);
  });
});
