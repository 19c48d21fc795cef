/** Turns eval records into model feeds: token windows for language models (KV-cache pasts empty), tensors otherwise. */
import { ConfigurationError } from '../errors.ts';
import type { ElementType, IoInfo, TensorData, TensorValue } from '../inference/session.ts';
import { floatToHalf } from '../onnx/float16.ts';
import type { EvalRecord } from './eval-data.ts';
import { stepFeeds } from './lm-inputs.ts';

function allocate(type: ElementType, values: number[], subject: string): TensorData {
  switch (type) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'float16':
      return Uint16Array.from(values, floatToHalf); // onnxruntime takes float16 as its bits
    case 'int16':
      return Int16Array.from(values);
    case 'uint16':
      return Uint16Array.from(values);
    case 'uint32':
      return Uint32Array.from(values);
    case 'uint64':
      return BigUint64Array.from(values, (v) => BigInt(Math.max(0, Math.trunc(v))));
    case 'int64':
      return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case 'int32':
      return Int32Array.from(values);
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    default:
      throw new ConfigurationError(`input type ${type} cannot be fed from eval data`, {
        subject,
        fix: 'Bench the model without --eval, or give it numeric inputs',
      });
  }
}

/**
 * Feeds for a batch of token records of one length: ids [B, L] and the inputs that follow from them (see
 * ./lm-inputs.ts; pasts empty). `outputs` pair a decoder's pasts with their presents.
 */
export function tokenFeeds(
  inputs: readonly IoInfo[],
  records: EvalRecord[],
  subject: string,
  outputs: readonly IoInfo[] = [],
): Record<string, TensorValue> {
  const rows = records.map((r) => {
    if (r.kind !== 'tokens')
      throw new ConfigurationError(`line ${r.line} has no "input_ids" but others do`, { subject });
    return r.inputIds;
  });
  const length = rows[0]?.length ?? 0;
  const ragged = records.find((_, i) => rows[i]!.length !== length);
  if (ragged) {
    throw new ConfigurationError(
      `line ${ragged.line}, field "input_ids": ${rows[records.indexOf(ragged)]!.length} tokens where the first line has ${length}`,
      {
        subject,
        fix: 'Batch windows of one length together, or feed them one at a time',
      },
    );
  }
  try {
    return stepFeeds(inputs, outputs, { rows, past: 0 });
  } catch (error) {
    if (error instanceof ConfigurationError) throw new ConfigurationError(error.message, { subject });
    throw error;
  }
}

/** Feeds for a batch of tensor records: each input's values reshaped to the input's shape with the batch first. */
export function tensorFeeds(
  inputs: readonly IoInfo[],
  records: EvalRecord[],
  subject: string,
): Record<string, TensorValue> {
  const feeds: Record<string, TensorValue> = {};
  const tensorInputs = inputs.filter((i) => i.isTensor);
  for (const input of tensorInputs) {
    const values: number[] = [];
    for (const record of records) {
      if (record.kind !== 'tensor')
        throw new ConfigurationError(`line ${record.line} has "input_ids" but others do not`, { subject });
      const v = record.inputs[input.name] ?? (tensorInputs.length === 1 ? record.inputs[''] : undefined);
      if (!v)
        throw new ConfigurationError(`line ${record.line}, field "inputs.${input.name}": missing`, {
          subject,
        });
      values.push(...v);
    }
    const per = values.length / records.length;
    const fixed = input.shape.slice(1).map((d) => (typeof d === 'number' ? d : -1));
    const known = fixed.filter((d) => d > 0).reduce((a, b) => a * b, 1);
    const unknown = fixed.filter((d) => d <= 0).length;
    let dims: number[];
    if (unknown === 0) {
      if (known !== per) {
        throw new ConfigurationError(
          `line ${records[0]!.line}, field "input": ${per} values where input "${input.name}" [${input.shape.join(', ')}] takes ${known} per item`,
          { subject, fix: 'Give each line exactly one item of the model input, flattened row-major' },
        );
      }
      dims = [records.length, ...fixed];
    } else if (unknown === 1 && per % known === 0) {
      dims = [records.length, ...fixed.map((d) => (d > 0 ? d : per / known))];
    } else {
      dims = [records.length, per];
    }
    const type = (input.type ?? 'float32') as ElementType;
    feeds[input.name] = { type, dims, data: allocate(type, values, subject) };
  }
  return feeds;
}

/** Feeds for a batch of records of either kind (`outputs`: see `tokenFeeds`). */
export function evalFeeds(
  inputs: readonly IoInfo[],
  records: EvalRecord[],
  subject: string,
  outputs: readonly IoInfo[] = [],
): Record<string, TensorValue> {
  return records[0]?.kind === 'tokens'
    ? tokenFeeds(inputs, records, subject, outputs)
    : tensorFeeds(inputs, records, subject);
}
