/**
 * A tiny KV-cache decoder written the way different exporters write theirs: optimum's `past_key_values.0.key` /
 * `present.0.key`, dim names of torch.onnx (`batch_size`, `past_sequence_length + 1`) or torch dynamo (`s0`,
 * `s2 + s1`), int64 or int32 token inputs, a float32 or float16 cache, and optionally `position_ids`,
 * `cache_position` and `use_cache_branch`. Its logits depend on the token alone (the cache and the other inputs
 * enter multiplied by zero), so a decode step's logits equal the full pass's at that position.
 */
import { floatTensor, node, tensor } from '../../src/compress/graph.ts';
import { modelProto } from '../../src/devices/probe-models.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import {
  encodeModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../src/onnx/proto.ts';

export const VOCAB = 11;
const WIDTH = 4;

export interface DecoderOptions {
  /** Dim names: batch, new tokens, cached tokens, and cached + new. */
  dims?: { batch: string; seq: string; past: string; total: string };
  ids?: 'int64' | 'int32';
  cache?: 'float32' | 'float16';
  positionIds?: boolean;
  cachePosition?: boolean;
  useCacheBranch?: boolean;
  /** No pasts and presents at all. */
  noCache?: boolean;
  /** A fixed length for input_ids instead of a symbolic one. */
  fixedLength?: number;
}

function info(name: string, elemType: number, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  } as ValueInfoProto;
}

function int64s(name: string, values: number[]): TensorProto {
  const bytes = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
  return tensor(name, DataType.INT64, [values.length], bytes);
}

export function decoderModel(options: DecoderOptions = {}): Uint8Array {
  const d = options.dims ?? {
    batch: 'batch_size',
    seq: 'sequence_length',
    past: 'past_sequence_length',
    total: 'past_sequence_length + 1',
  };
  const idsType = options.ids === 'int32' ? DataType.INT32 : DataType.INT64;
  const cacheType = options.cache === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const seq = options.fixedLength ?? d.seq;
  const embedding = Float32Array.from({ length: VOCAB * WIDTH }, (_, i) => Math.sin(i + 1));
  const projection = Float32Array.from({ length: WIDTH * VOCAB }, (_, i) => Math.cos(i * 0.7));
  const inits: TensorProto[] = [
    floatTensor('E', [VOCAB, WIDTH], embedding),
    floatTensor('W', [WIDTH, VOCAB], projection),
    floatTensor('zero', [], new Float32Array([0])),
    int64s('axis1', [1]),
  ];
  const nodes: NodeProto[] = [node('Gather', ['E', 'input_ids'], ['emb'])];
  const inputs = [
    info('input_ids', idsType, [d.batch, seq]),
    info('attention_mask', idsType, [d.batch, d.total]),
  ];
  const outputs = [info('logits', DataType.FLOAT, [d.batch, seq, VOCAB])];
  // Every other input is summed, multiplied by zero and added to the hidden state.
  const unused: string[] = ['attention_mask'];
  if (options.positionIds) {
    inputs.push(info('position_ids', idsType, [d.batch, seq]));
    unused.push('position_ids');
  }
  if (options.cachePosition) {
    inputs.push(info('cache_position', DataType.INT64, [seq]));
    unused.push('cache_position');
  }
  if (options.useCacheBranch) {
    inputs.push(info('use_cache_branch', DataType.BOOL, [1]));
    unused.push('use_cache_branch');
  }
  if (!options.noCache) {
    nodes.push(node('Unsqueeze', ['emb', 'axis1'], ['kv_new']));
    if (cacheType === DataType.FLOAT16)
      nodes.push(node('Cast', ['kv_new'], ['kv_new_c'], { attributes: { to: DataType.FLOAT16 } }));
    const fresh = cacheType === DataType.FLOAT16 ? 'kv_new_c' : 'kv_new';
    for (const part of ['key', 'value']) {
      inputs.push(info(`past_key_values.0.${part}`, cacheType, [d.batch, 1, d.past, WIDTH]));
      outputs.push(info(`present.0.${part}`, cacheType, [d.batch, 1, d.total, WIDTH]));
      nodes.push(
        node('Concat', [`past_key_values.0.${part}`, fresh], [`present.0.${part}`], {
          attributes: { axis: 2 },
        }),
      );
      unused.push(`present.0.${part}`);
    }
  }
  let hidden = 'emb';
  unused.forEach((name, i) => {
    nodes.push(node('Cast', [name], [`u${i}_f`], { attributes: { to: DataType.FLOAT } }));
    nodes.push(node('ReduceSum', [`u${i}_f`], [`u${i}_s`], { attributes: { keepdims: 0 } }));
    nodes.push(node('Mul', [`u${i}_s`, 'zero'], [`u${i}_z`]));
    nodes.push(node('Add', [hidden, `u${i}_z`], [`h${i}`]));
    hidden = `h${i}`;
  });
  nodes.push(node('MatMul', [hidden, 'W'], ['logits']));
  return encodeModelProto(modelProto('decoder', nodes, inputs, outputs, inits));
}
