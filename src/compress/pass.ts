/** What every compression pass shares: its context, and the statistics it reports per tensor. */
import type { OnnxModel } from '../onnx/model.ts';
import type { TensorProto } from '../onnx/proto.ts';
import type { Namer } from './graph.ts';
import type { KernelPool } from './kernel-pool.ts';

export interface PassContext {
  model: OnnxModel;
  namer: Namer;
  /** Progress and notes for long work (the CLI prints them on stderr, the action through core.info). */
  log: (message: string) => void;
  /**
   * Where quantization jobs run, given how many weights the pass will quantize (a pool of worker threads for a
   * large model, this thread for a small one).
   */
  kernels: (elements: number) => KernelPool;
  /**
   * Writes a new initializer's values to the output's data file now (and points it there), when the output has one;
   * passes call it for their large outputs as they make them.
   */
  place?: (tensor: TensorProto) => void;
  /**
   * Copies every initializer held in external data, except `replaced`, into the output's data file now: the last
   * pass calls (and awaits) it once it has handed its work to the worker threads, before placing its own outputs,
   * instead of leaving the copy for the end.
   */
  placeOthers?: (replaced: ReadonlySet<TensorProto>) => Promise<void>;
}

export interface TensorStat {
  name: string;
  /** The node that consumes the weight, when there is one. */
  node?: string;
  dtypeBefore: string;
  dtypeAfter: string;
  elementCount: number;
  /** Signal-to-quantization-noise ratio in dB (quantizing passes). */
  sqnrDb?: number;
  /** Share of zeros after the pass (pruning). */
  sparsity?: number;
}

export interface PassOutcome {
  tensors: TensorStat[];
  /** Weights the pass looked at and left alone, with why. */
  skipped: { name: string; reason: string }[];
  /** Facts worth reporting (graph form chosen, ops kept in fp32…). */
  notes: string[];
}

/** Signal-to-quantization-noise ratio in dB from the sums of squares of the weights and of the error. */
export function sqnrDb(signal: number, noise: number): number {
  if (noise === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10(signal / noise);
}

export function finite(value: number): number | undefined {
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : undefined;
}
