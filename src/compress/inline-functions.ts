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
 * would change meaning in the main graph). A `Constant` of a body called several times from one graph is emitted
 * once and shared, so a weight held in a function is not multiplied by its calls.
 */
import type {
  AttributeProto,
  FunctionProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
} from '../onnx/proto.ts';
import { Namer } from './graph.ts';

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
  if (!model.graph || model.functions.length === 0) return outcome;
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

  const inlineGraph = (graph: GraphProto): void => {
    /** Per function of this graph: its shared `Constant` outputs, by body node index. */
    const constants = new Map<FunctionProto, Map<number, string>>();
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
      const shared = constants.get(fn) ?? new Map<number, string>();
      constants.set(fn, shared);
      return callBody(node, fn, shared).flatMap((n) => expand(n, depth + 1));
    };

    /** The nodes of one call of `fn`: renamed apart, bound to the call's inputs, outputs and attributes. */
    const callBody = (call: NodeProto, fn: FunctionProto, shared: Map<number, string>): NodeProto[] => {
      const label = call.name || `${fn.name}_call`;
      const names = new Map<string, string>();
      for (const [i, formal] of fn.input.entries()) names.set(formal, call.input[i] ?? '');
      fn.output.forEach((formal, i) => {
        const actual = call.output[i];
        names.set(formal, actual ? actual : namer.unique(`${label}/${formal}`));
      });
      const nodes: NodeProto[] = [];
      fn.node.forEach((bodyNode, index) => {
        const attributes = resolveAttributes(bodyNode.attribute, call, fn);
        const constant = sharableConstant(bodyNode, fn);
        if (constant !== undefined) {
          const first = shared.get(index);
          if (first !== undefined) {
            names.set(constant, first);
            return;
          }
          names.set(constant, namer.unique(`${label}/${constant}`));
          shared.set(index, names.get(constant)!);
        }
        for (const output of bodyNode.output)
          if (output && !names.has(output)) names.set(output, namer.unique(`${label}/${output}`));
        nodes.push({
          ...bodyNode,
          name: namer.unique(`${label}/${bodyNode.name || `${bodyNode.opType}_${index}`}`),
          input: bodyNode.input.map((i) => (i ? (names.get(i) ?? i) : '')),
          output: bodyNode.output.map((o) => (o ? names.get(o)! : '')),
          attribute: attributes.map((a) => renameInAttribute(a, names, namer)),
        });
      });
      return nodes;
    };

    graph.node = graph.node.flatMap((node) => expand(node, 0));
  };

  inlineGraph(model.graph);
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

/**
 * The output of a body's `Constant` node that every call of the function computes alike (no attribute reference,
 * not a function output), which calls from one graph can share.
 */
function sharableConstant(node: NodeProto, fn: FunctionProto): string | undefined {
  if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx')) return undefined;
  const output = node.output[0];
  if (node.output.length !== 1 || !output || fn.output.includes(output)) return undefined;
  return node.attribute.some((a) => a.refAttrName) ? undefined : output;
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
    return [{ ...resolved, name: a.name }];
  });
}

/** An attribute whose subgraphs read the body's values under their new names; the subgraphs' own are renamed too. */
function renameInAttribute(
  attribute: AttributeProto,
  outer: Map<string, string>,
  namer: Namer,
): AttributeProto {
  if (!attribute.g && !attribute.graphs?.length) return attribute;
  return {
    ...attribute,
    ...(attribute.g ? { g: renameGraph(attribute.g, outer, namer) } : {}),
    ...(attribute.graphs?.length
      ? { graphs: attribute.graphs.map((g) => renameGraph(g, outer, namer)) }
      : {}),
  };
}

/** A copy of a subgraph of a function body: its own values renamed apart, the body's read under their new names. */
function renameGraph(graph: GraphProto, outer: Map<string, string>, namer: Namer): GraphProto {
  const names = new Map(outer);
  const fresh = (name: string): string => {
    if (!name) return name;
    const renamed = namer.unique(`${graph.name || 'subgraph'}/${name}`);
    names.set(name, renamed);
    return renamed;
  };
  const input = graph.input.map((v) => ({ ...v, name: fresh(v.name) }));
  const initializer = graph.initializer.map((t) => ({ ...t, name: fresh(t.name) }));
  const produced = graph.node.map((n) => n.output.map(fresh));
  const rename = (name: string): string => (name ? (names.get(name) ?? name) : name);
  return {
    ...graph,
    input,
    initializer,
    node: graph.node.map((n, i) => ({
      ...n,
      input: n.input.map(rename),
      output: produced[i]!,
      attribute: n.attribute.map((a) => renameInAttribute(a, names, namer)),
    })),
    output: graph.output.map((v) => ({ ...v, name: rename(v.name) })),
    valueInfo: graph.valueInfo.map((v) => ({ ...v, name: rename(v.name) })),
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
        (WEIGHT_OPS.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx')) ||
        n.attribute.some((a) => (a.g && holds(a.g.node)) || (a.graphs ?? []).some((g) => holds(g.node))),
    );
  return holds(fn.node) || [...reachable(model, fn.node)].some((callee) => holds(callee.node));
}

/** The functions some node of the model still calls, directly or through another function. */
function stillCalled(model: ModelProto): FunctionProto[] {
  const kept = model.graph ? reachable(model, model.graph.node) : new Set<FunctionProto>();
  return model.functions.filter((fn) => kept.has(fn));
}
