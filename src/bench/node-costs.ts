/**
 * Per-node costs from onnxruntime's profiler: time, arithmetic work and bytes moved, so a node can be split into
 * its compute-bound and memory-bound parts.
 */
import type { GemmDims } from '../config/types.ts';
import type { ProfileEvent } from '../inference/session.ts';

export type { GemmDims };

export interface NodeCost {
  name: string;
  op: string;
  /** Mean time per run, µs. */
  us: number;
  /** Arithmetic operations per run (2 per multiply-add); 0 where only data moves. */
  ops: number;
  /** Whether those operations run on int8 kernels. */
  int8: boolean;
  /** Bytes read and written per run: weights, activations, outputs. */
  bytes: number;
  /**
   * A matrix product's shape as one GEMM: `m` rows (batch and leading dims folded in), reduction `k`, `n` columns;
   * absent without matrix work or when the profile gave no shapes.
   */
  dims?: GemmDims;
}

type Shapes = Record<string, number[]>[] | undefined;

function dimsOf(shapes: Shapes, index: number): number[] | undefined {
  const entry = shapes?.[index];
  return entry ? Object.values(entry)[0] : undefined;
}

const product = (dims: number[]): number => dims.reduce((a, b) => a * b, 1);

const INT8_OPS = new Set([
  'MatMulInteger',
  'DynamicQuantizeMatMul',
  'ConvInteger',
  'QLinearMatMul',
  'QLinearConv',
  'QGemm',
  'MatMulIntegerToFloat',
]);

/** The matrix product an op computes, as one GEMM [m, k]·[k, n]; undefined for ops without matrix work. */
function gemmDims(op: string, inputs: Shapes, outputs: Shapes): GemmDims | undefined {
  const a = dimsOf(inputs, 0);
  const out = dimsOf(outputs, 0);
  if (!a || !out || a.length === 0 || out.length === 0) return undefined;
  const size = product(out);
  switch (op) {
    case 'MatMul':
    case 'FusedMatMul':
    case 'MatMulInteger':
    case 'DynamicQuantizeMatMul':
    case 'MatMulIntegerToFloat':
    case 'QLinearMatMul':
    case 'MatMulNBits':
    case 'Gemm':
    case 'FusedGemm':
    case 'QGemm': {
      // Output [.., M, N] with reduction K: the last dim of A unless A is transposed (Gemm transA is rare).
      const n = out[out.length - 1]!;
      return n > 0 ? { m: size / n, k: a[a.length - 1]!, n } : undefined;
    }
    case 'Conv':
    case 'FusedConv':
    case 'NchwcConv':
    case 'ConvInteger':
    case 'QLinearConv': {
      // As im2col runs it: one row per output pixel, a column per output channel, reduction over the filter.
      const w = dimsOf(inputs, op === 'QLinearConv' ? 3 : 1);
      const n = out[1] ?? 0;
      return w && n > 0 ? { m: size / n, k: product(w.slice(1)), n } : undefined;
    }
    default:
      return undefined;
  }
}

/** Aggregates the kernel events of `runs` runs into a mean cost per node. */
export function nodeCosts(events: ProfileEvent[], runs: number): NodeCost[] {
  const byName = new Map<string, NodeCost>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const args = (e.args ?? {}) as Record<string, unknown>;
    const op = String(args.op_name ?? '');
    const name = e.name.slice(0, -'_kernel_time'.length);
    const inputs = args.input_type_shape as Shapes;
    const outputs = args.output_type_shape as Shapes;
    const bytes =
      Number(args.parameter_size ?? 0) + Number(args.activation_size ?? 0) + Number(args.output_size ?? 0);
    let entry = byName.get(name);
    if (!entry) {
      const dims = gemmDims(op, inputs, outputs);
      entry = {
        name,
        op,
        us: 0,
        ops: dims ? 2 * dims.m * dims.k * dims.n : 0,
        int8: INT8_OPS.has(op),
        bytes,
        ...(dims ? { dims } : {}),
      };
    }
    entry.us += e.dur / runs;
    byName.set(name, entry);
  }
  return [...byName.values()];
}
