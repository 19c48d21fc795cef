/**
 * Tensor values in every storage form ONNX allows: `raw_data`, the typed fields (`float_data`, `int32_data`,
 * `int64_data`, `double_data`, `uint64_data`, `string_data`) and external data (bytes supplied by the caller).
 */
import { ConfigurationError } from '../errors.ts';
import { DataType, dtypeInfo, dtypeName, elementsPerInt32, rawByteLength } from './dtypes.ts';
import { isExternal } from './external-data.ts';
import { bfloat16ToFloat, halfToFloat } from './float16.ts';
import { type Int64, type TensorProto, toBigInt, toNumber } from './proto.ts';

export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export type TensorStorage = 'raw' | 'external' | 'typed' | 'empty';

export function dimsOf(tensor: TensorProto): number[] {
  return tensor.dims.map((d: Int64) => toNumber(d));
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function tensorElementCount(tensor: TensorProto): number {
  return elementCount(dimsOf(tensor));
}

/** Where a tensor's values are stored. */
export function tensorStorage(tensor: TensorProto): TensorStorage {
  if (isExternal(tensor)) return 'external';
  if (tensor.rawData?.length) return 'raw';
  const info = dtypeInfo(tensor.dataType);
  if (info && (tensor[info.field] as unknown[] | undefined)?.length) return 'typed';
  return 'empty';
}

/** The byte size of a tensor's values in raw form (what `raw_data` or external data holds). */
export function tensorByteLength(tensor: TensorProto): number {
  if (tensor.dataType === DataType.STRING) {
    return tensor.stringData.reduce((sum, s) => sum + s.length, 0);
  }
  return rawByteLength(tensor.dataType, tensorElementCount(tensor));
}

function unsupported(tensor: TensorProto, what: string): ConfigurationError {
  return new ConfigurationError(
    `tensor "${tensor.name}" has dtype ${dtypeName(tensor.dataType)}, which ${what}`,
    {
      fix: 'Convert the tensor to a supported dtype before using slmops on it',
    },
  );
}

/**
 * Converts values held in a typed field to the little-endian bytes `raw_data` would hold for the same tensor.
 * Sub-byte types stored in `int32_data` hold 2 (4-bit) or 4 (2-bit) packed elements per entry.
 */
export function typedFieldToRaw(tensor: TensorProto): Uint8Array {
  const info = dtypeInfo(tensor.dataType);
  if (!info || info.bits === 0) throw unsupported(tensor, 'has no raw byte form');
  const count = tensorElementCount(tensor);
  const out = new Uint8Array(rawByteLength(tensor.dataType, count));
  const view = new DataView(out.buffer);
  switch (info.field) {
    case 'floatData': {
      tensor.floatData.forEach((v, i) => {
        view.setFloat32(i * 4, v, true);
      });
      break;
    }
    case 'doubleData': {
      tensor.doubleData.forEach((v, i) => {
        view.setFloat64(i * 8, v, true);
      });
      break;
    }
    case 'int64Data': {
      tensor.int64Data.forEach((v, i) => {
        view.setBigInt64(i * 8, toBigInt(v), true);
      });
      break;
    }
    case 'uint64Data': {
      if (tensor.dataType === DataType.UINT32) {
        tensor.uint64Data.forEach((v, i) => {
          view.setUint32(i * 4, Number(toBigInt(v, true)), true);
        });
      } else {
        tensor.uint64Data.forEach((v, i) => {
          view.setBigUint64(i * 8, toBigInt(v, true), true);
        });
      }
      break;
    }
    case 'int32Data': {
      const values = tensor.int32Data;
      if (info.bits >= 8) {
        const bytes = info.bits / 8;
        values.forEach((v, i) => {
          if (bytes === 1) view.setUint8(i, v & 0xff);
          else if (bytes === 2) view.setUint16(i * 2, v & 0xffff, true);
          else view.setInt32(i * 4, v, true);
        });
      } else if (info.bits === 6) {
        throw unsupported(tensor, 'is stored in int32_data and has no packed raw form in slmops yet');
      } else {
        // 4- and 2-bit: each int32 entry holds elementsPerInt32 elements, low bits first; raw packs 8/bits per byte.
        const per = elementsPerInt32(tensor.dataType);
        const mask = (1 << info.bits) - 1;
        for (let e = 0; e < count; e++) {
          const word = values[Math.floor(e / per)] ?? 0;
          const element = (word >> ((e % per) * info.bits)) & mask;
          const bitPos = e * info.bits;
          out[bitPos >> 3]! |= element << (bitPos & 7);
        }
      }
      break;
    }
    case 'stringData':
      throw unsupported(tensor, 'has no raw byte form');
  }
  return out;
}

/**
 * Typed-array view of little-endian raw bytes in the dtype's natural JS type. Copies only when the bytes are not
 * aligned for the element type. float16/bfloat16/float8 give their bit patterns; 4- and 2-bit types are unpacked
 * to one element per byte (Int8Array for signed types).
 */
export function rawToArray(dataType: number, bytes: Uint8Array, count: number): NumericArray {
  const info = dtypeInfo(dataType);
  if (!info || info.bits === 0)
    throw new ConfigurationError(`dtype ${dtypeName(dataType)} has no numeric array form`);
  const need = rawByteLength(dataType, count);
  if (bytes.length < need) {
    throw new ConfigurationError(
      `tensor data holds ${bytes.length} bytes but ${count} ${info.name} values need ${need}`,
      {
        fix: 'The model is damaged; re-export it',
      },
    );
  }
  const view = <T>(Ctor: {
    new (b: ArrayBufferLike, o: number, n: number): T;
    BYTES_PER_ELEMENT: number;
  }): T => {
    if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0)
      return new Ctor(bytes.buffer, bytes.byteOffset, count);
    const copy = new Uint8Array(count * Ctor.BYTES_PER_ELEMENT);
    copy.set(bytes.subarray(0, copy.length));
    return new Ctor(copy.buffer, 0, count);
  };
  switch (dataType) {
    case DataType.FLOAT:
      return view(Float32Array);
    case DataType.DOUBLE:
      return view(Float64Array);
    case DataType.INT8:
      return view(Int8Array);
    case DataType.UINT8:
    case DataType.BOOL:
      return view(Uint8Array);
    case DataType.INT16:
      return view(Int16Array);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return view(Uint16Array);
    case DataType.INT32:
      return view(Int32Array);
    case DataType.UINT32:
      return view(Uint32Array);
    case DataType.INT64:
      return view(BigInt64Array);
    case DataType.UINT64:
      return view(BigUint64Array);
    case DataType.COMPLEX64:
      return view(Float32Array);
    case DataType.COMPLEX128:
      return view(Float64Array);
    default:
      break;
  }
  if (info.bits === 8) return view(Uint8Array);
  if (info.bits === 4 || info.bits === 2) {
    const signed = dataType === DataType.INT4 || dataType === DataType.INT2;
    const out = signed ? new Int8Array(count) : new Uint8Array(count);
    const mask = (1 << info.bits) - 1;
    const signBit = 1 << (info.bits - 1);
    for (let e = 0; e < count; e++) {
      const bitPos = e * info.bits;
      let v = (bytes[bitPos >> 3]! >> (bitPos & 7)) & mask;
      if (signed && v & signBit) v -= 1 << info.bits;
      out[e] = v;
    }
    return out;
  }
  throw new ConfigurationError(`dtype ${info.name} has no numeric array form in slmops yet`);
}

/** Numeric values as float32 (float16/bfloat16 decoded; 64-bit integers rounded). */
export function arrayToFloat32(dataType: number, array: NumericArray): Float32Array {
  if (dataType === DataType.FLOAT && array instanceof Float32Array) return array;
  const out = new Float32Array(array.length);
  if (dataType === DataType.FLOAT16) {
    for (let i = 0; i < array.length; i++) out[i] = halfToFloat(array[i] as number);
  } else if (dataType === DataType.BFLOAT16) {
    for (let i = 0; i < array.length; i++) out[i] = bfloat16ToFloat(array[i] as number);
  } else if (array instanceof BigInt64Array || array instanceof BigUint64Array) {
    for (let i = 0; i < array.length; i++) out[i] = Number(array[i]);
  } else {
    const info = dtypeInfo(dataType);
    if (info?.isFloat && info.bits === 8)
      throw new ConfigurationError(`float8 values are not decoded by slmops yet`);
    out.set(array as ArrayLike<number>);
  }
  return out;
}

export function stringValues(tensor: TensorProto): string[] {
  const decoder = new TextDecoder();
  return tensor.stringData.map((s) => decoder.decode(s));
}
