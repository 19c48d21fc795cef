/**
 * ONNX protobuf messages, decoded and encoded with protobufjs from the schema in `onnx.proto` (onnx 1.23.1).
 * `onnx-proto.json` is generated from it by `scripts/gen-proto.mjs`; field names are camelCase.
 *
 * Decoded `bytes` fields are views into the buffer they were decoded from (no copy), so a model read from a file
 * keeps that file's buffer alive and costs about its size in memory.
 */
import Long from 'long';
import protobuf from 'protobufjs/light.js';
import descriptor from './onnx-proto.json' with { type: 'json' };

// Bundlers hide `long` from protobufjs' own lookup: without it, int64 fields decode lossily as doubles.
protobuf.util.Long = Long;
protobuf.configure();

const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

export type Int64 = number | Long;

export interface StringStringEntryProto {
  key: string;
  value: string;
}

export interface OperatorSetIdProto {
  domain: string;
  version: Int64;
}

export interface TensorShapeDimension {
  dimValue?: Int64 | null;
  dimParam?: string | null;
  denotation?: string;
}

export interface TensorShapeProto {
  dim: TensorShapeDimension[];
}

export interface TypeProto {
  tensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  sequenceType?: { elemType?: TypeProto | null } | null;
  mapType?: { keyType: number; valueType?: TypeProto | null } | null;
  optionalType?: { elemType?: TypeProto | null } | null;
  sparseTensorType?: { elemType: number; shape?: TensorShapeProto | null } | null;
  denotation?: string;
}

export interface ValueInfoProto {
  name: string;
  type?: TypeProto | null;
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

export interface TensorProto {
  dims: Int64[];
  dataType: number;
  segment?: { begin: Int64; end: Int64 } | null;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: Int64[];
  name: string;
  docString?: string;
  rawData: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation: number;
  doubleData: number[];
  uint64Data: Int64[];
  metadataProps?: StringStringEntryProto[];
}

export interface SparseTensorProto {
  values?: TensorProto | null;
  indices?: TensorProto | null;
  dims: Int64[];
}

export interface AttributeProto {
  name: string;
  refAttrName?: string;
  docString?: string;
  type: number;
  f: number;
  i: Int64;
  s: Uint8Array;
  t?: TensorProto | null;
  g?: GraphProto | null;
  sparseTensor?: SparseTensorProto | null;
  tp?: TypeProto | null;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps?: StringStringEntryProto[];
}

export interface GraphProto {
  node: NodeProto[];
  name: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation?: unknown[];
  metadataProps?: StringStringEntryProto[];
}

export interface FunctionProto {
  name: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps?: StringStringEntryProto[];
}

export interface TrainingInfoProto {
  initialization?: GraphProto | null;
  algorithm?: GraphProto | null;
}

export interface ModelProto {
  irVersion: Int64;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: Int64;
  docString: string;
  graph?: GraphProto | null;
  metadataProps: StringStringEntryProto[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
  configuration?: unknown[];
}

const modelType = root.lookupType('onnx.ModelProto');
const tensorType = root.lookupType('onnx.TensorProto');

/** Decodes a serialized `ModelProto`; throws protobufjs' errors on malformed input (callers wrap them). */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return modelType.decode(bytes) as unknown as ModelProto;
}

/** Serializes a `ModelProto` (decoded or built from plain objects with the same field names). */
export function encodeModelProto(model: ModelProto): Uint8Array {
  return modelType.encode(model as unknown as protobuf.Message).finish();
}

export function encodeTensorProto(tensor: TensorProto): Uint8Array {
  return tensorType.encode(tensor as unknown as protobuf.Message).finish();
}

export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  return tensorType.decode(bytes) as unknown as TensorProto;
}

/** A new `TensorProto` with every field at its protobuf default, then `fields` applied. */
export function createTensorProto(fields: Partial<TensorProto>): TensorProto {
  return tensorType.create(fields as Record<string, unknown>) as unknown as TensorProto;
}

/** int64 protobuf value → JS number (exact up to 2^53; dims and counts never exceed it). */
export function toNumber(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** int64 protobuf value → bigint, exact over the whole int64 range. */
export function toBigInt(value: Int64, unsigned = false): bigint {
  if (typeof value === 'number') return BigInt(value);
  const lo = BigInt(value.low >>> 0);
  const hi = BigInt(value.high >>> 0);
  const raw = (hi << 32n) | lo;
  return unsigned || value.unsigned ? raw : BigInt.asIntN(64, raw);
}

export function fromBigInt(value: bigint, unsigned = false): Long {
  const wrapped = BigInt.asUintN(64, value);
  return new Long(Number(wrapped & 0xffffffffn) | 0, Number(wrapped >> 32n) | 0, unsigned);
}

export const DataLocation = { Default: 0, External: 1 } as const;

export const AttributeType = {
  Undefined: 0,
  Float: 1,
  Int: 2,
  String: 3,
  Tensor: 4,
  Graph: 5,
  Floats: 6,
  Ints: 7,
  Strings: 8,
  Tensors: 9,
  Graphs: 10,
  SparseTensor: 11,
  SparseTensors: 12,
  TypeProto: 13,
  TypeProtos: 14,
} as const;
