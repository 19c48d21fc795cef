/**
 * Model-local functions, inlined before the passes run. Some exporters put a layer in a function and pass its
 * weights in from the main graph (torch.onnx with modules exported as functions, onnxscript); others keep a weight
 * in a `Constant` node of the function's body. The passes look for products whose weights are initializers of the
 * graph they live in, so in either case they found nothing. onnxruntime inlines model-local functions when it loads
 * a model, so compress does the same first for every function whose body (or a function it calls) holds an op the
 * passes change (MatMul, Gemm, Conv, Gather): each call becomes the function's nodes, with their values renamed
 * apart, formal inputs and outputs bound to the call's, and attribute references (`ref_attr_name`) resolved from the
 * call or the function's defaults. Other functions (a normalization block, say) stay functions.
 *
 * A function is left as it is when its body needs an opset version the model imports at another version (its nodes
 * would change meaning in the main graph). A weight a body holds (a `Constant` of a float matrix, or an initializer
 * of a subgraph in the body) becomes one initializer of the main graph, shared by every call, so a weight held in a
 * function is not multiplied by its calls.
 */
import type {
  AttributeProto,
  FunctionProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  TensorProto,
} from '../onnx/proto.ts';
import { isDefaultDomain, Namer } from './graph.ts';
import { constantWeight } from './hoist-constants.ts';

export interface InlineOutcome {
  /** Calls replaced by their function's nodes. */
  calls: number;
  /** Functions inlined at least once. */
  functions: number;
  /** Functions left as they are, with the reason. */
  skipped: string[];
}

/** The ops whose weights the passes change: a function holding one is inlined. */
const WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'Gather']);

/** Calls nested deeper than this are a function calling itself (the ONNX spec forbids it): left alone. */
const MAX_DEPTH = 32;

const keyOf = (domain: string, name: string, overload = ''): string =>
  `${domain}\u0000${name}\u0000${overload}`;

function opsetOf(imports: readonly OperatorSetIdProto[], domain: string): number | undefined {
  const entry = imports.find((o) => (o.domain || '') === domain || (domain === '' && o.domain === 'ai.onnx'));
  return entry === undefined ? undefined : Number(entry.version);
}

/** Why a function cannot be inlined into this model, or undefined when it can. */
function conflict(model: ModelProto, fn: FunctionProto): string | undefined {
  for (const entry of fn.opsetImport) {
    const domain = entry.domain === 'ai.onnx' ? '' : entry.domain || '';
    const theirs = opsetOf(model.opsetImport, domain);
    if (theirs !== undefined && theirs !== Number(entry.version))
      return `${fn.domain}.${fn.name}: its body uses ${domain || 'ai.onnx'} opset ${Number(entry.version)}, the model ${theirs}`;
  }
  return undefined;
}

/** Inlines every call of a model-local function in the main graph and its subgraphs; see the file comment. */
export function inlineLocalFunctions(model: ModelProto): InlineOutcome {
  const outcome: InlineOutcome = { calls: 0, functions: 0, skipped: [] };
  const main = model.graph;
  if (!main || model.functions.length === 0) return outcome;
  const inlinable = new Map<string, FunctionProto>();
  for (const fn of model.functions) {
    if (!holdsWeightOps(model, fn)) continue;
    const why = conflict(model, fn);
    if (why) outcome.skipped.push(why);
    else inlinable.set(keyOf(fn.domain, fn.name, fn.overload), fn);
  }
  if (inlinable.size === 0) return outcome;
  const namer = new Namer(model);
  const used = new Set<FunctionProto>();
  /** The main-graph initializer each weight of a function body became (made at its first call). */
  const held = new Map<TensorProto, string>();
  const hold = (tensor: TensorProto, label: string): string => {
    let name = held.get(tensor);
    if (name === undefined) {
      // The tensor itself, renamed: the model knows where an external tensor's data lives by the tensor object.
      name = namer.unique(`${label}/${tensor.name}`);
      tensor.name = name;
      main.initializer.push(tensor);
      held.set(tensor, name);
    }
    return name;
  };

  const inlineGraph = (graph: GraphProto): void => {
    const expand = (node: NodeProto, depth: number): NodeProto[] => {
      const fn = inlinable.get(keyOf(node.domain || '', node.opType, node.overload));
      if (!fn || depth > MAX_DEPTH) {
        for (const attribute of node.attribute) {
          if (attribute.g) inlineGraph(attribute.g);
          for (const g of attribute.graphs ?? []) inlineGraph(g);
        }
        return [node];
      }
      outcome.calls += 1;
      used.add(fn);
      return callBody(node, fn).flatMap((n) => expand(n, depth + 1));
    };

    /** The nodes of one call of `fn`: renamed apart, bound to the call's inputs, outputs and attributes. */
    const callBody = (call: NodeProto, fn: FunctionProto): NodeProto[] => {
      const label = call.name || `${fn.name}_call`;
      const names = new Map<string, string>();
      for (const [i, formal] of fn.input.entries()) names.set(formal, call.input[i] ?? '');
      for (const [i, formal] of fn.output.entries()) {
        const actual = call.output[i];
        names.set(formal, actual ? actual : namer.unique(`${label}/${formal}`));
      }
      const body: Body = {
        label,
        namer,
        resolve: (attributes) => resolveAttributes(attributes, call, fn),
        hold: (tensor) => hold(tensor, fn.name),
        shared: (node) => !fn.output.includes(node.output[0] ?? ''),
      };
      return renameNodes(fn.node, names, body);
    };

    graph.node = graph.node.flatMap((node) => expand(node, 0));
  };

  inlineGraph(main);
  for (const fn of used) {
    for (const entry of fn.opsetImport) {
      const domain = entry.domain === 'ai.onnx' ? '' : entry.domain || '';
      if (opsetOf(model.opsetImport, domain) === undefined)
        model.opsetImport.push({ domain, version: entry.version });
    }
  }
  outcome.functions = used.size;
  model.functions = stillCalled(model);
  return outcome;
}

/** What copying one call's share of a function body needs. */
interface Body {
  /** Prefix of the call's new names. */
  label: string;
  namer: Namer;
  /** The attributes with each reference to the function's attributes resolved for this call. */
  resolve: (attributes: readonly AttributeProto[]) => AttributeProto[];
  /** The name of the main-graph initializer holding a weight of the body, for every call. */
  hold: (tensor: TensorProto) => string;
  /** Whether a weight `Constant` of the body may be shared by the calls (its output is not the function's). */
  shared: (node: NodeProto) => boolean;
}

/**
 * Copies of a function body's nodes (or a subgraph's of it) for one call: values renamed apart (`names` already maps
 * what the call binds), attribute references resolved, subgraphs copied alike. A `Constant` holding a weight becomes
 * one initializer of the main graph, shared by every call.
 */
function renameNodes(nodes: readonly NodeProto[], names: Map<string, string>, body: Body): NodeProto[] {
  const out: NodeProto[] = [];
  nodes.forEach((n, index) => {
    const weight = constantWeight(n);
    if (weight && body.shared(n)) {
      names.set(n.output[0]!, body.hold(weight));
      return;
    }
    for (const output of n.output)
      if (output && !names.has(output)) names.set(output, body.namer.unique(`${body.label}/${output}`));
    out.push(
      cloneNode(n, {
        name: body.namer.unique(`${body.label}/${n.name || `${n.opType}_${index}`}`),
        input: n.input.map((i) => (i ? (names.get(i) ?? i) : '')),
        output: n.output.map((o) => (o ? names.get(o)! : '')),
        attribute: body.resolve(n.attribute).map((a) => renameInAttribute(a, names, body)),
      }),
    );
  });
  return out;
}

/**
 * A copy of a node with `changes`. Every field is copied by name: a decoded node holds the fields its file left out
 * (an empty `domain`, say) on its prototype, where a spread does not see them.
 */
function cloneNode(
  node: NodeProto,
  changes: Pick<NodeProto, 'name' | 'input' | 'output' | 'attribute'>,
): NodeProto {
  return {
    opType: node.opType,
    domain: node.domain || '',
    ...(node.overload ? { overload: node.overload } : {}),
    ...(node.docString ? { docString: node.docString } : {}),
    ...(node.metadataProps?.length ? { metadataProps: node.metadataProps } : {}),
    ...changes,
  };
}

/** A body node's attributes with each `ref_attr_name` replaced by the call's value, else the function's default. */
function resolveAttributes(
  attributes: readonly AttributeProto[],
  call: NodeProto,
  fn: FunctionProto,
): AttributeProto[] {
  return attributes.flatMap((a) => {
    if (!a.refAttrName) return [a];
    const value =
      call.attribute.find((c) => c.name === a.refAttrName) ??
      fn.attributeProto.find((d) => d.name === a.refAttrName);
    if (!value) return [];
    // Not an empty reference: onnx.proto is proto2, where a present empty ref_attr_name is still a reference.
    const { refAttrName: _reference, ...resolved } = value;
    return [{ ...resolved, type: value.type, name: a.name }];
  });
}

/** An attribute whose subgraphs are copied for the call (see `renameGraph`). */
function renameInAttribute(
  attribute: AttributeProto,
  outer: Map<string, string>,
  body: Body,
): AttributeProto {
  if (!attribute.g && !attribute.graphs?.length) return attribute;
  return {
    ...attribute,
    type: attribute.type,
    name: attribute.name,
    g: attribute.g ? renameGraph(attribute.g, outer, body) : null,
    graphs: (attribute.graphs ?? []).map((x) => renameGraph(x, outer, body)),
  };
}

/**
 * A copy of a subgraph of a function body for one call: its own values renamed apart, the body's read under their
 * new names, its nodes' attribute references resolved. Its initializers, like the body's weight `Constant`s, become
 * initializers of the main graph shared by every call.
 */
function renameGraph(graph: GraphProto, outer: Map<string, string>, body: Body): GraphProto {
  const names = new Map(outer);
  const fresh = (name: string): string => {
    if (!name) return name;
    const renamed = body.namer.unique(`${body.label}/${graph.name || 'subgraph'}/${name}`);
    names.set(name, renamed);
    return renamed;
  };
  const input = graph.input.map((v) => ({ ...v, name: fresh(v.name) }));
  for (const t of graph.initializer) names.set(t.name, body.hold(t));
  const rename = (name: string): string => (name ? (names.get(name) ?? name) : name);
  const node = renameNodes(graph.node, names, body);
  return {
    name: graph.name || '',
    node,
    initializer: [],
    sparseInitializer: graph.sparseInitializer ?? [],
    input,
    output: graph.output.map((v) => ({ ...v, name: rename(v.name) })),
    valueInfo: (graph.valueInfo ?? []).map((v) => ({ ...v, name: rename(v.name) })),
    ...(graph.docString ? { docString: graph.docString } : {}),
  };
}

/** The local functions `nodes` call, directly, through their subgraphs or through another function. */
function reachable(model: ModelProto, nodes: readonly NodeProto[]): Set<FunctionProto> {
  const byKey = new Map(model.functions.map((fn) => [keyOf(fn.domain, fn.name, fn.overload), fn]));
  const found = new Set<FunctionProto>();
  const visit = (list: readonly NodeProto[]): void => {
    for (const node of list) {
      const fn = byKey.get(keyOf(node.domain || '', node.opType, node.overload));
      if (fn && !found.has(fn)) {
        found.add(fn);
        visit(fn.node);
      }
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g.node);
        for (const g of attribute.graphs ?? []) visit(g.node);
      }
    }
  };
  visit(nodes);
  return found;
}

/** Whether a function's body, its subgraphs or a function it calls holds an op of `WEIGHT_OPS`. */
function holdsWeightOps(model: ModelProto, fn: FunctionProto): boolean {
  const holds = (nodes: readonly NodeProto[]): boolean =>
    nodes.some(
      (n) =>
        (WEIGHT_OPS.has(n.opType) && isDefaultDomain(n)) ||
        n.attribute.some((a) => (a.g && holds(a.g.node)) || (a.graphs ?? []).some((g) => holds(g.node))),
    );
  return holds(fn.node) || [...reachable(model, fn.node)].some((callee) => holds(callee.node));
}

/** The functions some node of the model still calls, directly or through another function. */
function stillCalled(model: ModelProto): FunctionProto[] {
  const kept = model.graph ? reachable(model, model.graph.node) : new Set<FunctionProto>();
  return model.functions.filter((fn) => kept.has(fn));
}
