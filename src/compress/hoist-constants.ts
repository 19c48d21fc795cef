/**
 * Weights that reach their products through a node: the passes look for products whose weights are initializers,
 * so before they run, compress does what onnxruntime does at load.
 * - A `Constant` whose `value` is a float matrix (2-D or more) becomes the initializer of the same name (a folded
 *   graph, a hand-built one). Scalars and vectors stay nodes: they are shapes, axes and thresholds, not weights.
 * - An `Identity` of a weight is bypassed (exporters route a shared, tied weight through one).
 * - A `Transpose` of a float32 weight nothing else reads is folded into a transposed weight.
 */
import { DataType } from '../onnx/dtypes.ts';
import type { OnnxModel } from '../onnx/model.ts';
import type { ModelProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import { countConsumers, floatTensor, isDefaultDomain, scopedInitializers } from './graph.ts';

/** The weight a node holds: a `Constant` whose `value` is a float matrix, without attribute reference. */
export function constantWeight(node: NodeProto): TensorProto | undefined {
  if (node.opType !== 'Constant' || !isDefaultDomain(node)) return undefined;
  const value = node.attribute.length === 1 ? node.attribute[0] : undefined;
  if (value?.name !== 'value' || value.refAttrName || !value.t || node.output.length !== 1) return undefined;
  const type = value.t.dataType;
  return (type === DataType.FLOAT || type === DataType.FLOAT16) && value.t.dims.length >= 2
    ? value.t
    : undefined;
}

/** Moves every float matrix held by a `Constant` node of the model's graphs into an initializer; returns how many. */
export function hoistConstantWeights(model: ModelProto): number {
  let moved = 0;
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
      weight.name = node.output[0]!;
      graph.initializer.push(weight);
      moved += 1;
    }
    graph.node = kept;
  });
  return moved;
}

/** The names a subgraph and the subgraphs below it declare: inputs, initializers and node outputs. */
function declaredBelow(nodes: readonly NodeProto[]): Set<string> {
  const names = new Set<string>();
  const visit = (list: readonly NodeProto[]): void => {
    for (const n of list) {
      for (const a of n.attribute) {
        for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
          for (const v of g.input) names.add(v.name);
          for (const t of g.initializer) names.add(t.name);
          for (const m of g.node) for (const o of m.output) names.add(o);
          visit(g.node);
        }
      }
    }
  };
  visit(nodes);
  return names;
}

/**
 * Bypasses every `Identity` of a weight (an initializer the node's graph can read), chains of them included, as
 * onnxruntime removes them at load: its readers, in its graph and the subgraphs below, read the weight itself.
 * Exporters route a shared (tied) weight through an Identity. An Identity stays when its output is a graph output,
 * or when a subgraph below declares its name or the weight's (a rename there would read another value). Returns how
 * many were bypassed.
 */
export function bypassWeightIdentities(model: ModelProto): number {
  const scopeOf = scopedInitializers(model);
  let bypassed = 0;
  const renameReads = (nodes: readonly NodeProto[], aliases: Map<string, string>): void => {
    for (const n of nodes) {
      n.input = n.input.map((i) => aliases.get(i) ?? i);
      for (const a of n.attribute) {
        if (a.g) renameReads(a.g.node, aliases);
        for (const g of a.graphs ?? []) renameReads(g.node, aliases);
      }
    }
  };
  forEachGraph(model, ({ graph, scope }) => {
    if (!scope.startsWith('graph')) return;
    const visible = scopeOf(graph);
    const outputs = new Set(graph.output.map((o) => o.name));
    const below = declaredBelow(graph.node);
    /** Identity outputs bypassed so far, to the weight each stands for. */
    const aliases = new Map<string, string>();
    graph.node = graph.node.filter((node) => {
      const input = node.input[0] ?? '';
      const weight = aliases.get(input) ?? (visible.has(input) ? input : undefined);
      const output = node.output[0] ?? '';
      const bypass =
        node.opType === 'Identity' &&
        isDefaultDomain(node) &&
        weight !== undefined &&
        output !== '' &&
        !outputs.has(output) &&
        !below.has(output) &&
        !below.has(weight);
      if (bypass) {
        aliases.set(output, weight);
        bypassed += 1;
      }
      return !bypass;
    });
    if (aliases.size) renameReads(graph.node, aliases);
  });
  return bypassed;
}

/** `values` of `dims` with their axes in the order `perm` (ONNX Transpose). */
export function transposeValues(values: Float32Array, dims: number[], perm: number[]): Float32Array {
  const rank = dims.length;
  const outDims = perm.map((p) => dims[p]!);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * dims[i + 1]!;
  const out = new Float32Array(values.length);
  const index = new Array<number>(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let from = 0;
    for (let i = 0; i < rank; i++) from += index[i]! * inStrides[perm[i]!]!;
    out[o] = values[from]!;
    for (let i = rank - 1; i >= 0; i--) {
      index[i]! += 1;
      if (index[i]! < outDims[i]!) break;
      index[i] = 0;
    }
  }
  return out;
}

/**
 * Folds every `Transpose` of a float32 weight that nothing else reads into a transposed weight, as onnxruntime's
 * constant folding does at load: the product after it then reads an initializer the passes can take. A weight that
 * other nodes also read (a tied embedding) is left alone: folding would store it twice. Returns how many were folded.
 */
export function foldWeightTransposes(model: OnnxModel): number {
  const proto = model.proto;
  const consumers = countConsumers(proto);
  let folded = 0;
  forEachGraph(proto, ({ graph, scope }) => {
    if (!scope.startsWith('graph')) return;
    const outputs = new Set(graph.output.map((o) => o.name));
    const index = new Map(graph.initializer.map((t) => [t.name, t]));
    graph.node = graph.node.filter((node) => {
      const weight = index.get(node.input[0] ?? '');
      const output = node.output[0] ?? '';
      if (node.opType !== 'Transpose' || !isDefaultDomain(node) || !weight || !output || outputs.has(output))
        return true;
      // Not a weight others read, nor one a caller may override (an initializer also listed as a graph input).
      const overridable = graph.input.some((v) => v.name === weight.name);
      if (weight.dataType !== DataType.FLOAT || consumers.get(weight.name) !== 1 || overridable) return true;
      const dims = weight.dims.map(Number);
      const permAttribute = node.attribute.find((a) => a.name === 'perm');
      const perm = permAttribute?.ints?.length
        ? permAttribute.ints.map(Number)
        : dims.map((_, i) => dims.length - 1 - i);
      const values = transposeValues(model.tensorFloat32(weight), dims, perm);
      graph.initializer[graph.initializer.indexOf(weight)] = floatTensor(
        output,
        perm.map((p) => dims[p]!),
        values,
      );
      folded += 1;
      return false;
    });
  });
  return folded;
}
