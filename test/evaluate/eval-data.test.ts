import { describe, expect, it } from 'vitest';
import { parseEvalData, readEvalData } from '../../src/evaluate/eval-data.ts';
import { evalFeeds } from '../../src/evaluate/feeds.ts';
import { fixtureModel } from '../helpers/fixtures.ts';

describe('eval data', () => {
  it('reads token windows and labelled inputs', () => {
    expect(readEvalData(fixtureModel('tiny-shakespeare-lm', 'eval.jsonl'))).toHaveLength(64);
    const digits = readEvalData(fixtureModel('digits-cnn', 'eval.jsonl'));
    expect(digits).toHaveLength(360);
    expect(digits[0]).toMatchObject({ kind: 'tensor', label: 7, line: 1 });
  });

  it('reads a file that starts with a byte-order mark, and with CRLF line ends', () => {
    const records = parseEvalData(
      '\uFEFF{"input": [1, 2], "label": 1}\r\n{"input": [3, 4], "label": 0}\r\n',
      'bom.jsonl',
    );
    expect(records.map((r) => (r.kind === 'tensor' ? r.label : undefined))).toEqual([1, 0]);
  });

  it('names the line and field of a bad record', () => {
    expect(() => parseEvalData('{"input_ids":[1,2]}\n{"input_ids":[1,"a"]}\n', 'e.jsonl')).toThrowError(
      /e\.jsonl: line 2, field "input_ids": must be an array of integer token ids/,
    );
    expect(() => parseEvalData('{"input":[1],"label":1.5}', 'e.jsonl')).toThrowError(/line 1, field "label"/);
    expect(() => parseEvalData('nope', 'e.jsonl')).toThrowError(/line 1 is not valid JSON/);
    expect(() => parseEvalData('\n\n', 'e.jsonl')).toThrowError(/holds no records/);
  });

  it('shapes classifier inputs to the model input with the batch first', () => {
    const records = parseEvalData(
      `${JSON.stringify({ input: new Array(64).fill(0.5), label: 1 })}\n`.repeat(3),
      'x',
    );
    const feeds = evalFeeds(
      [{ name: 'input', isTensor: true, type: 'float32', shape: ['batch', 1, 8, 8] }],
      records,
      'x',
    );
    expect(feeds.input!.dims).toEqual([3, 1, 8, 8]);
  });

  it('feeds a float16 input as the bits onnxruntime takes', () => {
    const records = parseEvalData(`${JSON.stringify({ input: [0.5, -2, 1, 0] })}\n`, 'x');
    const feeds = evalFeeds(
      [{ name: 'pixels', isTensor: true, type: 'float16', shape: ['n', 2, 2, 1] }],
      records,
      'x',
    );
    expect(feeds.pixels).toMatchObject({ type: 'float16', dims: [1, 2, 2, 1] });
    expect(Array.from(feeds.pixels!.data as Uint16Array)).toEqual([0x3800, 0xc000, 0x3c00, 0]);
  });

  it('says which line does not fit the model input', () => {
    const records = parseEvalData(`${JSON.stringify({ input: [1, 2, 3] })}\n`, 'x.jsonl');
    expect(() =>
      evalFeeds(
        [{ name: 'input', isTensor: true, type: 'float32', shape: ['batch', 1, 8, 8] }],
        records,
        'x.jsonl',
      ),
    ).toThrowError(
      /line 1, field "input": 3 values where input "input" \[batch, 1, 8, 8\] takes 64 per item/,
    );
  });
});
