/**
 * Calibration probes for what src/devices/calibrate.ts does not measure: what one graph node costs beyond its
 * arithmetic, per intra-op thread count. Small language models at batch 1 run hundreds of small nodes; their time
 * is mostly this fixed cost, which does not shrink with more threads (and may grow: with spinning off, every
 * parallel section wakes a sleeping pool thread).
 *
 * - dispatch: a chain of N Add nodes on a [1, 192] tensor (each adds its own [192] constant): time per node is the
 *   executor's fixed cost for a node that does no real work.
 * - gemm: chains of N MatMuls [M, 192] · [192, 192] for M = 4…128; time per node against its multiply-adds,
 *   fitted as fixed + slope × ops. MLAS splits a GEMM over threads only from 64 K multiply-adds on
 *   (MLAS_SGEMM_THREAD_COMPLEXITY), so M = 1 (37 K) is timed apart: it runs on one thread whatever the pool.
 * - elementwise: a chain of N Adds on [128, 768] (98 304 elements): the per-element cost of a large element-wise op.
 *
 * Each figure is the median of wall times of whole runs / N, in µs, after warm-up (no profiler: its own per-node
 * overhead would be counted as fixed cost).
 */

import { median } from '../../src/bench/statistics.ts';
import { floatTensor, node } from '../../src/compress/graph.ts';
import { fillPattern, modelProto, valueInfo } from '../../src/devices/probe-models.ts';
import { createSession } from '../../src/inference/session.ts';
import { DataType } from '../../src/onnx/dtypes.ts';
import { encodeModelProto, type NodeProto, type TensorProto } from '../../src/onnx/proto.ts';

export interface NodeProbeFigures {
  /** µs per do-nothing node. */
  dispatchUs: number;
  /** GEMM nodes: fixed µs per node and µs per million multiply-add ops (2 ops each), from a least-squares fit. */
  gemmFixedUs: number;
  gemmUsPerMop: number;
  /** The raw GEMM points: M, ops per node, µs per node. The fit uses those MLAS splits over threads (≥ 64 K MACs). */
  gemmPoints: { m: number; ops: number; us: number }[];
  /** µs per [1,192]·[192,192] GEMM (37 K MACs: below MLAS's threshold, it runs on one thread whatever the pool). */
  unsplitGemmUs: number;
  /** Large element-wise Add: µs per node and per million elements (after the dispatch cost). */
  elementwiseUs: number;
  elementwiseUsPerMelem: number;
}

const D = 192;

function chainModel(
  name: string,
  dims: number[],
  nodes: NodeProto[],
  inits: TensorProto[],
  last: string,
): Uint8Array {
  return encodeModelProto(
    modelProto(
      name,
      nodes,
      [valueInfo('x0', DataType.FLOAT, dims)],
      [valueInfo(last, DataType.FLOAT, dims)],
      inits,
    ),
  );
}

function pattern(n: number, seed: number, scale: number): Float32Array {
  const v = fillPattern(new Float32Array(n), seed);
  if (scale !== 1) for (let i = 0; i < n; i++) v[i]! *= scale;
  return v;
}

function addChain(rows: number, cols: number, count: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  for (let i = 0; i < count; i++) {
    inits.push(floatTensor(`c${i}`, [cols], pattern(cols, i + 1, 1e-3)));
    nodes.push(node('Add', [`x${i}`, `c${i}`], [`x${i + 1}`], { name: `add${i}` }));
  }
  return chainModel('probe-add', [rows, cols], nodes, inits, `x${count}`);
}

function matmulChain(m: number, count: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  for (let i = 0; i < count; i++) {
    // Unit-gain random weights (±1/√d) keep values finite along the chain.
    const w = pattern(D * D, i + 7, 1);
    for (let j = 0; j < w.length; j++) w[j] = w[j]! >= 0 ? 1 / Math.sqrt(D) : -1 / Math.sqrt(D);
    inits.push(floatTensor(`w${i}`, [D, D], w));
    nodes.push(node('MatMul', [`x${i}`, `w${i}`], [`x${i + 1}`], { name: `mm${i}` }));
  }
  return chainModel('probe-matmul', [m, D], nodes, inits, `x${count}`);
}

async function usPerNode(model: Uint8Array, dims: number[], count: number, threads: number): Promise<number> {
  const session = await createSession(model, { intraOpThreads: threads });
  try {
    const size = dims.reduce((a, b) => a * b, 1);
    const feeds = { x0: { type: 'float32' as const, dims, data: pattern(size, 3, 1) } };
    const started = performance.now();
    for (let i = 0; i < 5 || performance.now() - started < 300; i++) await session.run(feeds);
    const times: number[] = [];
    const until = performance.now() + 700;
    while (times.length < 20 || (performance.now() < until && times.length < 2000)) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    return median(times) / count;
  } finally {
    await session.release();
  }
}

/** Least squares y = a + b x. */
function leastSquares(points: { x: number; y: number }[]): { a: number; b: number } {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  const b = sxx > 0 ? sxy / sxx : 0;
  return { a: my - b * mx, b };
}

export async function measureNodeProbes(threads: number): Promise<NodeProbeFigures> {
  const count = 128;
  const dispatchUs = await usPerNode(addChain(1, D, count), [1, D], count, threads);
  const gemmPoints: NodeProbeFigures['gemmPoints'] = [];
  const unsplitGemmUs = await usPerNode(matmulChain(1, 32), [1, D], 32, threads);
  for (const m of [4, 16, 64, 128]) {
    const chain = 32;
    const us = await usPerNode(matmulChain(m, chain), [m, D], chain, threads);
    gemmPoints.push({ m, ops: 2 * m * D * D, us });
  }
  const g = leastSquares(gemmPoints.map((p) => ({ x: p.ops / 1e6, y: p.us })));
  const rows = 128;
  const cols = 768;
  const chain = 32;
  const elementwiseUs = await usPerNode(addChain(rows, cols, chain), [rows, cols], chain, threads);
  return {
    dispatchUs,
    gemmFixedUs: Math.max(0, g.a),
    gemmUsPerMop: g.b,
    gemmPoints,
    unsplitGemmUs,
    elementwiseUs,
    elementwiseUsPerMelem: Math.max(0, elementwiseUs - dispatchUs) / ((rows * cols) / 1e6),
  };
}
