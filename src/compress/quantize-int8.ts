/**
 * int8: dynamic quantization as onnxruntime's `quantize_dynamic` does it. Weights are stored int8 (per tensor or
 * per output channel); activations are quantized at run time.
 *
 * Graph form: MatMul and Gemm → DynamicQuantizeLinear + MatMulInteger + Cast + Mul (onnxruntime's CPU provider
 * fuses these into com.microsoft::DynamicQuantizeMatMul when it loads the model: the fastest CPU form, and the
 * model stays standard ONNX for other runtimes). Conv → DynamicQuantizeLinear + ConvInteger + Cast + Mul (+ Add
 * for the bias). Gather on a float table (embeddings) → Gather on int8 + DequantizeLinear.
 */
import { DataType, dtypeName } from '../onnx/dtypes.ts';
import type { GraphProto, NodeProto, TensorProto } from '../onnx/proto.ts';
import { forEachGraph } from '../onnx/walk.ts';
import {
  countConsumers,
  floatAttr,
  floatTensor,
  initializerIndex,
  intAttr,
  node,
  removeInitializerIfUnused,
  shapeOf,
  tensor,
  weightValues,
} from './graph.ts';
import { sqnrDb, transpose } from './int4-blocks.ts';
import { type Int8Quantized, quantizeInt8 } from './int8-weights.ts';
import { finite, type PassContext, type PassOutcome } from './pass.ts';
import type { Int8Options, Selection } from './recipe-spec.ts';
import { applySelection, type Candidate } from './select.ts';

type Kind = 'MatMul' | 'Gemm' | 'Conv' | 'Gather';

interface Int8Candidate extends Candidate {
  node: NodeProto;
  weight: TensorProto;
  kind: Kind;
}

const WEIGHT_INPUT: Record<Kind, number> = { MatMul: 1, Gemm: 1, Conv: 1, Gather: 0 };

function candidatesIn(graph: GraphProto, outcome: PassOutcome): Int8Candidate[] {
  const index = initializerIndex(graph);
  const found: Int8Candidate[] = [];
  for (const n of graph.node) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    const kind = n.opType as Kind;
    if (!(kind in WEIGHT_INPUT)) continue;
    const weight = index.get(n.input[WEIGHT_INPUT[kind]] ?? '');
    if (!weight) continue;
    if (weight.dataType !== DataType.FLOAT) {
      if (weight.dataType === DataType.FLOAT16)
        outcome.skipped.push({ name: weight.name, reason: 'float16 weight (int8 dynamic needs float32)' });
      continue;
    }
    const dims = shapeOf(weight);
    if ((kind === 'MatMul' || kind === 'Gemm' || kind === 'Gather') && dims.length !== 2) continue;
    if (kind === 'Gather' && intAttr(n, 'axis', 0) !== 0) continue;
    if (kind === 'Conv' && dims.length < 3) continue;
    found.push({
      op: kind,
      nodeName: n.name,
      weightName: weight.name,
      elements: dims.reduce((a, b) => a * b, 1),
      node: n,
      weight,
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

export function quantizeInt8Dynamic(ctx: PassContext, options: Int8Options, select: Selection): PassOutcome {
  const proto = ctx.model.proto;
  const outcome: PassOutcome = { tensors: [], skipped: [], notes: [] };
  const graphs: GraphProto[] = [];
  forEachGraph(proto, ({ graph }) => graphs.push(graph));
  const replaced = new Set<string>();
  const counts: Record<Kind, number> = { MatMul: 0, Gemm: 0, Conv: 0, Gather: 0 };

  for (const graph of graphs) {
    const chosen = applySelection(candidatesIn(graph, outcome), select);
    if (chosen.length === 0) continue;
    const replacement = new Map<NodeProto, NodeProto[]>();
    const activations = new Map<string, { q: string; scale: string; zero: string; node: NodeProto }>();
    const stored = new Map<string, Stored>();

    const store = (
      c: Int8Candidate,
      key: string,
      q: Int8Quantized,
      dims: number[],
      scaleDims: number[],
      zeroDims: number[] = scaleDims,
    ): Stored => {
      const existing = stored.get(key);
      if (existing) return existing;
      const names = {
        q: ctx.namer.unique(`${c.weightName}_quantized`),
        scale: ctx.namer.unique(`${c.weightName}_scale`),
        zero: ctx.namer.unique(`${c.weightName}_zero_point`),
      };
      graph.initializer.push(tensor(names.q, DataType.INT8, dims, new Uint8Array(q.values.buffer)));
      graph.initializer.push(floatTensor(names.scale, scaleDims, q.scales));
      graph.initializer.push(
        tensor(names.zero, DataType.INT8, zeroDims, new Uint8Array(q.zeroPoints.buffer)),
      );
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
      const values = weightValues(ctx.model, c.weight);
      const dims = shapeOf(c.weight);
      const nodes: NodeProto[] = [];
      const base = c.nodeName || c.weightName;
      const out = c.node.output[0]!;
      ctx.log(`int8: ${c.weightName} [${dims.join('×')}] (${c.kind})`);

      if (c.kind === 'Gather') {
        const q = quantizeInt8(values, 1, 1, values.length, options.symmetric);
        const s = store(c, `gather:${c.weightName}`, q, dims, []);
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
        const inner = values.length / m;
        // onnxruntime's ConvInteger takes only a per-tensor weight zero point: per-channel needs symmetric weights
        // (all zero points 0, stored once), so asymmetric per-channel falls back to per-tensor for Conv.
        const perChannel = options.perChannel && options.symmetric;
        if (options.perChannel && !perChannel) {
          outcome.notes.push(
            `${c.weightName}: Conv quantized per-tensor (ConvInteger has no per-channel zero point)`,
          );
        }
        const q = quantizeInt8(
          values,
          1,
          perChannel ? m : 1,
          perChannel ? inner : values.length,
          options.symmetric,
        );
        if (perChannel) q.zeroPoints = new Int8Array(1);
        // Per-channel scales [M] must broadcast over the output [N, M, spatial…]: stored as [M, 1, …, 1].
        const s = store(
          c,
          `conv:${c.weightName}`,
          q,
          dims,
          perChannel ? [m, ...dims.slice(2).map(() => 1)] : [],
          [],
        );
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
          const biasTensor = initializerIndex(graph).get(bias);
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
        // MatMul: weight [K, N]. Gemm: weight [K, N], or [N, K] with transB=1 (transposed here to [K, N]).
        const transB = c.kind === 'Gemm' && intAttr(c.node, 'transB', 0) === 1;
        const [k, n] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!];
        const kn = transB ? transpose(values, n, k) : values;
        const q = quantizeInt8(
          kn,
          k,
          options.perChannel ? n : 1,
          options.perChannel ? 1 : n,
          options.symmetric,
        );
        const alpha = c.kind === 'Gemm' ? floatAttr(c.node, 'alpha', 1) : 1;
        if (alpha !== 1) for (let i = 0; i < q.scales.length; i++) q.scales[i]! *= alpha;
        const key = `mm:${c.weightName}:${transB}:${alpha}`;
        const s = store(c, key, q, [k, n], options.perChannel ? [n] : []);
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
