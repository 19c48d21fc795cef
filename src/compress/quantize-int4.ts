/**
 * int4: block-wise weight-only quantization of MatMul and Gemm weights to `com.microsoft::MatMulNBits`.
 *
 * Gemm (Y = alpha·A'·B' + beta·C) is handled too, unlike onnxruntime's own int4 tool: transB picks the weight
 * layout, alpha is folded into the scales, transA becomes a Transpose, and the bias stays as an Add (beta folded
 * into a constant C, or applied by a Mul). Float16 weights get float16 scales, as MatMulNBits requires.
 */
import { DataType, dtypeName } from '../onnx/dtypes.ts';
import { floatToHalf } from '../onnx/float16.ts';
import type { GraphProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import {
  countConsumers,
  dtypeSkipReason,
  ensureOpset,
  floatAttr,
  floatTensor,
  floatWeight,
  type InitializerScope,
  intAttr,
  isDefaultDomain,
  keptFloat32,
  node,
  readsAsWeight,
  removeInitializerIfUnused,
  scopedInitializers,
  shapeOf,
  tensor,
  type ValueUses,
  valueUses,
  weightSource,
  weightValues,
} from './graph.ts';
import type { Int4Job, Int4Result } from './kernel-runner.ts';
import { finite, type PassContext, type PassOutcome, sqnrDb } from './pass.ts';
import type { Int4Options, Selection } from './recipe-spec.ts';
import { applySelection, type Candidate } from './select.ts';

interface Int4Candidate extends Candidate {
  node: NodeProto;
  weight: TensorProto;
  /** The graph holding the weight: the node's, or one around it. */
  owner: GraphProto;
  /** Weight stored as [N, K] (Gemm transB=1) rather than [K, N]. */
  transposed: boolean;
  k: number;
  n: number;
}

function candidatesIn(
  graph: GraphProto,
  scope: InitializerScope,
  uses: ValueUses,
  outcome: PassOutcome,
): Int4Candidate[] {
  const found: Int4Candidate[] = [];
  const producers = new Map(graph.node.flatMap((p) => p.output.map((o) => [o, p] as const)));
  for (const n of graph.node) {
    if (!isDefaultDomain(n)) continue;
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    const held = scope.get(n.input[1] ?? '')?.tensor;
    const why = held ? dtypeSkipReason(held) : undefined;
    if (held && why) outcome.skipped.push({ name: held.name, reason: why });
    const ref = floatWeight(scope, n, 1);
    if (!ref) {
      const first = scope.get(n.input[0] ?? '')?.tensor;
      // A Transpose of a weight that compress left in place (it folds one of a float32 weight nothing else reads).
      const through = producers.get(n.input[1] ?? '');
      const behind = through?.opType === 'Transpose' ? scope.get(through.input[0] ?? '')?.tensor : undefined;
      if (behind)
        outcome.skipped.push({
          name: behind.name,
          reason:
            "reaches the product through a Transpose that stays (the weight has other readers, is not float32, or lives outside the Transpose's graph)",
        });
      else if (n.opType === 'MatMul' && first && !held)
        outcome.skipped.push({
          name: first.name,
          reason: 'the weight is the first input of its MatMul (W·x), not the second (x·W)',
        });
      continue;
    }
    const kept = keptFloat32(uses, ref.tensor.name, (r) => readsAsWeight(r, ref.tensor.name), 'int4');
    if (kept) {
      outcome.skipped.push({ name: ref.tensor.name, reason: kept });
      continue;
    }
    const dims = shapeOf(ref.tensor);
    const squeezed = dims.length > 2 && dims.slice(0, -2).every((d) => d === 1) ? dims.slice(-2) : dims;
    if (squeezed.length !== 2) {
      outcome.skipped.push({
        name: ref.tensor.name,
        reason: `weight has shape [${dims.join(', ')}], not 2-D`,
      });
      continue;
    }
    if (n.opType === 'MatMul' && dims.length > 2) {
      outcome.skipped.push({
        name: ref.tensor.name,
        reason: 'MatMul weight with leading unit dims is not handled yet',
      });
      continue;
    }
    const transposed = n.opType === 'Gemm' && intAttr(n, 'transB', 0) === 1;
    const [k, nOut] = transposed ? [squeezed[1]!, squeezed[0]!] : [squeezed[0]!, squeezed[1]!];
    found.push({
      op: n.opType,
      nodeName: n.name,
      weightName: ref.tensor.name,
      elements: k * nOut,
      node: n,
      weight: ref.tensor,
      owner: ref.graph,
      transposed,
      k,
      n: nOut,
    });
  }
  return found;
}

export async function quantizeInt4(
  ctx: PassContext,
  options: Int4Options,
  select: Selection,
): Promise<PassOutcome> {
  const proto = ctx.model.proto;
  const outcome: PassOutcome = { tensors: [], skipped: [], notes: [] };
  const graphs: GraphProto[] = [];
  forEachGraph(proto, ({ graph }) => graphs.push(graph));
  const replaced = new Set<string>();
  let changed = 0;

  // Choose first, then quantize every weight concurrently; the graph is edited in order as results arrive.
  const scopeOf = scopedInitializers(proto);
  const uses = valueUses(graphs);
  const plans = graphs.map((graph) => ({
    graph,
    chosen: applySelection(candidatesIn(graph, scopeOf(graph), uses, outcome), select),
  }));
  const jobs = new Map<Int4Candidate, Int4Job>();
  // A weight read by several nodes (of one graph, or of the branches around the graph that holds it) is quantized
  // once per layout (a MatMul reads [K, N], a Gemm with transB = 1 [N, K]), unless a Gemm's alpha ≠ 1 scales its
  // copy.
  const layoutOf = (c: Int4Candidate): string => `${c.transposed ? 'NK' : 'KN'}`;
  const seen = new Map<TensorProto, Set<string>>();
  for (const { chosen } of plans) {
    for (const c of chosen) {
      const alpha = c.op === 'Gemm' ? floatAttr(c.node, 'alpha', 1) : 1;
      const layouts = seen.get(c.weight) ?? new Set<string>();
      if (layouts.has(layoutOf(c)) && alpha === 1) continue;
      if (alpha === 1) seen.set(c.weight, layouts.add(layoutOf(c)));
      jobs.set(c, {
        kind: 'int4',
        source: weightSource(ctx.model, c.weight),
        dataType: c.weight.dataType,
        k: c.k,
        n: c.n,
        block: options.block,
        symmetric: options.symmetric,
        transposed: c.transposed,
      });
    }
  }
  const planned = [...jobs];
  const elements = planned.reduce((sum, [c]) => sum + c.elements, 0);
  const pool = ctx.kernels(elements);
  const running = pool.runAll<Int4Result>(planned.map(([c, job]) => ({ job, elements: c.elements })));
  const results = new Map(planned.map(([c], i) => [c, running[i]!]));
  // While the weights are quantized, copy what this pass leaves alone into the output.
  await ctx.placeOthers?.(new Set(planned.map(([c]) => c.weight)));

  const done = new Map<TensorProto, Map<string, { q: string; scales: string; zeros?: string }>>();
  for (const { graph, chosen } of plans) {
    if (chosen.length === 0) continue;
    const replacement = new Map<NodeProto, NodeProto[]>();
    for (const c of chosen) {
      const fp16 = c.weight.dataType === DataType.FLOAT16;
      let names = done.get(c.weight)?.get(layoutOf(c));
      const alpha = c.op === 'Gemm' ? floatAttr(c.node, 'alpha', 1) : 1;
      if (!names || alpha !== 1) {
        ctx.log(`int4: ${c.weightName} [${c.k}×${c.n}]`);
        const q = await results.get(c)!;
        results.delete(c);
        if (alpha !== 1) for (let i = 0; i < q.scales.length; i++) q.scales[i]! *= alpha;
        const qName = ctx.namer.unique(`${c.weightName}_Q4`);
        const sName = ctx.namer.unique(`${c.weightName}_scales`);
        const outputs = [
          tensor(qName, DataType.UINT8, [c.n, q.blocks, options.block / 2], q.packed),
          fp16
            ? tensor(
                sName,
                DataType.FLOAT16,
                [c.n, q.blocks],
                new Uint8Array(Uint16Array.from(q.scales, floatToHalf).buffer),
              )
            : floatTensor(sName, [c.n, q.blocks], q.scales),
        ];
        names = { q: qName, scales: sName };
        if (q.zeroPoints) {
          names.zeros = ctx.namer.unique(`${c.weightName}_zero_points`);
          outputs.push(tensor(names.zeros, DataType.UINT8, [c.n, Math.ceil(q.blocks / 2)], q.zeroPoints));
        }
        for (const t of outputs) {
          c.owner.initializer.push(t);
          ctx.place?.(t);
        }
        pool.release(q, outputs);
        if (alpha === 1) done.set(c.weight, (done.get(c.weight) ?? new Map()).set(layoutOf(c), names));
        const sqnr = finite(sqnrDb(q.signal, q.noise));
        outcome.tensors.push({
          name: c.weightName,
          node: c.nodeName,
          dtypeBefore: dtypeName(c.weight.dataType),
          dtypeAfter: 'int4',
          elementCount: c.k * c.n,
          ...(sqnr === undefined ? {} : { sqnrDb: sqnr }),
        });
      }
      replacement.set(c.node, rewrite(ctx, graph, scopeOf(graph), c, names, options));
      replaced.add(c.weightName);
      // A Gemm bias scaled by beta is replaced by its scaled copy: the original goes too once nothing reads it.
      if (c.op === 'Gemm' && c.node.input[2]) replaced.add(c.node.input[2]);
      changed += 1;
    }
    graph.node = graph.node.flatMap((n) => replacement.get(n) ?? [n]);
  }
  if (changed === 0) return outcome;
  ensureOpset(proto, 'com.microsoft', 1);
  const consumers = countConsumers(proto);
  for (const graph of graphs) for (const name of replaced) removeInitializerIfUnused(graph, name, consumers);
  outcome.notes.push(
    `${changed} MatMul/Gemm nodes → com.microsoft::MatMulNBits (bits 4, block ${options.block})`,
  );
  return outcome;
}

function rewrite(
  ctx: PassContext,
  graph: GraphProto,
  scope: InitializerScope,
  c: Int4Candidate,
  names: { q: string; scales: string; zeros?: string },
  options: Int4Options,
): NodeProto[] {
  const nodes: NodeProto[] = [];
  const base = c.nodeName || c.weightName;
  let a = c.node.input[0]!;
  if (c.op === 'Gemm' && intAttr(c.node, 'transA', 0) === 1) {
    const t = ctx.namer.unique(`${base}_A_T`);
    nodes.push(
      node('Transpose', [a], [t], { name: ctx.namer.unique(`${base}_transA`), attributes: { perm: [1, 0] } }),
    );
    a = t;
  }
  const bias = c.op === 'Gemm' ? c.node.input[2] : undefined;
  const out = c.node.output[0]!;
  const mmOut = bias ? ctx.namer.unique(`${base}_matmul`) : out;
  const inputs = [a, names.q, names.scales, ...(names.zeros ? [names.zeros] : [])];
  nodes.push(
    node('MatMulNBits', inputs, [mmOut], {
      name: ctx.namer.unique(`${base}_Q4`),
      domain: 'com.microsoft',
      attributes: {
        K: c.k,
        N: c.n,
        bits: 4,
        block_size: options.block,
        ...(options.accuracyLevel ? { accuracy_level: options.accuracyLevel } : {}),
      },
    }),
  );
  if (bias) {
    const beta = floatAttr(c.node, 'beta', 1);
    let biasName = bias;
    if (beta !== 1) {
      const constant = scope.get(bias)?.tensor;
      if (constant && constant.dataType === DataType.FLOAT) {
        const scaled = weightValues(ctx.model, constant).map((v) => v * beta);
        biasName = ctx.namer.unique(`${bias}_beta`);
        graph.initializer.push(floatTensor(biasName, shapeOf(constant), scaled));
      } else {
        const betaName = ctx.namer.unique(`${base}_beta`);
        graph.initializer.push(floatTensor(betaName, [], Float32Array.of(beta)));
        biasName = ctx.namer.unique(`${base}_bias_scaled`);
        nodes.push(node('Mul', [bias, betaName], [biasName], { name: ctx.namer.unique(`${base}_beta_mul`) }));
      }
    }
    nodes.push(node('Add', [mmOut, biasName], [out], { name: ctx.namer.unique(`${base}_bias`) }));
  }
  return nodes;
}
