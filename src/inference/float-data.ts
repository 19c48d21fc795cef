/** A float tensor's values as float32, whatever it was computed in (float16 decoded from its bits). */
import { halfToFloat } from '../onnx/float16.ts';
import type { TensorValue } from './session.ts';

export function floatData(value: TensorValue): Float32Array {
  const data = value.data;
  if (value.type === 'float16') return Float32Array.from(data as Uint16Array, halfToFloat);
  if (data instanceof Float32Array) return data;
  if (Array.isArray(data)) throw new TypeError(`tensor of ${value.type} has no numbers`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, Number);
  return Float32Array.from(data as ArrayLike<number>);
}
