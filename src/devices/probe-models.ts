/**
 * The one-operator ONNX models the calibration probes run in onnxruntime: an fp32 GEMM, the int8 GEMM that dynamic
 * quantization produces (onnxruntime fuses it into DynamicQuantizeMatMul), and a weight-streaming GEMV whose weight
 * is written as external data so a large one never sits in a JavaScript buffer and in the protobuf at once.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { floatTensor, node, tensor } from '../compress/graph.ts';
import { DataType } from '../onnx/dtypes.ts';
import {
  createTensorProto,
  DataLocation,
  encodeModelProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../onnx/proto.ts';

export function valueInfo(name: string, elemType: number, dims: number[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

/** A ModelProto at IR 8 / opset 17 with every field protobufjs needs (probe models here and in benchmarks/). */
export function modelProto(
  name: string,
  nodes: NodeProto[],
  inputs: ValueInfoProto[],
  outputs: ValueInfoProto[],
  initializers: TensorProto[],
): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'slmops-calibrate',
    producerVersion: '',
    domain: '',
    modelVersion: 0,
    docString: '',
    metadataProps: [],
    trainingInfo: [],
    functions: [],
    graph: {
      name,
      node: nodes,
      initializer: initializers,
      sparseInitializer: [],
      input: inputs,
      output: outputs,
      valueInfo: [],
    },
  };
}

/** Deterministic values in [-1, 1) (a 32-bit LCG: fast enough for hundreds of MiB). */
export function fillPattern(values: Float32Array, seed = 1): Float32Array {
  let s = seed >>> 0;
  for (let i = 0; i < values.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    values[i] = s / 2 ** 31 - 1;
  }
  return values;
}

/** Deterministic bytes (the same LCG as `fillPattern`): int8 and packed int4 weights for probes. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** `Y[m,n] = A[m,k] · B[k,n]`, fp32, B a constant initializer (so onnxruntime prepacks it, as for real weights). */
export function fp32GemmModel(m: number, k: number, n: number): Uint8Array {
  const b = fillPattern(new Float32Array(k * n), 7);
  for (let i = 0; i < b.length; i++) b[i] = b[i]! * 0.05;
  return encodeModelProto(
    modelProto(
      'calibrate-fp32-gemm',
      [node('MatMul', ['A', 'B'], ['Y'])],
      [valueInfo('A', DataType.FLOAT, [m, k])],
      [valueInfo('Y', DataType.FLOAT, [m, n])],
      [floatTensor('B', [k, n], b)],
    ),
  );
}

/**
 * The dynamic-quantization int8 GEMM, as `quantize_dynamic` writes it: DynamicQuantizeLinear(A) → MatMulInteger with
 * int8 weights → Cast → Mul by the product of the scales. onnxruntime fuses the chain into one
 * DynamicQuantizeMatMul (u8 × s8 through MLAS: VNNI/AVX2 on x86, dot product or i8mm on Arm).
 */
export function int8GemmModel(m: number, k: number, n: number): Uint8Array {
  return encodeModelProto(
    modelProto(
      'calibrate-int8-gemm',
      [
        node('DynamicQuantizeLinear', ['A'], ['A_q', 'A_scale', 'A_zp']),
        node('MatMulInteger', ['A_q', 'W_q', 'A_zp', 'W_zp'], ['Y_i32']),
        node('Cast', ['Y_i32'], ['Y_f'], { attributes: { to: DataType.FLOAT } }),
        node('Mul', ['A_scale', 'W_scale'], ['scale']),
        node('Mul', ['Y_f', 'scale'], ['Y']),
      ],
      [valueInfo('A', DataType.FLOAT, [m, k])],
      [valueInfo('Y', DataType.FLOAT, [m, n])],
      [
        tensor('W_q', DataType.INT8, [k, n], patternBytes(k * n, 11)),
        tensor('W_zp', DataType.INT8, [], new Uint8Array(1)),
        floatTensor('W_scale', [], new Float32Array([0.01])),
      ],
    ),
  );
}

/**
 * Writes `gemv.onnx` and its external data `gemv.weights` into `dir`: `y[1,n] = x[1,k] · W[k,n]`, fp32, W a
 * constant initializer of `k·n·4` bytes. The weight is written in chunks, so its size costs no JavaScript memory.
 * Returns the model's path.
 */
export function writeGemvModel(dir: string, k: number, n: number): string {
  const dataFile = 'gemv.weights';
  const weightBytes = k * n * 4;
  const fd = openSync(join(dir, dataFile), 'w');
  try {
    const chunkRows = Math.max(1, Math.floor((8 * 2 ** 20) / (n * 4)));
    const chunk = new Float32Array(chunkRows * n);
    fillPattern(chunk, 3);
    for (let i = 0; i < chunk.length; i++) chunk[i] = chunk[i]! * 0.05;
    for (let row = 0; row < k; row += chunkRows) {
      const rows = Math.min(chunkRows, k - row);
      writeSync(fd, new Uint8Array(chunk.buffer, 0, rows * n * 4));
    }
  } finally {
    closeSync(fd);
  }
  const weight = createTensorProto({
    name: 'W',
    dataType: DataType.FLOAT,
    dims: [k, n],
    dataLocation: DataLocation.External,
    externalData: [
      { key: 'location', value: dataFile },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(weightBytes) },
    ],
  });
  const proto = modelProto(
    'calibrate-gemv',
    [node('MatMul', ['x', 'W'], ['y'])],
    [valueInfo('x', DataType.FLOAT, [1, k])],
    [valueInfo('y', DataType.FLOAT, [1, n])],
    [weight],
  );
  const path = join(dir, 'gemv.onnx');
  const fdModel = openSync(path, 'w');
  try {
    writeSync(fdModel, encodeModelProto(proto));
  } finally {
    closeSync(fdModel);
  }
  return path;
}
