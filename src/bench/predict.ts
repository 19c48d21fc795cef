/**
 * Emulation: predict a device's latency from a measurement on this host. Each node's host time is split into a
 * compute part and a memory part (by its arithmetic work against the host's effective compute, and its bytes
 * against the host's bandwidth); each part is scaled by the host/device ratio of effective compute (fp32 or int8)
 * or bandwidth. The prediction interval is wide unless the device was calibrated with `slmops calibrate`, and the
 * model's own error is `unvalidated` until real device runs have measured it.
 */
import type { NodeKind, NodeProbePoint } from '../devices/node-probes.ts';
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
    notes,
  };
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
 * How much longer (> 1) or shorter a node of `kind` that takes `us` on the `from` side takes on the `to` side: the
 * node sits between the two probes of its kind whose `from` times bracket `us` (log-linear in time), and takes the
 * same place on the `to` side. Beyond the probes, the nearest probe's ratio.
 */
export function probeRatio(
  probes: NodeProbePoint[],
  kind: NodeKind,
  us: number,
  from: string,
  to: string,
): number {
  const points = probes
    .filter((p) => p.kind === kind && p.us[from]! > 0 && p.us[to]! > 0)
    .sort((a, b) => a.us[from]! - b.us[from]!);
  if (!points.length) return 1;
  const ratio = (p: NodeProbePoint) => p.us[to]! / p.us[from]!;
  if (us <= points[0]!.us[from]!) return ratio(points[0]!);
  const last = points[points.length - 1]!;
  if (us >= last.us[from]!) return ratio(last);
  const i = points.findIndex((p) => p.us[from]! > us);
  const a = points[i - 1]!;
  const b = points[i]!;
  const f = Math.log(us / a.us[from]!) / Math.log(b.us[from]! / a.us[from]!);
  return Math.exp((1 - f) * Math.log(ratio(a)) + f * Math.log(ratio(b)));
}

/**
 * Scale of a model's latency from one side to the other (another thread count on this host, or a calibrated device),
 * node by node through the node probes: each node's profiled time, rescaled so the nodes add up to the measured p50
 * (the profiler's own per-node cost inflates them), is multiplied by its kind's probe ratio at its time.
 */
export function nodeProbeScale(
  hostP50Ms: number,
  nodes: NodeCost[],
  from: { probes: NodeProbePoint[]; key: string },
  to: { probes: NodeProbePoint[]; key: string },
): number {
  const kernelUs = nodes.reduce((s, n) => s + n.us, 0);
  if (kernelUs === 0 || !(hostP50Ms > 0)) return 1;
  const toWall = (hostP50Ms * 1000) / kernelUs;
  let scaled = 0;
  for (const node of nodes) {
    const us = node.us * toWall;
    const kind = nodeKind(node);
    scaled += us * (from.probes === to.probes && from.key === to.key ? 1 : crossRatio(from, to, kind, us));
  }
  return scaled / (hostP50Ms * 1000);
}

/** The ratio for one node when `from` and `to` are separate probe sets (host and device) or one set's two thread counts. */
function crossRatio(
  from: { probes: NodeProbePoint[]; key: string },
  to: { probes: NodeProbePoint[]; key: string },
  kind: NodeKind,
  us: number,
): number {
  if (from.probes === to.probes) return probeRatio(from.probes, kind, us, from.key, to.key);
  // Separate hosts: pair the probes by shape.
  const paired: NodeProbePoint[] = [];
  for (const p of from.probes) {
    const q = to.probes.find((x) => x.kind === p.kind && x.shape === p.shape);
    if (q?.us[to.key] && p.us[from.key]) paired.push({ ...p, us: { from: p.us[from.key]!, to: q.us[to.key]! } });
  }
  return probeRatio(paired, kind, us, 'from', 'to');
}
