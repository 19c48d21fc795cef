/** ONNX tensor element types (`TensorProto.DataType`): names, bit widths and how values are stored. */

export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
  FLOAT6E2M3: 27,
  FLOAT6E3M2: 28,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** Where the values of a dtype live when a tensor does not use `raw_data`. */
export type TypedField = 'floatData' | 'int32Data' | 'int64Data' | 'doubleData' | 'uint64Data' | 'stringData';

export interface DTypeInfo {
  readonly id: number;
  /** Lowercase short name as tools print it: float32, int8, float16, bfloat16, int4 … */
  readonly name: string;
  /** Bits per element in `raw_data` (0 for strings). */
  readonly bits: number;
  readonly field: TypedField;
  readonly isFloat: boolean;
}

const table: DTypeInfo[] = [
  { id: DataType.FLOAT, name: 'float32', bits: 32, field: 'floatData', isFloat: true },
  { id: DataType.UINT8, name: 'uint8', bits: 8, field: 'int32Data', isFloat: false },
  { id: DataType.INT8, name: 'int8', bits: 8, field: 'int32Data', isFloat: false },
  { id: DataType.UINT16, name: 'uint16', bits: 16, field: 'int32Data', isFloat: false },
  { id: DataType.INT16, name: 'int16', bits: 16, field: 'int32Data', isFloat: false },
  { id: DataType.INT32, name: 'int32', bits: 32, field: 'int32Data', isFloat: false },
  { id: DataType.INT64, name: 'int64', bits: 64, field: 'int64Data', isFloat: false },
  { id: DataType.STRING, name: 'string', bits: 0, field: 'stringData', isFloat: false },
  { id: DataType.BOOL, name: 'bool', bits: 8, field: 'int32Data', isFloat: false },
  { id: DataType.FLOAT16, name: 'float16', bits: 16, field: 'int32Data', isFloat: true },
  { id: DataType.DOUBLE, name: 'float64', bits: 64, field: 'doubleData', isFloat: true },
  { id: DataType.UINT32, name: 'uint32', bits: 32, field: 'uint64Data', isFloat: false },
  { id: DataType.UINT64, name: 'uint64', bits: 64, field: 'uint64Data', isFloat: false },
  { id: DataType.COMPLEX64, name: 'complex64', bits: 64, field: 'floatData', isFloat: true },
  { id: DataType.COMPLEX128, name: 'complex128', bits: 128, field: 'doubleData', isFloat: true },
  { id: DataType.BFLOAT16, name: 'bfloat16', bits: 16, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT8E4M3FN, name: 'float8e4m3fn', bits: 8, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT8E4M3FNUZ, name: 'float8e4m3fnuz', bits: 8, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT8E5M2, name: 'float8e5m2', bits: 8, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT8E5M2FNUZ, name: 'float8e5m2fnuz', bits: 8, field: 'int32Data', isFloat: true },
  { id: DataType.UINT4, name: 'uint4', bits: 4, field: 'int32Data', isFloat: false },
  { id: DataType.INT4, name: 'int4', bits: 4, field: 'int32Data', isFloat: false },
  { id: DataType.FLOAT4E2M1, name: 'float4e2m1', bits: 4, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT8E8M0, name: 'float8e8m0', bits: 8, field: 'int32Data', isFloat: true },
  { id: DataType.UINT2, name: 'uint2', bits: 2, field: 'int32Data', isFloat: false },
  { id: DataType.INT2, name: 'int2', bits: 2, field: 'int32Data', isFloat: false },
  { id: DataType.FLOAT6E2M3, name: 'float6e2m3', bits: 6, field: 'int32Data', isFloat: true },
  { id: DataType.FLOAT6E3M2, name: 'float6e3m2', bits: 6, field: 'int32Data', isFloat: true },
];

const byId = new Map(table.map((info) => [info.id, info]));

/** The dtype's description, or undefined for an id this version of ONNX does not define. */
export function dtypeInfo(id: number): DTypeInfo | undefined {
  return byId.get(id);
}

export function dtypeName(id: number): string {
  return byId.get(id)?.name ?? `unknown(${id})`;
}

/** Bytes that `count` elements occupy in `raw_data` (sub-byte types are packed, padded to a whole byte). */
export function rawByteLength(id: number, count: number): number {
  const info = byId.get(id);
  if (!info || info.bits === 0) return 0;
  return Math.ceil((count * info.bits) / 8);
}

/** How many elements one `int32_data` entry holds for this dtype (2 for 4-bit types, 4 for 2-bit types). */
export function elementsPerInt32(id: number): number {
  const info = byId.get(id);
  if (!info) return 1;
  if (info.bits === 4) return 2;
  if (info.bits === 2) return 4;
  return 1;
}
