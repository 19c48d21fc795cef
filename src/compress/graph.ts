/**
 * Graph editing for compression passes: constant lookup (initializers and Constant nodes), consumer counts that
 * include uses from subgraphs, unique names, and building nodes and tensors.
 */
import { DataType } from '../onnx/dtypes.ts';
import type { OnnxModel } from '../onnx/model.ts';
import {
  type AttributeProto,
  AttributeType,
  createTensorProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '../onnx/proto.ts';
import { dimsOf } from '../onnx/tensor.ts';
import { forEachGraph, forEachNode } from '../onnx/walk.ts';
import type { JobSource } from './kernel-runner.ts';

/** Every value name used anywhere in the model (inputs, outputs, initializers, node outputs). */
function allNames(model: ModelProto): Set<string> {
  const names = new Set<string>();
  forEachGraph(model, ({ graph }) => {
    for (const t of graph.initializer) names.add(t.name);
    for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) names.add(v.name);
    for (const n of graph.node) {
      for (const o of n.output) names.add(o);
      for (const i of n.input) names.add(i);
      if (n.name) names.add(n.name);
    }
  });
  return names;
}

export class Namer {
  private readonly used: Set<string>;
  constructor(model: ModelProto) {
    this.used = allNames(model);
  }
  /** `base` if unused, else `base_1`, `base_2`, … (deterministic). */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

/** A weight a pass may change: an initializer of the graph the node lives in, or of a graph around it. */
export interface ConstantRef {
  tensor: TensorProto;
  /** The graph that holds the initializer (where the pass puts what replaces it). */
  graph: GraphProto;
}

/** Initializers a graph's nodes can read, by name, with the graph that holds each. */
export type InitializerScope = Map<string, ConstantRef>;

/**
 * The initializers each graph's nodes can read: its own, and for a subgraph of the main graph (an If branch, a Loop
 * or Scan body) those of the graphs around it that it does not shadow with a value of its own. Optimum's merged
 * decoders keep every weight in the main graph and read them from both branches of an If. Graphs outside the main
 * graph's tree (training graphs, subgraphs in function bodies) see their own initializers only.
 */
export function scopedInitializers(model: ModelProto): (graph: GraphProto) => InitializerScope {
  const scopes = new Map<GraphProto, InitializerScope>();
  const walk = (graph: GraphProto, outer: InitializerScope): void => {
    const visible = new Map(outer);
    for (const v of graph.input) visible.delete(v.name);
    for (const n of graph.node) for (const o of n.output) visible.delete(o);
    for (const t of graph.initializer) visible.set(t.name, { tensor: t, graph });
    scopes.set(graph, visible);
    for (const n of graph.node) {
      for (const a of n.attribute) {
        if (a.g) walk(a.g, visible);
        for (const g of a.graphs ?? []) walk(g, visible);
      }
    }
  };
  if (model.graph) walk(model.graph, new Map());
  return (graph) =>
    scopes.get(graph) ?? new Map(graph.initializer.map((t) => [t.name, { tensor: t, graph }]));
}

/** Counts how many node inputs (in any graph, functions excluded) read each value name. */
export function countConsumers(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>();
  forEachNode(model, ({ node, function: fn }) => {
    if (fn) return;
    for (const input of node.input) if (input) counts.set(input, (counts.get(input) ?? 0) + 1);
  });
  forEachGraph(model, ({ graph }) => {
    for (const output of graph.output) counts.set(output.name, (counts.get(output.name) ?? 0) + 1);
  });
  return counts;
}

export function initializerIndex(graph: GraphProto): Map<string, TensorProto> {
  return new Map(graph.initializer.map((t) => [t.name, t]));
}

/** Whether a node is of the default ONNX domain (files often leave `domain` out; some write `ai.onnx`). */
export function isDefaultDomain(node: NodeProto): boolean {
  return !node.domain || node.domain === 'ai.onnx';
}

/** The nodes of `graphs` reading each value, by name. */
function readersOf(graphs: readonly GraphProto[]): Map<string, NodeProto[]> {
  const readers = new Map<string, NodeProto[]>();
  for (const graph of graphs)
    for (const n of graph.node)
      for (const input of n.input) if (input) readers.set(input, [...(readers.get(input) ?? []), n]);
  return readers;
}

/** How the values of a model's graphs are used: each value's readers, and the graph outputs. */
export interface ValueUses {
  readers: Map<string, NodeProto[]>;
  graphOutputs: ReadonlySet<string>;
}

export function valueUses(graphs: readonly GraphProto[]): ValueUses {
  return {
    readers: readersOf(graphs),
    graphOutputs: new Set(graphs.flatMap((g) => g.output.map((o) => o.name))),
  };
}

/**
 * Why a pass's `kind` copy of weight `name` would sit beside the float32 one: a node that reads it and will not read
 * the copy (`takesCopy` says which do), or a graph output. Tied embeddings are the usual case. Undefined when every
 * use takes the copy.
 */
export function keptFloat32(
  uses: ValueUses,
  name: string,
  takesCopy: (reader: NodeProto) => boolean,
  kind: string,
): string | undefined {
  const other = (uses.readers.get(name) ?? []).find((r) => !takesCopy(r));
  if (!other && !uses.graphOutputs.has(name)) return undefined;
  const by = other ? `read by ${other.opType}${other.name ? ` ${other.name}` : ''}` : 'a graph output';
  return `also ${by}, which keeps it float32 (an ${kind} copy would add to the file)`;
}

/** Whether a node reads `name` as the weight of a product (input B of a MatMul or Gemm, not also its input A). */
export function readsAsWeight(n: NodeProto, name: string): boolean {
  return (n.opType === 'MatMul' || n.opType === 'Gemm') && n.input[1] === name && n.input[0] !== name;
}

/** Why a weight of this dtype is left alone by a pass that takes float32 (and float16) weights. */
export function dtypeSkipReason(t: TensorProto): string | undefined {
  if (t.dataType === DataType.FLOAT || t.dataType === DataType.FLOAT16) return undefined;
  return t.dataType === DataType.BFLOAT16
    ? 'bfloat16 weight (convert the model to float32 first)'
    : undefined;
}

/** Removes an initializer (and a same-named graph input, as IR < 4 models list them) when nothing reads it. */
export function removeInitializerIfUnused(
  graph: GraphProto,
  name: string,
  consumers: Map<string, number>,
): boolean {
  if ((consumers.get(name) ?? 0) > 0) return false;
  const index = graph.initializer.findIndex((t) => t.name === name);
  if (index < 0) return false;
  graph.initializer.splice(index, 1);
  const input = graph.input.findIndex((v) => v.name === name);
  if (input >= 0) graph.input.splice(input, 1);
  return true;
}

export function tensor(name: string, dataType: number, dims: number[], bytes: Uint8Array): TensorProto {
  return createTensorProto({ name, dataType, dims, rawData: bytes });
}

export function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return tensor(
    name,
    DataType.FLOAT,
    dims,
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  );
}

type AttributeValue = number | string | number[] | TensorProto;

function attribute(name: string, value: AttributeValue, kind?: 'int' | 'float'): AttributeProto {
  const base = { name } as AttributeProto;
  if (typeof value === 'string')
    return { ...base, type: AttributeType.String, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { ...base, type: AttributeType.Ints, ints: value };
  if (typeof value === 'number') {
    return kind === 'float' || !Number.isInteger(value)
      ? { ...base, type: AttributeType.Float, f: value }
      : { ...base, type: AttributeType.Int, i: value };
  }
  return { ...base, type: AttributeType.Tensor, t: value };
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  options: {
    name?: string;
    domain?: string;
    attributes?: Record<string, AttributeValue>;
    floats?: string[];
  } = {},
): NodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: options.name ?? '',
    domain: options.domain ?? '',
    attribute: Object.entries(options.attributes ?? {}).map(([k, v]) =>
      attribute(k, v, options.floats?.includes(k) ? 'float' : 'int'),
    ),
  } as NodeProto;
}

export function intAttr(n: NodeProto, name: string, fallback: number): number {
  const a = n.attribute.find((x) => x.name === name);
  if (!a) return fallback;
  return typeof a.i === 'number' ? a.i : a.i.toNumber();
}

export function floatAttr(n: NodeProto, name: string, fallback: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a ? a.f : fallback;
}

/** Makes sure the model imports `domain` (at least `version`). */
export function ensureOpset(model: ModelProto, domain: string, version: number): void {
  const existing = model.opsetImport.find((o) => (o.domain || '') === domain);
  if (!existing) model.opsetImport.push({ domain, version });
}

export function opsetVersion(model: ModelProto, domain = ''): number {
  const entry = model.opsetImport.find(
    (o) => (o.domain || '') === domain || (domain === '' && o.domain === 'ai.onnx'),
  );
  if (!entry) return 0;
  return typeof entry.version === 'number' ? entry.version : entry.version.toNumber();
}

/** A float weight of a node: the initializer feeding input `input` in the node's scope, float32 or float16. */
export function floatWeight(scope: InitializerScope, n: NodeProto, input: number): ConstantRef | undefined {
  const ref = scope.get(n.input[input] ?? '');
  const type = ref?.tensor.dataType;
  return type === DataType.FLOAT || type === DataType.FLOAT16 ? ref : undefined;
}

export function shapeOf(t: TensorProto): number[] {
  return dimsOf(t);
}

/** Values of a weight as float32 (copied: the pass may keep them while it reads others). */
export function weightValues(model: OnnxModel, t: TensorProto): Float32Array {
  return model.tensorFloat32(t, { reuse: true }).slice();
}

/** Where a quantization job finds a weight's bytes: its external data file range, or the bytes in memory. */
export function weightSource(model: OnnxModel, t: TensorProto): JobSource {
  const ref = model.externalRef(t);
  return ref ? { file: ref.file, offset: ref.offset, length: ref.length } : { bytes: model.tensorBytes(t) };
}
