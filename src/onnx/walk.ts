/** Traversal of every graph, node and tensor of a model: main graph, subgraphs (If/Loop/Scan), functions, training. */
import {
  type AttributeProto,
  AttributeType,
  type FunctionProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from './proto.ts';

export type TensorSiteKind = 'initializer' | 'sparse-initializer' | 'attribute';

export interface TensorSite {
  tensor: TensorProto;
  kind: TensorSiteKind;
  /** Where the tensor lives, e.g. `graph`, `graph/If_0.then_branch`, `function:slmops.test.RMSNorm`. */
  scope: string;
  /** For attribute tensors: the node that holds them. */
  node?: NodeProto;
}

export interface GraphSite {
  graph: GraphProto;
  scope: string;
  /** Nesting depth: 0 for the main graph. */
  depth: number;
}

export interface NodeSite {
  node: NodeProto;
  scope: string;
  function?: FunctionProto;
}

function subgraphsOf(attribute: AttributeProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  if (attribute.g) graphs.push(attribute.g);
  if (attribute.graphs?.length) graphs.push(...attribute.graphs);
  return graphs;
}

function nodeLabel(node: NodeProto, index: number): string {
  return node.name || `${node.opType}_${index}`;
}

/** Visits every graph: the main graph, training graphs, and the subgraphs of any node, in a fixed order. */
export function forEachGraph(model: ModelProto, visit: (site: GraphSite) => void): void {
  const walk = (graph: GraphProto, scope: string, depth: number): void => {
    visit({ graph, scope, depth });
    graph.node.forEach((node, index) => {
      for (const attribute of node.attribute) {
        for (const sub of subgraphsOf(attribute))
          walk(sub, `${scope}/${nodeLabel(node, index)}.${attribute.name}`, depth + 1);
      }
    });
  };
  if (model.graph) walk(model.graph, 'graph', 0);
  model.trainingInfo.forEach((info, i) => {
    if (info.initialization) walk(info.initialization, `training[${i}].initialization`, 0);
    if (info.algorithm) walk(info.algorithm, `training[${i}].algorithm`, 0);
  });
  for (const fn of model.functions) {
    fn.node.forEach((node, index) => {
      for (const attribute of node.attribute) {
        for (const sub of subgraphsOf(attribute))
          walk(sub, `function:${fn.domain}.${fn.name}/${nodeLabel(node, index)}`, 1);
      }
    });
  }
}

/** Visits every node of every graph and of every model-local function. */
export function forEachNode(model: ModelProto, visit: (site: NodeSite) => void): void {
  forEachGraph(model, ({ graph, scope }) => {
    for (const node of graph.node) visit({ node, scope });
  });
  for (const fn of model.functions) {
    for (const node of fn.node) visit({ node, scope: `function:${fn.domain}.${fn.name}`, function: fn });
  }
}

function attributeTensors(attribute: AttributeProto): TensorProto[] {
  const tensors: TensorProto[] = [];
  if (attribute.t) tensors.push(attribute.t);
  if (attribute.tensors?.length) tensors.push(...attribute.tensors);
  if (attribute.sparseTensor) pushSparse(tensors, attribute.sparseTensor);
  for (const sparse of attribute.sparseTensors ?? []) pushSparse(tensors, sparse);
  return tensors;
}

function pushSparse(
  into: TensorProto[],
  sparse: { values?: TensorProto | null; indices?: TensorProto | null },
): void {
  if (sparse.values) into.push(sparse.values);
  if (sparse.indices) into.push(sparse.indices);
}

/** Visits every tensor with stored values: initializers, sparse initializers, and tensors held in attributes. */
export function forEachTensor(model: ModelProto, visit: (site: TensorSite) => void): void {
  const visitNodeAttributes = (node: NodeProto, scope: string): void => {
    for (const attribute of node.attribute) {
      if (attribute.type === AttributeType.Graph || attribute.type === AttributeType.Graphs) continue;
      for (const tensor of attributeTensors(attribute)) visit({ tensor, kind: 'attribute', scope, node });
    }
  };
  forEachGraph(model, ({ graph, scope }) => {
    for (const tensor of graph.initializer) visit({ tensor, kind: 'initializer', scope });
    for (const sparse of graph.sparseInitializer ?? []) {
      const parts: TensorProto[] = [];
      pushSparse(parts, sparse);
      for (const tensor of parts) visit({ tensor, kind: 'sparse-initializer', scope });
    }
    for (const node of graph.node) visitNodeAttributes(node, scope);
  });
  for (const fn of model.functions) {
    for (const node of fn.node) visitNodeAttributes(node, `function:${fn.domain}.${fn.name}`);
  }
}
