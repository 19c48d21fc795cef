/**
 * fp16: float32 weights stored as float16, each followed by a Cast back to float32. The file halves; inputs,
 * outputs and compute stay float32, so every operator keeps its fp32 CPU kernel (onnxruntime folds the Casts at
 * load). Weights feeding operators in the block list keep float32: those use constants as sizes, thresholds or
 * indices, where fp16 rounding changes behaviour, not only precision.
 */

import { ConfigurationError } from '../errors.ts';
import { DataType } from '../onnx/dtypes.ts';
import { floatToHalf, halfToFloat } from '../onnx/float16.ts';
import type { GraphProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import { initializerIndex, node, shapeOf, tensor, weightValues } from './graph.ts';
import { finite, type PassContext, type PassOutcome } from './pass.ts';
import type { Fp16Options, Selection } from './recipe-spec.ts';
import { applySelection, type Candidate } from './select.ts';

/** Operators whose constant inputs stay float32 (as onnxconverter-common's float16 converter blocks them). */
export const FP16_BLOCK_LIST = [
  'Resize',
  'Upsample',
  'Range',
  'CumSum',
  'TopK',
  'NonMaxSuppression',
  'RoiAlign',
  'ConstantOfShape',
  'Clip',
  'Min',
  'Max',
  'RandomNormalLike',
  'RandomUniformLike',
] as const;

/** The largest finite float16; a weight with larger values would turn into infinities. */
const FP16_MAX = 65504;

/** Float32 weights smaller than this stay float32: converting them saves nothing and scalars steer numerics. */
const MIN_ELEMENTS = 64;

interface Fp16Candidate extends Candidate {
  weight: TensorProto;
}

/**
 * The nodes reading each value of `graph`: its own nodes, and those of its subgraphs that read it from around them
 * (an If branch reading a weight of the main graph; the Cast that replaces the weight keeps its name for them).
 */
function consumersOf(graph: GraphProto): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>();
  const visit = (nodes: readonly NodeProto[]): void => {
    for (const n of nodes) {
      for (const i of n.input) if (i) map.set(i, [...(map.get(i) ?? []), n]);
      for (const a of n.attribute) {
        if (a.g) visit(a.g.node);
        for (const g of a.graphs ?? []) visit(g.node);
      }
    }
  };
  visit(graph.node);
  return map;
}

export function convertFp16(ctx: PassContext, options: Fp16Options, select: Selection): PassOutcome {
  if (!options.keepIo) {
    throw new ConfigurationError(
      'fp16:keep-io=false (float16 model inputs and outputs) is not supported yet',
      {
        subject: 'recipe',
        fix: 'Use fp16 (keep-io=true): weights are stored in float16 and the model keeps float32 inputs and outputs',
      },
    );
  }
  const blocked = new Set<string>([...FP16_BLOCK_LIST, ...options.blockOps]);
  const outcome: PassOutcome = { tensors: [], skipped: [], notes: [] };
  const graphs: GraphProto[] = [];
  forEachGraph(ctx.model.proto, ({ graph }) => graphs.push(graph));
  let converted = 0;
  // Graphs declaring each name: a weight whose name another graph declares too (a subgraph shadowing it) is left
  // float32, as the Cast that replaces it would assign the name a second time.
  const declarations = new Map<string, number>();
  for (const graph of graphs) {
    const names = new Set([
      ...graph.input.map((v) => v.name),
      ...graph.initializer.map((t) => t.name),
      ...graph.node.flatMap((n) => n.output),
    ]);
    for (const name of names) declarations.set(name, (declarations.get(name) ?? 0) + 1);
  }
  for (const graph of graphs) {
    const consumers = consumersOf(graph);
    const outputs = new Set(graph.output.map((o) => o.name));
    const candidates: Fp16Candidate[] = [];
    for (const weight of graph.initializer) {
      if (weight.dataType !== DataType.FLOAT) continue;
      const users = consumers.get(weight.name) ?? [];
      const elements = shapeOf(weight).reduce((a, b) => a * b, 1);
      if (elements < MIN_ELEMENTS || users.length === 0 || outputs.has(weight.name)) continue;
      if ((declarations.get(weight.name) ?? 0) > 1) {
        outcome.skipped.push({
          name: weight.name,
          reason: 'another graph (a subgraph) declares the same name, so a Cast to it would assign it twice',
        });
        continue;
      }
      const block = users.find((u) => blocked.has(u.opType));
      if (block) {
        outcome.skipped.push({
          name: weight.name,
          reason: `read by ${block.opType}, which is in the fp16 block list`,
        });
        continue;
      }
      candidates.push({
        op: users[0]!.opType,
        nodeName: users[0]!.name,
        weightName: weight.name,
        elements,
        weight,
      });
    }
    const chosen = applySelection(candidates, select);
    if (chosen.length === 0) continue;
    const index = initializerIndex(graph);
    const casts: NodeProto[] = [];
    for (const c of chosen) {
      const values = weightValues(ctx.model, c.weight);
      let largest = 0;
      for (let i = 0; i < values.length; i++) largest = Math.max(largest, Math.abs(values[i]!));
      if (largest > FP16_MAX) {
        outcome.skipped.push({
          name: c.weightName,
          reason: `holds values up to ${largest.toPrecision(3)}, beyond float16's ${FP16_MAX}: kept float32`,
        });
        continue;
      }
      const half = new Uint16Array(values.length);
      let signal = 0;
      let noise = 0;
      for (let i = 0; i < values.length; i++) {
        const h = floatToHalf(values[i]!);
        half[i] = h;
        const v = values[i]!;
        const r = halfToFloat(h);
        signal += v * v;
        noise += (v - r) * (v - r);
      }
      const name16 = ctx.namer.unique(`${c.weightName}_fp16`);
      const half16 = tensor(name16, DataType.FLOAT16, shapeOf(c.weight), new Uint8Array(half.buffer));
      graph.initializer[graph.initializer.indexOf(index.get(c.weightName)!)] = half16;
      ctx.place?.(half16);
      casts.push(
        node('Cast', [name16], [c.weightName], {
          name: ctx.namer.unique(`${c.weightName}_cast_fp32`),
          attributes: { to: DataType.FLOAT },
        }),
      );
      const graphInput = graph.input.findIndex((v) => v.name === c.weightName);
      if (graphInput >= 0) graph.input.splice(graphInput, 1);
      const sqnr = finite(noise === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10(signal / noise));
      outcome.tensors.push({
        name: c.weightName,
        node: c.nodeName,
        dtypeBefore: 'float32',
        dtypeAfter: 'float16',
        elementCount: c.elements,
        ...(sqnr === undefined ? {} : { sqnrDb: sqnr }),
      });
      converted += 1;
    }
    graph.node = [...casts, ...graph.node];
  }
  if (converted) {
    outcome.notes.push(
      `${converted} float32 weights stored as float16 with a Cast to float32 after each; inputs, outputs and compute stay float32`,
    );
  }
  return outcome;
}
