/**
 * int8: dynamic quantization as onnxruntime's `quantize_dynamic` does it. Weights are stored int8 (per tensor or
 * per output channel); activations are quantized at run time.
 *
 * Graph form: MatMul and Gemm → DynamicQuantizeLinear + MatMulInteger + Cast + Mul (onnxruntime's CPU provider
 * fuses these into com.microsoft::DynamicQuantizeMatMul when it loads the model: the fastest CPU form, and the
 * model stays standard ONNX for other runtimes). Conv → DynamicQuantizeLinear + ConvInteger + Cast + Mul (+ Add
 * for the bias). Gather on a float table (embeddings) → Gather on int8 + DequantizeLinear.
 */
import { ConfigurationError } from '../errors.ts';
import { DataType, dtypeName } from '../onnx/dtypes.ts';
import type { GraphProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import {
  countConsumers,
  dtypeSkipReason,
  floatAttr,
  floatTensor,
  type InitializerScope,
  intAttr,
  isDefaultDomain,
  keptFloat32,
  node,
  opsetVersion,
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
import type { Int8Job, Int8Result } from './kernel-runner.ts';
import { finite, type PassContext, type PassOutcome, sqnrDb } from './pass.ts';
import type { Int8Options, Selection } from './recipe-spec.ts';
import { applySelection, type Candidate } from './select.ts';

type Kind = 'MatMul' | 'Gemm' | 'Conv' | 'Gather';

/** DynamicQuantizeLinear came with opset 11. */
const MIN_OPSET = 11;

interface Int8Candidate extends Candidate {
  node: NodeProto;
  weight: TensorProto;
  /** The graph holding the weight: the node's, or one around it. */
  owner: GraphProto;
  kind: Kind;
}

const WEIGHT_INPUT: Record<Kind, number> = { MatMul: 1, Gemm: 1, Conv: 1, Gather: 0 };

/** Whether a node reads `name` as the int8 passes rewrite it: a Gather of its rows, or the weight of a product. */
function takesInt8Copy(n: NodeProto, name: string): boolean {
  return (
    (n.opType === 'Gather' && n.input[0] === name && intAttr(n, 'axis', 0) === 0) ||
    (n.opType === 'Conv' && n.input[1] === name && n.input[0] !== name) ||
    readsAsWeight(n, name)
  );
}

function candidatesIn(
  graph: GraphProto,
  scope: InitializerScope,
  uses: ValueUses,
  outcome: PassOutcome,
): Int8Candidate[] {
  const found: Int8Candidate[] = [];
  for (const n of graph.node) {
    if (!isDefaultDomain(n)) continue;
    const kind = n.opType as Kind;
    if (!(kind in WEIGHT_INPUT)) continue;
    const ref = scope.get(n.input[WEIGHT_INPUT[kind]] ?? '');
    if (!ref) {
      const first = scope.get(n.input[0] ?? '')?.tensor;
      if (kind === 'MatMul' && first)
        outcome.skipped.push({
          name: first.name,
          reason: 'the weight is the first input of its MatMul (W·x), not the second (x·W)',
        });
      continue;
    }
    const weight = ref.tensor;
    if (weight.dataType !== DataType.FLOAT) {
      const reason =
        weight.dataType === DataType.FLOAT16
          ? 'float16 weight (int8 dynamic needs float32)'
          : dtypeSkipReason(weight);
      if (reason) outcome.skipped.push({ name: weight.name, reason });
      continue;
    }
    const dims = shapeOf(weight);
    if ((kind === 'MatMul' || kind === 'Gemm' || kind === 'Gather') && dims.length !== 2) {
      outcome.skipped.push({
        name: weight.name,
        reason: `${dims.length}-D weight of ${kind} (int8 quantizes 2-D MatMul, Gemm and Gather weights)`,
      });
      continue;
    }
    if (kind === 'Gather' && intAttr(n, 'axis', 0) !== 0) {
      outcome.skipped.push({ name: weight.name, reason: 'Gather along an axis other than 0' });
      continue;
    }
    const kept = keptFloat32(uses, weight.name, (r) => takesInt8Copy(r, weight.name), 'int8');
    if (kept) {
      outcome.skipped.push({ name: weight.name, reason: kept });
      continue;
    }
    if (kind === 'Conv' && dims.length < 3) continue;
    found.push({
      op: kind,
      nodeName: n.name,
      weightName: weight.name,
      elements: dims.reduce((a, b) => a * b, 1),
      node: n,
      weight,
      owner: ref.graph,
      kind,
    });
  }
  return found;
}

interface Stored {
  q: string;
  scale: string;
  zero: string;
}

function bytesOf(a: Int8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** onnxruntime's ConvInteger takes only a per-tensor weight zero point: per-channel needs symmetric weights. */
function convPerChannel(options: Int8Options): boolean {
  return options.perChannel && options.symmetric;
}

/** Candidates with the same key share one quantized weight. */
function jobKey(c: Int8Candidate): string {
  if (c.kind === 'Gather') return `gather:${c.weightName}`;
  if (c.kind === 'Conv') return `conv:${c.weightName}`;
  const transB = c.kind === 'Gemm' && intAttr(c.node, 'transB', 0) === 1;
  const alpha = c.kind === 'Gemm' ? floatAttr(c.node, 'alpha', 1) : 1;
  return `mm:${c.weightName}:${transB}:${alpha}`;
}

function jobOf(ctx: PassContext, c: Int8Candidate, options: Int8Options): Int8Job {
  const dims = shapeOf(c.weight);
  const source = weightSource(ctx.model, c.weight);
  const { symmetric, reduceRange } = options;
  if (c.kind === 'Gather') {
    return {
      kind: 'int8',
      source,
      rows: dims[0]!,
      cols: dims[1]!,
      transpose: false,
      channels: 'none',
      symmetric,
      reduceRange,
    };
  }
  if (c.kind === 'Conv') {
    const m = dims[0]!;
    const inner = c.elements / m;
    const channels = convPerChannel(options) ? 'rows' : 'none';
    return { kind: 'int8', source, rows: m, cols: inner, transpose: false, channels, symmetric, reduceRange };
  }
  // MatMul [K, N]; Gemm [K, N], or [N, K] with transB = 1, quantized as its transpose.
  const transpose = c.kind === 'Gemm' && intAttr(c.node, 'transB', 0) === 1;
  const channels = options.perChannel ? 'cols' : 'none';
  return {
    kind: 'int8',
    source,
    rows: dims[0]!,
    cols: dims[1]!,
    transpose,
    channels,
    symmetric,
    reduceRange,
  };
}

export async function quantizeInt8Dynamic(
  ctx: PassContext,
  options: Int8Options,
  select: Selection,
): Promise<PassOutcome> {
  const proto = ctx.model.proto;
  const outcome: PassOutcome = { tensors: [], skipped: [], notes: [] };
  const graphs: GraphProto[] = [];
  forEachGraph(proto, ({ graph }) => graphs.push(graph));
  const replaced = new Set<string>();
  const counts: Record<Kind, number> = { MatMul: 0, Gemm: 0, Conv: 0, Gather: 0 };

  // Choose first, then quantize every weight concurrently; the graph is edited in order as results arrive.
  const scopeOf = scopedInitializers(proto);
  const uses = valueUses(graphs);
  const plans = graphs.map((graph) => ({
    graph,
    chosen: applySelection(candidatesIn(graph, scopeOf(graph), uses, outcome), select),
  }));
  // A weight is quantized once per job key in the graph that holds it, whichever graphs read it.
  const keyOf = (c: Int8Candidate): string => `${graphs.indexOf(c.owner)}/${jobKey(c)}`;
  const opset = opsetVersion(proto);
  if (opset < MIN_OPSET && plans.some((p) => p.chosen.length > 0)) {
    throw new ConfigurationError(
      `int8 writes DynamicQuantizeLinear, which needs opset ${MIN_OPSET} or later, and this model imports opset ${opset}`,
      {
        subject: ctx.model.path,
        fix: 'Convert the model to a newer opset first (python: onnx.version_converter.convert_version(model, 13)), or use int4 or fp16',
      },
    );
  }
  const jobs = new Map<string, { job: Int8Job; elements: number }>();
  for (const { chosen } of plans) {
    for (const c of chosen) {
      const key = keyOf(c);
      if (!jobs.has(key)) jobs.set(key, { job: jobOf(ctx, c, options), elements: c.elements });
    }
  }
  const planned = [...jobs];
  const elements = planned.reduce((sum, [, j]) => sum + j.elements, 0);
  const pool = ctx.kernels(elements);
  const running = pool.runAll<Int8Result>(planned.map(([, j]) => j));
  const results = new Map(planned.map(([key], i) => [key, running[i]!]));
  // While the weights are quantized, copy what this pass leaves alone (not the weights, nor the Conv biases it
  // reshapes) into the output.
  const touched = new Set<TensorProto>();
  for (const { graph, chosen } of plans) {
    const scope = scopeOf(graph);
    for (const c of chosen) {
      touched.add(c.weight);
      const bias = c.kind === 'Conv' ? scope.get(c.node.input[2] ?? '')?.tensor : undefined;
      if (bias) touched.add(bias);
    }
  }
  await ctx.placeOthers?.(touched);

  const stored = new Map<string, Stored>();
  for (const { graph, chosen } of plans) {
    if (chosen.length === 0) continue;
    const replacement = new Map<NodeProto, NodeProto[]>();
    const activations = new Map<string, { q: string; scale: string; zero: string; node: NodeProto }>();

    /** The initializers of `c`'s quantized weight (made once per job; `adjust` edits a new result first). */
    const store = async (
      c: Int8Candidate,
      dims: number[],
      scaleDims: number[],
      zeroDims: number[] = scaleDims,
      adjust?: (q: Int8Result) => void,
    ): Promise<Stored> => {
      const key = keyOf(c);
      const existing = stored.get(key);
      if (existing) return existing;
      const q = await results.get(key)!;
      results.delete(key);
      adjust?.(q);
      const names = {
        q: ctx.namer.unique(`${c.weightName}_quantized`),
        scale: ctx.namer.unique(`${c.weightName}_scale`),
        zero: ctx.namer.unique(`${c.weightName}_zero_point`),
      };
      const outputs = [
        tensor(names.q, DataType.INT8, dims, bytesOf(q.values)),
        floatTensor(names.scale, scaleDims, q.scales),
        tensor(names.zero, DataType.INT8, zeroDims, bytesOf(q.zeroPoints)),
      ];
      for (const t of outputs) {
        c.owner.initializer.push(t);
        ctx.place?.(t);
      }
      pool.release(q, outputs);
      stored.set(key, names);
      outcome.tensors.push({
        name: c.weightName,
        node: c.nodeName,
        dtypeBefore: dtypeName(c.weight.dataType),
        dtypeAfter: 'int8',
        elementCount: q.values.length,
        ...(finite(sqnrDb(q.signal, q.noise)) === undefined
          ? {}
          : { sqnrDb: finite(sqnrDb(q.signal, q.noise))! }),
      });
      return names;
    };

    /** One DynamicQuantizeLinear per activation, shared by every node that reads it. */
    const quantizeActivation = (
      input: string,
      nodes: NodeProto[],
    ): { q: string; scale: string; zero: string } => {
      const existing = activations.get(input);
      if (existing) return existing;
      const base = input.replace(/[^\w.]/g, '_');
      const names = {
        q: ctx.namer.unique(`${base}_quantized`),
        scale: ctx.namer.unique(`${base}_scale`),
        zero: ctx.namer.unique(`${base}_zero_point`),
      };
      const dql = node('DynamicQuantizeLinear', [input], [names.q, names.scale, names.zero], {
        name: ctx.namer.unique(`${base}_QuantizeLinear`),
      });
      nodes.push(dql);
      activations.set(input, { ...names, node: dql });
      return names;
    };

    for (const c of chosen) {
      const dims = shapeOf(c.weight);
      const nodes: NodeProto[] = [];
      const base = c.nodeName || c.weightName;
      const out = c.node.output[0]!;
      ctx.log(`int8: ${c.weightName} [${dims.join('×')}] (${c.kind})`);

      if (c.kind === 'Gather') {
        const s = await store(c, dims, []);
        const gathered = ctx.namer.unique(`${base}_quantized_output`);
        nodes.push(
          node('Gather', [s.q, c.node.input[1]!], [gathered], {
            name: ctx.namer.unique(`${base}_quant`),
            attributes: { axis: 0 },
          }),
        );
        nodes.push(
          node('DequantizeLinear', [gathered, s.scale, s.zero], [out], {
            name: ctx.namer.unique(`${base}_DequantizeLinear`),
          }),
        );
      } else if (c.kind === 'Conv') {
        const m = dims[0]!;
        const perChannel = convPerChannel(options);
        if (options.perChannel && !perChannel) {
          outcome.notes.push(
            `${c.weightName}: Conv quantized per-tensor (ConvInteger has no per-channel zero point)`,
          );
        }
        // Per-channel scales [M] must broadcast over the output [N, M, spatial…]: stored as [M, 1, …, 1]. The
        // zero points (all 0) are stored once.
        const s = await store(c, dims, perChannel ? [m, ...dims.slice(2).map(() => 1)] : [], [], (q) => {
          if (perChannel) q.zeroPoints = new Int8Array(1);
        });
        const a = quantizeActivation(c.node.input[0]!, nodes);
        const integer = ctx.namer.unique(`${base}_output_quantized`);
        const cast = ctx.namer.unique(`${base}_output_quantized_cast`);
        const scaleName = ctx.namer.unique(`${base}_scales_mul`);
        const conv = node('ConvInteger', [a.q, s.q, a.zero, s.zero], [integer], {
          name: ctx.namer.unique(`${base}_quant`),
        });
        conv.attribute = [...c.node.attribute]; // same kernel, pads, strides, dilations and group
        nodes.push(conv);
        nodes.push(
          node('Cast', [integer], [cast], {
            name: ctx.namer.unique(`${base}_cast`),
            attributes: { to: DataType.FLOAT },
          }),
        );
        nodes.push(
          node('Mul', [a.scale, s.scale], [scaleName], { name: ctx.namer.unique(`${base}_scales_mul_node`) }),
        );
        const bias = c.node.input[2];
        const scaled = bias ? ctx.namer.unique(`${base}_output_scaled`) : out;
        nodes.push(
          node('Mul', [cast, scaleName], [scaled], { name: ctx.namer.unique(`${base}_output_scale_mul`) }),
        );
        if (bias) {
          const biasTensor = scopeOf(graph).get(bias)?.tensor;
          let biasName = bias;
          const shape = [m, ...dims.slice(2).map(() => 1)];
          if (biasTensor) {
            biasName = ctx.namer.unique(`${bias}_reshaped`);
            graph.initializer.push(floatTensor(biasName, shape, weightValues(ctx.model, biasTensor)));
          } else {
            const shapeName = ctx.namer.unique(`${base}_bias_shape`);
            graph.initializer.push(
              tensor(
                shapeName,
                DataType.INT64,
                [shape.length],
                new Uint8Array(BigInt64Array.from(shape.map(BigInt)).buffer),
              ),
            );
            biasName = ctx.namer.unique(`${bias}_reshaped`);
            nodes.push(
              node('Reshape', [bias, shapeName], [biasName], {
                name: ctx.namer.unique(`${base}_bias_reshape`),
              }),
            );
          }
          nodes.push(node('Add', [scaled, biasName], [out], { name: ctx.namer.unique(`${base}_bias_add`) }));
          replaced.add(bias);
        }
      } else {
        // MatMul: weight [K, N]. Gemm: weight [K, N], or [N, K] with transB=1 (quantized transposed to [K, N]).
        const transB = c.kind === 'Gemm' && intAttr(c.node, 'transB', 0) === 1;
        const [k, n] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
        const alpha = c.kind === 'Gemm' ? floatAttr(c.node, 'alpha', 1) : 1;
        const s = await store(c, [k, n], options.perChannel ? [n] : [], undefined, (q) => {
          if (alpha !== 1) for (let i = 0; i < q.scales.length; i++) q.scales[i]! *= alpha;
        });
        let a = c.node.input[0]!;
        if (c.kind === 'Gemm' && intAttr(c.node, 'transA', 0) === 1) {
          const t = ctx.namer.unique(`${base}_A_T`);
          nodes.push(
            node('Transpose', [a], [t], {
              name: ctx.namer.unique(`${base}_transA`),
              attributes: { perm: [1, 0] },
            }),
          );
          a = t;
        }
        const aq = quantizeActivation(a, nodes);
        const integer = ctx.namer.unique(`${base}_output_quantized`);
        const cast = ctx.namer.unique(`${base}_output_quantized_cast`);
        const scaleName = ctx.namer.unique(`${base}_scales_mul`);
        nodes.push(
          node('MatMulInteger', [aq.q, s.q, aq.zero, s.zero], [integer], {
            name: ctx.namer.unique(`${base}_quant`),
          }),
        );
        nodes.push(
          node('Cast', [integer], [cast], {
            name: ctx.namer.unique(`${base}_cast`),
            attributes: { to: DataType.FLOAT },
          }),
        );
        nodes.push(
          node('Mul', [aq.scale, s.scale], [scaleName], {
            name: ctx.namer.unique(`${base}_scales_mul_node`),
          }),
        );
        const bias = c.kind === 'Gemm' ? c.node.input[2] : undefined;
        const scaled = bias ? ctx.namer.unique(`${base}_output_scaled`) : out;
        nodes.push(
          node('Mul', [cast, scaleName], [scaled], { name: ctx.namer.unique(`${base}_output_scale_mul`) }),
        );
        if (bias) {
          const beta = floatAttr(c.node, 'beta', 1);
          let biasName = bias;
          if (beta !== 1) {
            const betaName = ctx.namer.unique(`${base}_beta`);
            graph.initializer.push(floatTensor(betaName, [], Float32Array.of(beta)));
            biasName = ctx.namer.unique(`${base}_bias_scaled`);
            nodes.push(
              node('Mul', [bias, betaName], [biasName], { name: ctx.namer.unique(`${base}_beta_mul`) }),
            );
          }
          nodes.push(node('Add', [scaled, biasName], [out], { name: ctx.namer.unique(`${base}_bias_add`) }));
        }
      }
      replacement.set(c.node, nodes);
      replaced.add(c.weightName);
      counts[c.kind] += 1;
    }
    graph.node = graph.node.flatMap((n) => replacement.get(n) ?? [n]);
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) return outcome;
  const consumers = countConsumers(proto);
  for (const graph of graphs) for (const name of replaced) removeInitializerIfUnused(graph, name, consumers);
  const parts = (Object.entries(counts) as [Kind, number][])
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${v} ${k}`);
  outcome.notes.push(
    `${parts.join(', ')} quantized to int8 (${options.perChannel ? 'per-channel' : 'per-tensor'}, ${options.symmetric ? 'symmetric' : 'asymmetric'}); ` +
      'graph form DynamicQuantizeLinear + MatMulInteger/ConvInteger, which onnxruntime fuses into DynamicQuantizeMatMul at load',
  );
  return outcome;
}
