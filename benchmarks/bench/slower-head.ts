/**
 * A "slower head": the same model with extra work whose result is multiplied by zero and added back, so it
 * computes exactly the same outputs, only slower.
 *
 * The activation h that feeds the LM head (the MatMul that produces `logits`) is replaced by h + zero ⊙ y, where
 * y = h · W1 · W2 ⋯ Wk (k MatMuls with constant [d, d] weights of unit gain) and `zero` is a [d] initializer of
 * zeros multiplied at run time. onnxruntime cannot remove any of it: constant folding needs constant inputs (y
 * depends on h), it does not rewrite x·0 for floats (NaN/Inf semantics), and a [d] zero vector (not a scalar)
 * keeps MatMulScaleFusion from folding the Mul into the last MatMul as alpha = 0. Since y is finite,
 * h + 0·y = h bit for bit, so every output is unchanged.
 */
import { floatTensor, Namer, node } from '../../src/compress/graph.ts';
import { type NodeProto, toNumber } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { writeModel } from '../../src/onnx/write.ts';

export interface SlowerHead {
  path: string;
  /** The activation the extra work hangs off. */
  activation: string;
  dim: number;
  extraMatMuls: number;
}

export function writeSlowerHead(source: string, out: string, extraMatMuls: number): SlowerHead {
  const model = readModel(source);
  const graph = model.proto.graph!;
  const logits = graph.output.find((o) => o.name === 'logits')?.name ?? graph.output[0]!.name;
  const headIndex = graph.node.findIndex((n) => n.output.includes(logits));
  const head = graph.node[headIndex];
  if (head?.opType !== 'MatMul') throw new Error(`${source}: logits are not produced by a MatMul`);
  const weight = graph.initializer.find((t) => t.name === head.input[1]);
  if (!weight) throw new Error(`${source}: the LM head has no constant weight`);
  const dim = toNumber(weight.dims[0]);
  const activation = head.input[0]!;
  const namer = new Namer(model.proto);
  const added: NodeProto[] = [];
  let seed = 20_240_601;
  const scale = 1 / Math.sqrt(dim);
  let previous = activation;
  for (let i = 0; i < extraMatMuls; i++) {
    // ±1/√d entries: a random sign matrix keeps the norm of y about constant, so y stays finite along the chain.
    const values = new Float32Array(dim * dim);
    for (let j = 0; j < values.length; j++) {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      values[j] = seed & 0x10000 ? scale : -scale;
    }
    const w = namer.unique(`slow_head_w${i}`);
    graph.initializer.push(floatTensor(w, [dim, dim], values));
    const output = namer.unique(`slow_head_y${i}`);
    added.push(node('MatMul', [previous, w], [output], { name: namer.unique(`slow_head_matmul${i}`) }));
    previous = output;
  }
  const zero = namer.unique('slow_head_zero');
  graph.initializer.push(floatTensor(zero, [dim], new Float32Array(dim)));
  const zeroed = namer.unique('slow_head_zeroed');
  added.push(node('Mul', [previous, zero], [zeroed], { name: namer.unique('slow_head_mul_zero') }));
  const sum = namer.unique('slow_head_sum');
  added.push(node('Add', [activation, zeroed], [sum], { name: namer.unique('slow_head_add') }));
  head.input[0] = sum;
  graph.node.splice(headIndex, 0, ...added);
  writeModel(model, out, { externalData: false });
  return { path: out, activation, dim, extraMatMuls };
}
