/** What every compression pass shares: its context, and the statistics it reports per tensor. */
import type { OnnxModel } from '../onnx/model.ts';
import type { Namer } from './graph.ts';

export interface PassContext {
  model: OnnxModel;
  namer: Namer;
  /** Progress and notes for long work (the CLI prints them on stderr, the action through core.info). */
  log: (message: string) => void;
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

export function finite(value: number): number | undefined {
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : undefined;
}
