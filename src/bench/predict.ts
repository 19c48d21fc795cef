/**
 * Emulation: predict a device's latency from a measurement on this host, in one of two ways.
 *
 * - `node-probes` (both sides calibrated with node probes, ../devices/node-probes.ts): each node of the host's
 *   per-node profile is scaled by its kind's probes at its time, host side against device side. This sees what
 *   small nodes cost beyond their arithmetic (dispatch, waking the thread pool), which dominates small models.
 * - `roofline` (otherwise): each node's host time is split into a compute part and a memory part (by its
 *   arithmetic work against the host's effective compute, and its bytes against the host's bandwidth); each part
 *   is scaled by the host/device ratio of effective compute (fp32 or int8) or bandwidth, datasheet peaks standing
 *   in for an uncalibrated device.
 *
 * The prediction interval is wide unless the device was calibrated with `slmops calibrate`, and the model's own
 * error is `unvalidated` until real device runs have measured it.
 */
import type { GemmDims, NodeKind, NodeProbePoint, NodeProbes } from '../config/types.ts';
import type { NodeCost } from './node-costs.ts';

export interface Throughputs {
  fp32Gflops: number;
  int8Gops: number;
  bandwidthGBs: number;
}

export interface Prediction {
  p50Ms: number;
  intervalMs: [number, number];
  calibrated: boolean;
  modelError: 'unvalidated' | number;
  /** Share of host time the model attributes to compute (rest: memory). */
  computeShare: number;
  /**
   * `node-probes`: every node scaled by the host's and the device's node probes of its kind at its time (both
   * calibrated); `roofline`: compute and memory parts scaled by effective throughputs (datasheet peaks when the
   * device is not calibrated).
   */
  method: 'node-probes' | 'roofline';
  notes: string[];
}

/** Multiplicative half-widths of the interval: calibrated device figures, or datasheet peaks. */
const SPREAD = { calibrated: 1.25, uncalibrated: 2 };

/** Host time of a node split into compute and memory parts, proportional to their roofline times. */
function split(node: NodeCost, host: Throughputs): { compute: number; memory: number } {
  const rate = node.int8 ? host.int8Gops : host.fp32Gflops;
  const computeTime = node.ops > 0 ? node.ops / (rate * 1e9) : 0;
  const memoryTime = node.bytes / (host.bandwidthGBs * 1e9);
  const total = computeTime + memoryTime;
  if (total === 0) return { compute: 0, memory: node.us };
  return { compute: (node.us * computeTime) / total, memory: (node.us * memoryTime) / total };
}

/** Scale of device time over host time for a model, from its per-node costs. */
export function deviceScale(
  nodes: NodeCost[],
  host: Throughputs,
  device: Throughputs,
): { scale: number; computeShare: number } {
  let hostTotal = 0;
  let deviceTotal = 0;
  let computeTotal = 0;
  for (const node of nodes) {
    const { compute, memory } = split(node, host);
    const computeRatio = node.int8 ? host.int8Gops / device.int8Gops : host.fp32Gflops / device.fp32Gflops;
    hostTotal += node.us;
    computeTotal += compute;
    deviceTotal += compute * computeRatio + memory * (host.bandwidthGBs / device.bandwidthGBs);
  }
  if (hostTotal === 0) return { scale: 1, computeShare: 0 };
  return { scale: deviceTotal / hostTotal, computeShare: computeTotal / hostTotal };
}

export function predictLatency(
  hostP50Ms: number,
  nodes: NodeCost[],
  host: Throughputs,
  device: Throughputs,
  calibrated: boolean,
  notes: string[] = [],
): Prediction {
  const { scale, computeShare } = deviceScale(nodes, host, device);
  const p50Ms = hostP50Ms * scale;
  const spread = calibrated ? SPREAD.calibrated : SPREAD.uncalibrated;
  return {
    p50Ms,
    intervalMs: [p50Ms / spread, p50Ms * spread],
    calibrated,
    modelError: 'unvalidated',
    computeShare,
    method: 'roofline',
    notes,
  };
}

/**
 * The device's latency from the host's, node by node through both sides' node probes (see `nodeProbeScale`); used
 * when the device was calibrated with `slmops calibrate` and both sides ran the same probe version. Beyond timing
 * differences of kernels and threads it sees nothing the probes do not exercise, so it stays `unvalidated` until
 * real device runs have measured its error.
 */
export function predictFromNodeProbes(
  hostP50Ms: number,
  nodes: NodeCost[],
  host: { probes: NodeProbes; threads: number },
  device: { probes: NodeProbes; threads: number },
  notes: string[] = [],
): Prediction {
  const scale = nodeProbeScale(
    hostP50Ms,
    nodes,
    host.probes.profilerUs,
    { probes: host.probes.points, key: String(host.threads) },
    { probes: device.probes.points, key: String(device.threads) },
  );
  const p50Ms = hostP50Ms * scale;
  const kernelUs = nodes.reduce((sum, n) => sum + n.us, 0);
  const matrixUs = nodes.filter((n) => nodeKind(n) !== 'other').reduce((sum, n) => sum + n.us, 0);
  return {
    p50Ms,
    intervalMs: [p50Ms / SPREAD.calibrated, p50Ms * SPREAD.calibrated],
    calibrated: true,
    modelError: 'unvalidated',
    computeShare: kernelUs > 0 ? matrixUs / kernelUs : 0,
    method: 'node-probes',
    notes,
  };
}

/** Whether two probe sets can be compared: the same probe version, each measured at its thread count. */
export function probesComparable(
  host: NodeProbes | undefined,
  hostThreads: number,
  device: NodeProbes | undefined,
  deviceThreads: number,
): boolean {
  if (!host || !device || host.version !== device.version) return false;
  const has = (p: NodeProbes, t: number) =>
    p.points.length > 0 && p.points.every((x) => x.us[String(t)]! > 0);
  return has(host, hostThreads) && has(device, deviceThreads);
}

export type Int8Family = 'amx' | 'avx512-vnni' | 'avx-vnni' | 'avx2' | 'i8mm' | 'dotprod' | 'neon' | 'none';

/** The int8 kernel family onnxruntime's MLAS picks on a CPU with these features. */
export function int8Family(features: readonly string[]): Int8Family {
  const has = (f: string) => features.includes(f);
  if (has('amx_int8')) return 'amx';
  if (has('avx512_vnni')) return 'avx512-vnni';
  if (has('avx_vnni')) return 'avx-vnni';
  if (has('avx2')) return 'avx2';
  if (has('i8mm')) return 'i8mm';
  if (has('asimddp')) return 'dotprod';
  if (has('asimd')) return 'neon';
  return 'none';
}

/** The node-probe kind a profiled node is scaled by: its kernel family, or `other` without matrix work. */
export function nodeKind(node: NodeCost): NodeKind {
  if (node.ops <= 0) return 'other';
  if (node.op === 'MatMulNBits') return 'int4';
  return node.int8 ? 'int8' : 'fp32';
}

/**
 * How much longer (> 1) or shorter a node of `kind` that takes `us` on the `from` side takes on the `to` side.
 * A matrix product with known `dims`, against probes that know theirs, sits on the probes' grid of rows `m` and
 * weight sizes `k·n` (log-linear in each; beyond the grid, its edge): how a product splits over threads depends on
 * its shape, and a time alone puts a [64, 192]·[192, 768] product among [1, 1024]·[1024, 1024] ones. Otherwise the
 * node sits between the two probes of its kind whose `from` times bracket `us` (log-linear in time), and takes the
 * same place on the `to` side; beyond the probes, the nearest probe's ratio.
 */
export function probeRatio(
  probes: NodeProbePoint[],
  kind: NodeKind,
  us: number,
  from: string,
  to: string,
  dims?: GemmDims,
): number {
  const points = probes.filter((p) => p.kind === kind && p.us[from]! > 0 && p.us[to]! > 0);
  if (!points.length) return 1;
  const logRatio = (p: NodeProbePoint) => Math.log(p.us[to]! / p.us[from]!);
  if (dims && kind !== 'other' && points.every((p) => p.dims)) {
    const rows = new Map<number, NodeProbePoint[]>();
    for (const p of points) {
      const w = p.dims!.k * p.dims!.n;
      rows.set(w, [...(rows.get(w) ?? []), p]);
    }
    const byWeight = [...rows].map(([w, row]) => ({
      x: w,
      y: interpolateLog(
        row.map((p) => ({ x: p.dims!.m, y: logRatio(p) })),
        dims.m,
      ),
    }));
    return Math.exp(interpolateLog(byWeight, dims.k * dims.n));
  }
  return Math.exp(
    interpolateLog(
      points.map((p) => ({ x: p.us[from]!, y: logRatio(p) })),
      us,
    ),
  );
}

/** y at x, linear in log x between the points that bracket it; beyond them, the nearest point's y. */
function interpolateLog(points: { x: number; y: number }[], x: number): number {
  const sorted = [...points].sort((a, b) => a.x - b.x);
  if (x <= sorted[0]!.x) return sorted[0]!.y;
  const last = sorted[sorted.length - 1]!;
  if (x >= last.x) return last.y;
  const i = sorted.findIndex((p) => p.x > x);
  const a = sorted[i - 1]!;
  const b = sorted[i]!;
  const f = Math.log(x / a.x) / Math.log(b.x / a.x);
  return (1 - f) * a.y + f * b.y;
}

/** One side of a node-probe scaling: a probe set and the thread count (its key in each point's `us`). */
export interface ProbeSide {
  probes: NodeProbePoint[];
  key: string;
}

/**
 * Scale of a model's latency from one side to the other (another thread count on this host, or a calibrated device),
 * node by node through the node probes. Each node's profiled time less the profiler's own per-node cost
 * (`profilerUs`, measured by the probes; at least a quarter of the node's time is kept) is rescaled so that the nodes
 * add up to the measured p50, then multiplied by its kind's probe ratio at that time.
 */
export function nodeProbeScale(
  hostP50Ms: number,
  nodes: NodeCost[],
  profilerUs: number,
  from: ProbeSide,
  to: ProbeSide,
): number {
  const own = nodes.map((n) => Math.max(n.us - profilerUs, n.us / 4));
  const kernelUs = own.reduce((s, us) => s + us, 0);
  if (kernelUs === 0 || !(hostP50Ms > 0)) return 1;
  const toWall = (hostP50Ms * 1000) / kernelUs;
  const paired = pairProbes(from, to);
  let scaled = 0;
  nodes.forEach((node, i) => {
    const us = own[i]! * toWall;
    scaled += us * probeRatio(paired, nodeKind(node), us, 'from', 'to', node.dims);
  });
  return scaled / (hostP50Ms * 1000);
}

/** The probes both sides measured (same kind and shape), with their `from` and `to` times. */
function pairProbes(from: ProbeSide, to: ProbeSide): NodeProbePoint[] {
  const paired: NodeProbePoint[] = [];
  for (const p of from.probes) {
    const q = to.probes.find((x) => x.kind === p.kind && x.shape === p.shape);
    const a = p.us[from.key];
    const b = q?.us[to.key];
    if (a && b) paired.push({ ...p, us: { from: a, to: b } });
  }
  return paired;
}
