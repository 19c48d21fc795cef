/**
 * Per-node costs from onnxruntime's profiler: time, arithmetic work and bytes moved, so a node can be split into
 * its compute-bound and memory-bound parts.
 */
import type { ProfileEvent } from '../inference/session.ts';

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

/** Multiply-add work of the ops that do matrix products; 0 for the rest. */
export function arithmeticOps(op: string, inputs: Shapes, outputs: Shapes): number {
  const a = dimsOf(inputs, 0);
  const out = dimsOf(outputs, 0);
  if (!a || !out || a.length === 0 || out.length === 0) return 0;
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
      const k = a[a.length - 1]!;
      return 2 * product(out) * k;
    }
    case 'Conv':
    case 'FusedConv':
    case 'NchwcConv':
    case 'ConvInteger':
    case 'QLinearConv': {
      const w = dimsOf(inputs, op === 'QLinearConv' ? 3 : 1);
      return w ? 2 * product(out) * product(w.slice(1)) : 0;
    }
    default:
      return 0;
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
    const entry = byName.get(name) ?? {
      name,
      op,
      us: 0,
      ops: arithmeticOps(op, inputs, outputs),
      int8: INT8_OPS.has(op),
      bytes,
    };
    entry.us += e.dur / runs;
    byName.set(name, entry);
  }
  return [...byName.values()];
}
