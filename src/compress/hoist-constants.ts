/**
 * Weights some exporters write as `Constant` nodes rather than initializers (a folded graph, a hand-built one). The
 * passes look for initializers, so before they run, each `Constant` whose `value` is a float matrix (2-D or more)
 * becomes the initializer of the same name, as onnxruntime itself treats it at load. Scalars and vectors stay
 * nodes: they are shapes, axes and thresholds, not weights.
 */
import { DataType } from '../onnx/dtypes.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import { scopedInitializers } from './graph.ts';

function constantWeight(node: NodeProto): TensorProto | undefined {
  if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  if (node.attribute.length !== 1 || node.attribute[0]!.name !== 'value' || !node.output[0]) return undefined;
  const value = node.attribute[0]!.t;
  if (!value || (value.dataType !== DataType.FLOAT && value.dataType !== DataType.FLOAT16)) return undefined;
  return value.dims.length >= 2 ? value : undefined;
}

/** Moves every float matrix held by a `Constant` node of the model's graphs into an initializer; returns how many. */
export function hoistConstantWeights(model: ModelProto): number {
  let moved = 0;
  const hoisted = new Set<TensorProto>();
  forEachGraph(model, ({ graph, scope }) => {
    if (!scope.startsWith('graph')) return; // training graphs are left as they are
    const kept: NodeProto[] = [];
    for (const node of graph.node) {
      const weight = constantWeight(node);
      if (!weight) {
        kept.push(node);
        continue;
      }
      // The tensor itself, renamed: the model knows where an external tensor's data lives by the tensor object.
      // Two Constant nodes holding one tensor object get a copy for the second (inline data only, then).
      if (hoisted.has(weight)) {
        graph.initializer.push({ ...weight, name: node.output[0]! });
      } else {
        weight.name = node.output[0]!;
        graph.initializer.push(weight);
        hoisted.add(weight);
      }
      moved += 1;
    }
    graph.node = kept;
  });
  return moved;
}

/**
 * Bypasses every `Identity` of a weight (an initializer the node's graph can read), as onnxruntime removes them at
 * load: its readers, in its graph and the subgraphs below, read the weight itself. Exporters route a shared (tied)
 * weight through an Identity. An Identity whose output is a graph output stays. Returns how many were bypassed.
 */
export function bypassWeightIdentities(model: ModelProto): number {
  const scopeOf = scopedInitializers(model);
  let bypassed = 0;
  const renameReads = (nodes: readonly NodeProto[], from: string, to: string): void => {
    for (const n of nodes) {
      n.input = n.input.map((i) => (i === from ? to : i));
      for (const a of n.attribute) {
        if (a.g) renameReads(a.g.node, from, to);
        for (const g of a.graphs ?? []) renameReads(g.node, from, to);
      }
    }
  };
  forEachGraph(model, ({ graph, scope }) => {
    if (!scope.startsWith('graph')) return;
    const visible = scopeOf(graph);
    const outputs = new Set(graph.output.map((o) => o.name));
    const kept: NodeProto[] = [];
    const renames: [string, string][] = [];
    for (const node of graph.node) {
      const input = node.input[0] ?? '';
      const output = node.output[0] ?? '';
      const isDefault = !node.domain || node.domain === 'ai.onnx';
      if (node.opType === 'Identity' && isDefault && visible.has(input) && output && !outputs.has(output)) {
        renames.push([output, input]);
        bypassed += 1;
      } else kept.push(node);
    }
    graph.node = kept;
    for (const [from, to] of renames) renameReads(graph.node, from, to);
  });
  return bypassed;
}
