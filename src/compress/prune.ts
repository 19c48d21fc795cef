/**
 * prune: magnitude pruning of MatMul, Gemm and Conv weights. Unstructured (to a target sparsity per tensor, or one
 * global threshold over all selected tensors) or N:M semi-structured 2:4 (in every group of 4 consecutive weights
 * along the reduction axis, the 2 smallest become zero). Weights stay float32: the zeros compress well in a
 * download (gzip) and feed later passes (`prune:0.5+int8`).
 */
import { DataType } from '../onnx/dtypes.ts';
import type { GraphProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import {
  floatTensor,
  type InitializerScope,
  intAttr,
  isDefaultDomain,
  scopedInitializers,
  shapeOf,
  weightValues,
} from './graph.ts';
import type { PassContext, PassOutcome } from './pass.ts';
import type { PruneOptions, Selection } from './recipe-spec.ts';
import { applySelection, type Candidate } from './select.ts';

interface PruneCandidate extends Candidate {
  weight: TensorProto;
  graph: GraphProto;
  /** Length of the reduction axis and the stride between its consecutive elements. */
  reduceLength: number;
  reduceStride: number;
}

const WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

function candidates(
  graphs: GraphProto[],
  scopeOf: (graph: GraphProto) => InitializerScope,
): PruneCandidate[] {
  const found: PruneCandidate[] = [];
  const seen = new Set<TensorProto>();
  for (const graph of graphs) {
    const scope = scopeOf(graph);
    for (const n of graph.node) {
      if (!WEIGHT_OPS.has(n.opType) || !isDefaultDomain(n)) continue;
      const ref = scope.get(n.input[1] ?? '');
      const weight = ref?.tensor;
      if (!ref || !weight || weight.dataType !== DataType.FLOAT || seen.has(weight)) continue;
      const dims = shapeOf(weight);
      if (dims.length < 2) continue;
      seen.add(weight);
      const elements = dims.reduce((a, b) => a * b, 1);
      let reduceLength: number;
      let reduceStride: number;
      if (n.opType === 'Conv') {
        reduceLength = elements / dims[0]!; // [M, C/group, kh, kw]: everything after M is reduced
        reduceStride = 1;
      } else if (n.opType === 'Gemm' && intAttr(n, 'transB', 0) === 1) {
        reduceLength = dims[1]!; // [N, K]
        reduceStride = 1;
      } else {
        reduceLength = dims[dims.length - 2]!; // [.., K, N]
        reduceStride = dims[dims.length - 1]!;
      }
      found.push({
        op: n.opType,
        nodeName: n.name,
        weightName: weight.name,
        elements,
        weight,
        graph: ref.graph,
        reduceLength,
        reduceStride,
      });
    }
  }
  return found;
}

/** The magnitude below which `sparsity` of `magnitudes` lies (exact, by sorting a copy). */
function threshold(magnitudes: Float32Array, sparsity: number): number {
  if (sparsity <= 0 || magnitudes.length === 0) return -1;
  const sorted = magnitudes.slice().sort();
  const k = Math.min(sorted.length - 1, Math.floor(sparsity * sorted.length) - 1);
  return k < 0 ? -1 : sorted[k]!;
}

function magnitudes(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.abs(values[i]!);
  return out;
}

/** Zeros the smallest `keep`-complement in every group of 4 along the reduction axis (2:4). */
function prune24(values: Float32Array, c: PruneCandidate): void {
  const outer = values.length / (c.reduceLength * c.reduceStride);
  const group = [0, 0, 0, 0];
  for (let o = 0; o < outer; o++) {
    for (let s = 0; s < c.reduceStride; s++) {
      for (let k = 0; k + 4 <= c.reduceLength; k += 4) {
        for (let j = 0; j < 4; j++) group[j] = (o * c.reduceLength + k + j) * c.reduceStride + s;
        const order = [0, 1, 2, 3].sort(
          (a, b) => Math.abs(values[group[a]!]!) - Math.abs(values[group[b]!]!),
        );
        values[group[order[0]!]!] = 0;
        values[group[order[1]!]!] = 0;
      }
    }
  }
}

export function prune(ctx: PassContext, options: PruneOptions, select: Selection): PassOutcome {
  const outcome: PassOutcome = { tensors: [], skipped: [], notes: [] };
  const graphs: GraphProto[] = [];
  forEachGraph(ctx.model.proto, ({ graph }) => graphs.push(graph));
  const chosen = applySelection(candidates(graphs, scopedInitializers(ctx.model.proto)), select);
  if (chosen.length === 0) return outcome;

  let globalThreshold = -1;
  if (options.pattern === 'unstructured' && options.scope === 'global') {
    // One threshold over every selected weight: a histogram of magnitudes, in two streaming passes.
    let max = 0;
    // Read-only scans: the model's scratch buffer is enough (no copy).
    for (const c of chosen)
      for (const v of ctx.model.tensorFloat32(c.weight, { reuse: true })) max = Math.max(max, Math.abs(v));
    const bins = 1 << 16;
    const histogram = new Float64Array(bins);
    let total = 0;
    for (const c of chosen) {
      for (const v of ctx.model.tensorFloat32(c.weight, { reuse: true })) {
        histogram[Math.min(bins - 1, Math.floor((Math.abs(v) / (max || 1)) * bins))]! += 1;
        total += 1;
      }
    }
    let cumulative = 0;
    for (let b = 0; b < bins; b++) {
      cumulative += histogram[b]!;
      if (cumulative >= options.sparsity * total) {
        globalThreshold = ((b + 1) / bins) * max;
        break;
      }
    }
  }

  for (const c of chosen) {
    ctx.log(`prune: ${c.weightName}`);
    const values = weightValues(ctx.model, c.weight);
    if (options.pattern === '2:4') {
      if (c.reduceLength % 4 !== 0) {
        outcome.skipped.push({
          name: c.weightName,
          reason: `reduction axis of ${c.reduceLength} is not a multiple of 4`,
        });
        continue;
      }
      prune24(values, c);
    } else {
      const limit =
        options.scope === 'global' ? globalThreshold : threshold(magnitudes(values), options.sparsity);
      for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) <= limit) values[i] = 0;
    }
    let zeros = 0;
    for (const v of values) if (v === 0) zeros += 1;
    const replacement = floatTensor(c.weightName, shapeOf(c.weight), values);
    c.graph.initializer[c.graph.initializer.indexOf(c.weight)] = replacement;
    ctx.place?.(replacement);
    outcome.tensors.push({
      name: c.weightName,
      node: c.nodeName,
      dtypeBefore: 'float32',
      dtypeAfter: 'float32',
      elementCount: c.elements,
      sparsity: Math.round((zeros / values.length) * 10000) / 10000,
    });
  }
  outcome.notes.push(
    options.pattern === '2:4'
      ? `2:4 semi-structured pruning of ${outcome.tensors.length} weights along their reduction axis`
      : `magnitude pruning of ${outcome.tensors.length} weights to ${options.sparsity} sparsity (${options.scope})`,
  );
  return outcome;
}
