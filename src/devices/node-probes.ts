/**
 * Node probes: what one graph node of a given kind and size costs at each intra-op thread count. Small models at
 * batch 1 run hundreds of small nodes, and how their time changes with threads is not the GEMM peak's: a node too
 * small to split runs on one thread whatever the pool, and a node that is split pays for waking the pool (with
 * spinning off, a sleeping thread per parallel section; on a virtual machine, an idle vCPU). The emulator scales
 * each node of a model by the probe curve of its kind at its size (src/bench/predict.ts).
 *
 * Each probe is a chain of `count` identical nodes, so a run's wall time / count is one node's cost, the executor's
 * share included and the profiler's excluded. Kinds and sizes:
 * - `other`: element-wise Add of an [r, c] tensor and a [c] constant (sizes by bytes read and written), standing for
 *   every node without matrix work (element-wise, normalization, shape and copy ops);
 * - `fp32`, `int8`, `int4`: MatMul [m, d]·[d, d] with fp32 weights, the DynamicQuantizeLinear → MatMulInteger →
 *   Cast → Mul chain onnxruntime fuses into DynamicQuantizeMatMul, and com.microsoft::MatMulNBits (4 bits, block 32);
 *   sizes by arithmetic ops (2 per multiply-add), over m = 1…256 rows (prefill and decode shapes) and d = 256, 1024.
 *
 * The probes of all thread counts are timed interleaved in rounds (each round: every probe at every thread count,
 * in alternating order), so a change of the host's speed while they run hits every figure alike.
 */
import { median } from '../bench/statistics.ts';
import { floatTensor, node, tensor } from '../compress/graph.ts';
import { createSession, type Session, type TensorValue } from '../inference/session.ts';
import { DataType } from '../onnx/dtypes.ts';
import { encodeModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { fillPattern, modelProto, valueInfo } from './probe-models.ts';

/** Bumped whenever a probe changes in a way that changes its figures. */
export const NODE_PROBE_VERSION = 1;

export type NodeKind = 'other' | 'fp32' | 'int8' | 'int4';

export interface NodeProbePoint {
  kind: NodeKind;
  /** Bytes read and written (`other`) or arithmetic ops (matrix kinds) of one node. */
  size: number;
  /** The probe's shape, for people: `add 128x1024`, `matmul 16x256x256`. */
  shape: string;
  /** µs per node, keyed by intra-op thread count. */
  us: Record<string, number>;
}

export interface NodeProbes {
  version: number;
  points: NodeProbePoint[];
}

interface ProbeSpec {
  kind: NodeKind;
  size: number;
  shape: string;
  dims: number[];
  count: number;
  model: () => Uint8Array;
}

const ADD_SHAPES: [number, number][] = [
  [1, 256],
  [16, 256],
  [128, 256],
  [128, 1024],
  [512, 1024],
];
const MATMUL_SHAPES: [number, number][] = [
  [1, 256],
  [4, 256],
  [16, 256],
  [64, 256],
  [256, 256],
  [1, 1024],
  [16, 1024],
];

function pattern(n: number, seed: number, scale: number): Float32Array {
  const v = fillPattern(new Float32Array(n), seed);
  for (let i = 0; i < n; i++) v[i]! *= scale;
  return v;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function chain(name: string, dims: number[], nodes: NodeProto[], inits: TensorProto[], last: string, opset = 17) {
  const proto = modelProto(
    name,
    nodes,
    [valueInfo('x0', DataType.FLOAT, dims)],
    [valueInfo(last, DataType.FLOAT, dims)],
    inits,
  );
  if (nodes.some((n) => n.domain === 'com.microsoft')) proto.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  proto.opsetImport[0]!.version = opset;
  return encodeModelProto(proto);
}

function addChain(rows: number, cols: number, count: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  for (let i = 0; i < count; i++) {
    inits.push(floatTensor(`c${i}`, [cols], pattern(cols, i + 1, 1e-3)));
    nodes.push(node('Add', [`x${i}`, `c${i}`], [`x${i + 1}`], { name: `add${i}` }));
  }
  return chain('node-probe-add', [rows, cols], nodes, inits, `x${count}`);
}

/** Unit-gain weights (±1/√d) keep values finite along the chain. */
function fp32Chain(m: number, d: number, count: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  for (let i = 0; i < count; i++) {
    const w = fillPattern(new Float32Array(d * d), i + 7);
    for (let j = 0; j < w.length; j++) w[j] = w[j]! >= 0 ? 1 / Math.sqrt(d) : -1 / Math.sqrt(d);
    inits.push(floatTensor(`w${i}`, [d, d], w));
    nodes.push(node('MatMul', [`x${i}`, `w${i}`], [`x${i + 1}`], { name: `mm${i}` }));
  }
  return chain('node-probe-fp32', [m, d], nodes, inits, `x${count}`);
}

/** Dynamic int8 quantization as slmops and onnxruntime's quantize_dynamic write it (fused at load). */
function int8Chain(m: number, d: number, count: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [
    tensor('wzp', DataType.INT8, [], new Uint8Array(1)),
    floatTensor('wscale', [], new Float32Array([1 / (64 * Math.sqrt(d))])),
  ];
  for (let i = 0; i < count; i++) {
    inits.push(tensor(`w${i}`, DataType.INT8, [d, d], randomBytes(d * d, i + 11)));
    nodes.push(
      node('DynamicQuantizeLinear', [`x${i}`], [`q${i}`, `s${i}`, `z${i}`], { name: `dql${i}` }),
      node('MatMulInteger', [`q${i}`, `w${i}`, `z${i}`, 'wzp'], [`i${i}`], { name: `mmi${i}` }),
      node('Cast', [`i${i}`], [`f${i}`], { name: `cast${i}`, attributes: { to: DataType.FLOAT } }),
      node('Mul', [`s${i}`, 'wscale'], [`k${i}`], { name: `scale${i}` }),
      node('Mul', [`f${i}`, `k${i}`], [`x${i + 1}`], { name: `mul${i}` }),
    );
  }
  return chain('node-probe-int8', [m, d], nodes, inits, `x${count}`);
}

/** com.microsoft::MatMulNBits, 4 bits, block 32, no zero points (symmetric, as slmops writes it by default). */
function int4Chain(m: number, d: number, count: number): Uint8Array {
  const block = 32;
  const blocks = d / block;
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  for (let i = 0; i < count; i++) {
    inits.push(tensor(`w${i}`, DataType.UINT8, [d, blocks, block / 2], randomBytes(d * blocks * (block / 2), i + 5)));
    const scales = new Float32Array(d * blocks).fill(1 / (8 * Math.sqrt(d)));
    inits.push(floatTensor(`s${i}`, [d, blocks], scales));
    nodes.push(
      node('MatMulNBits', [`x${i}`, `w${i}`, `s${i}`], [`x${i + 1}`], {
        name: `q4_${i}`,
        domain: 'com.microsoft',
        attributes: { K: d, N: d, bits: 4, block_size: block },
      }),
    );
  }
  return chain('node-probe-int4', [m, d], nodes, inits, `x${count}`);
}

/** Enough nodes that a run lasts ~0.2 ms or more at one thread, at most 64. */
function chainLength(usGuess: number): number {
  return Math.max(8, Math.min(64, Math.ceil(200 / usGuess)));
}

/** The probe set (see the file comment). */
export function nodeProbeSpecs(): ProbeSpec[] {
  const specs: ProbeSpec[] = [];
  for (const [r, c] of ADD_SHAPES) {
    const count = chainLength(1 + (r * c) / 4000);
    specs.push({
      kind: 'other',
      size: (2 * r * c + c) * 4,
      shape: `add ${r}x${c}`,
      dims: [r, c],
      count,
      model: () => addChain(r, c, count),
    });
  }
  for (const kind of ['fp32', 'int8', 'int4'] as const) {
    for (const [m, d] of MATMUL_SHAPES) {
      const ops = 2 * m * d * d;
      const count = chainLength(2 + ops / 50e3);
      const build = kind === 'fp32' ? fp32Chain : kind === 'int8' ? int8Chain : int4Chain;
      specs.push({ kind, size: ops, shape: `matmul ${m}x${d}x${d}`, dims: [m, d], count, model: () => build(m, d, count) });
    }
  }
  return specs;
}

export interface NodeProbeOptions {
  /** Intra-op thread counts. */
  threads: number[];
  /** Time to spend timing (ms), after setup; default 6000. */
  budgetMs?: number;
  log?: (message: string) => void;
}

async function timeBatch(session: Session, feeds: Record<string, TensorValue>, untilMs: number): Promise<number[]> {
  const times: number[] = [];
  while (times.length < 3 || (performance.now() < untilMs && times.length < 500)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return times;
}

/** Measures every node probe at every thread count (see the file comment). */
export async function measureNodeProbes(options: NodeProbeOptions): Promise<NodeProbes> {
  const threads = [...new Set(options.threads)].sort((a, b) => a - b);
  const budgetMs = options.budgetMs ?? 6000;
  const log = options.log ?? (() => {});
  const specs = nodeProbeSpecs();
  const rounds = 4;
  const sessions: { spec: ProbeSpec; threads: number; session: Session; feeds: Record<string, TensorValue> }[] = [];
  try {
    for (const spec of specs) {
      const bytes = spec.model();
      const size = spec.dims.reduce((a, b) => a * b, 1);
      const feeds = { x0: { type: 'float32' as const, dims: spec.dims, data: pattern(size, 3, 1) } };
      for (const t of threads) {
        const session = await createSession(bytes, { intraOpThreads: t, interOpThreads: 1 });
        for (let i = 0; i < 5; i++) await session.run(feeds);
        sessions.push({ spec, threads: t, session, feeds });
      }
    }
    log(`node probes: ${specs.length} probes × ${threads.length} thread counts, ${rounds} interleaved rounds`);
    const slice = budgetMs / rounds / sessions.length;
    const samples = new Map<(typeof sessions)[number], number[]>();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sessions : [...sessions].reverse();
      for (const entry of order) {
        const times = await timeBatch(entry.session, entry.feeds, performance.now() + slice);
        samples.set(entry, [...(samples.get(entry) ?? []), median(times)]);
      }
    }
    const points: NodeProbePoint[] = specs.map((spec) => {
      const us: Record<string, number> = {};
      for (const entry of sessions.filter((s) => s.spec === spec))
        us[String(entry.threads)] = median(samples.get(entry)!) / spec.count;
      return { kind: spec.kind, size: spec.size, shape: spec.shape, us };
    });
    return { version: NODE_PROBE_VERSION, points };
  } finally {
    for (const s of sessions) await s.session.release();
  }
}
