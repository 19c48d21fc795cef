/**
 * Node probes: what one graph node of a given kind and size costs at each intra-op thread count. Small models at
 * batch 1 run hundreds of small nodes, and how their time changes with threads is not the GEMM peak's: a node too
 * small to split runs on one thread whatever the pool, and a node that is split pays for waking the pool (with
 * spinning off, a sleeping thread per parallel section; on a virtual machine, an idle vCPU). The emulator scales
 * each node of a model by the probe curve of its kind at its size (src/bench/predict.ts).
 *
 * Each probe is a chain of `count` identical links, so a run's wall time / count is one link's cost, the executor's
 * share included and the profiler's excluded. A matrix link is the matrix node and three small Muls after it (the
 * Muls' cost, timed by the `other` probe of that shape, is taken off): back-to-back products would hide the cost of
 * waking a pool thread that, in a model, has gone back to sleep during the small nodes in between (on our 2-vCPU
 * development VM, a [64,256]·[256,256] MatMul ran ×0.80–0.91 the 1-thread time at 2 threads back to back, and
 * ×1.07–1.15 with three element-wise nodes after each). Longer pauses make a product slower still at 2 threads
 * (`--only probe-gaps` in benchmarks/bench: ×1.05 with three small nodes after it, ×1.16 with eight, ×1.19 with
 * twenty, against back to back; median over the matrix probes), yet probes with eight small nodes predicted the
 * models of docs/benchmark-validation.md no better than probes with three, so the probes keep three. Kinds and sizes:
 * - `other`: element-wise Mul of an [r, c] tensor and a [c] constant (sizes by bytes read and written), standing for
 *   every node without matrix work (element-wise, normalization, shape and copy ops);
 * - `fp32`, `int8`, `int4`: MatMul [m, d]·[d, d] with fp32 weights, the DynamicQuantizeLinear → MatMulInteger →
 *   Cast → Mul chain onnxruntime fuses into DynamicQuantizeMatMul, and com.microsoft::MatMulNBits (4 bits, block 32);
 *   sizes by arithmetic ops (2 per multiply-add), over m = 1…256 rows (prefill and decode shapes) and d = 256, 1024.
 *
 * The probes of all thread counts are timed interleaved in 8 rounds (each round: every probe at each thread count
 * back to back, in alternating order). A probe's time at the lowest thread count is the median over rounds; at
 * another thread count it is that times the median of the per-round ratios, so a drift of the machine's speed
 * between rounds cancels out of the ratios that the emulator uses. More, shorter rounds were tried (`--only
 * probe-repeat --rounds 8,16,24` in benchmarks/bench): on our 2-vCPU development VM they scatter a probe's
 * 2-thread ÷ 1-thread ratio across sets a fifth less, but they lower every ratio by 2–4 % (each turn shorter, more
 * of it spent after another probe's), and the models of docs/benchmark-validation.md then came out too fast at 2
 * threads by 5.5 % (median) instead of 2 %, scoring no better; so rounds stay 8.
 */
import { nodeCosts } from '../bench/node-costs.ts';
import { median } from '../bench/statistics.ts';
import { floatTensor, node, tensor } from '../compress/graph.ts';
import type { GemmDims, NodeKind, NodeProbePoint, NodeProbes } from '../config/types.ts';
import { createSession, type Session, type TensorValue } from '../inference/session.ts';
import { DataType } from '../onnx/dtypes.ts';
import { encodeModelProto, type NodeProto, type TensorProto } from '../onnx/proto.ts';
import { fillPattern, modelProto, patternBytes, valueInfo } from './probe-models.ts';

/** Bumped whenever a probe changes in a way that changes its figures. */
export const NODE_PROBE_VERSION = 2;

/** Runs of a profiling session, as src/bench/run-bench.ts profiles a model. */
const PROFILE_RUNS = 10;

export type { NodeKind, NodeProbePoint, NodeProbes };

interface ProbeSpec {
  kind: NodeKind;
  size: number;
  shape: string;
  /** The input tensor's dims. */
  dims: number[];
  count: number;
  /** A matrix probe's product. */
  gemm?: GemmDims;
  /** A matrix probe's small nodes after each product, and the `other` probe whose per-node time they take off. */
  gap?: { nodes: number; shape: string };
  model: () => Uint8Array;
}

/** [m, d] of the matrix probes: m rows against a [d, d] weight. */
const MATMUL_SHAPES: [number, number][] = [
  [1, 256],
  [4, 256],
  [16, 256],
  [64, 256],
  [256, 256],
  [1, 1024],
  [16, 1024],
];

/** The element-wise probes: each matrix probe's gap shape, and a large one. */
const ELEMENTWISE_SHAPES: [number, number][] = [...MATMUL_SHAPES, [512, 1024]];

function pattern(n: number, seed: number, scale: number): Float32Array {
  const v = fillPattern(new Float32Array(n), seed);
  for (let i = 0; i < n; i++) v[i]! *= scale;
  return v;
}

function chain(name: string, dims: number[], nodes: NodeProto[], inits: TensorProto[], last: string) {
  const proto = modelProto(
    name,
    nodes,
    [valueInfo('x0', DataType.FLOAT, dims)],
    [valueInfo(last, DataType.FLOAT, dims)],
    inits,
  );
  if (nodes.some((n) => n.domain === 'com.microsoft'))
    proto.opsetImport.push({ domain: 'com.microsoft', version: 1 });
  return encodeModelProto(proto);
}

/** One link of a chain: nodes from `input` to `output` and their initializers. */
interface Link {
  nodes: NodeProto[];
  inits: TensorProto[];
}

/**
 * Mul by a [c] constant: the `other` probe, and the gap after each matrix node (a Mul, as onnxruntime would fuse an
 * Add right after a MatMul into a Gemm).
 */
function mulLink(i: string, input: string, output: string, cols: number): Link {
  const scale = pattern(cols, cols, 1e-3);
  for (let j = 0; j < cols; j++) scale[j]! += 1;
  return {
    inits: [floatTensor(`c${i}`, [cols], scale)],
    nodes: [node('Mul', [input, `c${i}`], [output], { name: `mul${i}` })],
  };
}

/** MatMul with unit-gain weights (±1/√d), which keep values finite along the chain. */
function fp32Link(i: number, input: string, output: string, d: number): Link {
  const w = fillPattern(new Float32Array(d * d), i + 7);
  for (let j = 0; j < w.length; j++) w[j] = w[j]! >= 0 ? 1 / Math.sqrt(d) : -1 / Math.sqrt(d);
  return {
    inits: [floatTensor(`w${i}`, [d, d], w)],
    nodes: [node('MatMul', [input, `w${i}`], [output], { name: `mm${i}` })],
  };
}

/** Dynamic int8 quantization as slmops and onnxruntime's quantize_dynamic write it (fused at load). */
function int8Link(i: number, input: string, output: string, d: number): Link {
  return {
    inits: [
      tensor(`w${i}`, DataType.INT8, [d, d], patternBytes(d * d, i + 11)),
      tensor(`wzp${i}`, DataType.INT8, [], new Uint8Array(1)),
      floatTensor(`wscale${i}`, [], new Float32Array([1 / (64 * Math.sqrt(d))])),
    ],
    nodes: [
      node('DynamicQuantizeLinear', [input], [`q${i}`, `s${i}`, `z${i}`], { name: `dql${i}` }),
      node('MatMulInteger', [`q${i}`, `w${i}`, `z${i}`, `wzp${i}`], [`i${i}`], { name: `mmi${i}` }),
      node('Cast', [`i${i}`], [`f${i}`], { name: `cast${i}`, attributes: { to: DataType.FLOAT } }),
      node('Mul', [`s${i}`, `wscale${i}`], [`k${i}`], { name: `scale${i}` }),
      node('Mul', [`f${i}`, `k${i}`], [output], { name: `mul${i}` }),
    ],
  };
}

/** com.microsoft::MatMulNBits, 4 bits, block 32, no zero points (symmetric, as slmops writes it by default). */
function int4Link(i: number, input: string, output: string, d: number): Link {
  const block = 32;
  const blocks = d / block;
  return {
    inits: [
      tensor(`w${i}`, DataType.UINT8, [d, blocks, block / 2], patternBytes(d * blocks * (block / 2), i + 5)),
      floatTensor(`s${i}`, [d, blocks], new Float32Array(d * blocks).fill(1 / (8 * Math.sqrt(d)))),
    ],
    nodes: [
      node('MatMulNBits', [input, `w${i}`, `s${i}`], [output], {
        name: `q4_${i}`,
        domain: 'com.microsoft',
        attributes: { K: d, N: d, bits: 4, block_size: block },
      }),
    ],
  };
}

const LINKS = { fp32: fp32Link, int8: int8Link, int4: int4Link };

/**
 * `count` links of `kind` on an [m, d] tensor, each matrix node followed by `gap` Muls (their cost, from the `other`
 * probe of the same shape, is taken off): models run small nodes between their matrix products, and a pool thread
 * woken for each parallel section has gone back to sleep by the next one, which back-to-back products hide.
 */
function chainModel(kind: NodeKind, m: number, d: number, count: number, gap: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  let value = 'x0';
  let next = 0;
  const push = (link: Link) => {
    nodes.push(...link.nodes);
    inits.push(...link.inits);
  };
  for (let i = 0; i < count; i++) {
    const output = `x${++next}`;
    push(kind === 'other' ? mulLink(String(i), value, output, d) : LINKS[kind](i, value, output, d));
    value = output;
    if (kind === 'other') continue;
    for (let g = 0; g < gap; g++) {
      const gapOut = `x${++next}`;
      push(mulLink(`${i}_${g}`, value, gapOut, d));
      value = gapOut;
    }
  }
  return chain(`node-probe-${kind}`, [m, d], nodes, inits, value);
}

/** Interleaved rounds of a probe set (see the file comment). */
const ROUNDS = 8;

/** Element-wise nodes after each matrix node of a matrix probe (see the file comment). */
const GAP = 3;

/** Enough nodes that a run lasts ~0.2 ms or more at one thread, at most 64. */
function chainLength(usGuess: number): number {
  return Math.max(8, Math.min(64, Math.ceil(200 / usGuess)));
}

/** The probe set (see the file comment); `gap` small nodes after each product (other values: benchmarks/ only). */
export function nodeProbeSpecs(gap = GAP): ProbeSpec[] {
  const specs: ProbeSpec[] = [];
  for (const [r, c] of ELEMENTWISE_SHAPES) {
    const count = chainLength(1 + (r * c) / 4000);
    specs.push({
      kind: 'other',
      size: (2 * r * c + c) * 4,
      shape: `mul ${r}x${c}`,
      dims: [r, c],
      count,
      model: () => chainModel('other', r, c, count, 0),
    });
  }
  for (const kind of ['fp32', 'int8', 'int4'] as const) {
    for (const [m, d] of MATMUL_SHAPES) {
      const ops = 2 * m * d * d;
      const count = chainLength(2 + ops / 50e3);
      specs.push({
        kind,
        size: ops,
        shape: `matmul ${m}x${d}x${d}`,
        dims: [m, d],
        count,
        gemm: { m, k: d, n: d },
        gap: { nodes: gap, shape: `mul ${m}x${d}` },
        model: () => chainModel(kind, m, d, count, gap),
      });
    }
  }
  return specs;
}

export interface NodeProbeOptions {
  /** Intra-op thread counts. */
  threads: number[];
  /** Time to spend timing (ms), after setup; default 6000. */
  budgetMs?: number;
  /**
   * Small nodes after each product; default 3 (see the file comment). Other values are for benchmarks/ only: their
   * figures carry the same version and must not be stored or compared with a calibration's.
   */
  gap?: number;
  /** Interleaved rounds; default 8 (see the file comment). */
  rounds?: number;
  log?: (message: string) => void;
}

async function timeBatch(
  session: Session,
  feeds: Record<string, TensorValue>,
  untilMs: number,
): Promise<number[]> {
  const times: number[] = [];
  while (times.length < 3 || (performance.now() < untilMs && times.length < 500)) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  return times;
}

/** The input of a probe chain: its [rows, cols] tensor, filled with a fixed pattern. */
function probeFeeds(spec: ProbeSpec): Record<string, TensorValue> {
  const size = spec.dims.reduce((a, b) => a * b, 1);
  return { x0: { type: 'float32', dims: spec.dims, data: pattern(size, 3, 1) } };
}

/** Mean profiled kernel time per node of a probe (fresh profiling session, 10 runs, as models are profiled). */
async function profiledUsPerNode(spec: ProbeSpec, threads: number): Promise<number> {
  const feeds = probeFeeds(spec);
  const session = await createSession(spec.model(), {
    intraOpThreads: threads,
    interOpThreads: 1,
    profiling: true,
  });
  try {
    for (let i = 0; i < PROFILE_RUNS; i++) await session.run(feeds);
    const costs = nodeCosts(session.endProfiling(), PROFILE_RUNS);
    return costs.reduce((sum, c) => sum + c.us, 0) / spec.count;
  } finally {
    await session.release();
  }
}

/** Measures every node probe at every thread count (see the file comment). */
export async function measureNodeProbes(options: NodeProbeOptions): Promise<NodeProbes> {
  const threads = [...new Set(options.threads)].sort((a, b) => a - b);
  const budgetMs = options.budgetMs ?? 6000;
  const log = options.log ?? (() => {});
  const specs = nodeProbeSpecs(options.gap);
  const sessions: {
    spec: ProbeSpec;
    threads: number;
    session: Session;
    feeds: Record<string, TensorValue>;
  }[] = [];
  try {
    for (const spec of specs) {
      const bytes = spec.model();
      const feeds = probeFeeds(spec);
      for (const t of threads) {
        const session = await createSession(bytes, { intraOpThreads: t, interOpThreads: 1 });
        for (let i = 0; i < 5; i++) await session.run(feeds);
        sessions.push({ spec, threads: t, session, feeds });
      }
    }
    const rounds = options.rounds ?? ROUNDS;
    log(
      `node probes: ${specs.length} probes × ${threads.length} thread counts, ${rounds} interleaved rounds`,
    );
    const slice = budgetMs / rounds / sessions.length;
    const samples = new Map<(typeof sessions)[number], number[]>();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? sessions : [...sessions].reverse();
      for (const entry of order) {
        const times = await timeBatch(entry.session, entry.feeds, performance.now() + slice);
        const list = samples.get(entry) ?? [];
        list.push(median(times));
        samples.set(entry, list);
      }
    }
    const smallest = sessions.find((s) => s.spec.kind === 'other' && s.threads === threads[0])!;
    const profilerUs = Math.max(
      0,
      (await profiledUsPerNode(smallest.spec, threads[0]!)) -
        median(samples.get(smallest)!) / smallest.spec.count,
    );
    // Per round, one node's time: the link's less its gap (never below a tenth of the link).
    const perRound = (spec: ProbeSpec, t: number): number[] => {
      const own = samples.get(sessions.find((s) => s.spec === spec && s.threads === t)!)!;
      const gapSpec = spec.gap && specs.find((s) => s.kind === 'other' && s.shape === spec.gap!.shape);
      if (!spec.gap || !gapSpec) return own.map((link) => link / spec.count);
      const nodes = spec.gap.nodes;
      const gap = samples.get(sessions.find((s) => s.spec === gapSpec && s.threads === t)!)!;
      return own.map((link, r) => {
        const linkUs = link / spec.count;
        return Math.max(linkUs - (nodes * gap[r]!) / gapSpec.count, linkUs / 10);
      });
    };
    // The lowest thread count's time is the median over rounds; the others are that times the median of the
    // per-round ratios, each round timing a probe's thread counts back to back: a drift of the machine's speed
    // between rounds then cancels out of the ratio.
    const points: NodeProbePoint[] = specs.map((spec) => {
      const base = perRound(spec, threads[0]!);
      const baseUs = median(base);
      const us: Record<string, number> = { [String(threads[0])]: baseUs };
      for (const t of threads.slice(1)) {
        const other = perRound(spec, t);
        us[String(t)] = baseUs * median(other.map((v, r) => v / base[r]!));
      }
      return {
        kind: spec.kind,
        size: spec.size,
        shape: spec.shape,
        ...(spec.gemm ? { dims: spec.gemm } : {}),
        us,
      };
    });
    return { version: NODE_PROBE_VERSION, points, profilerUs };
  } finally {
    for (const s of sessions) await s.session.release();
  }
}
