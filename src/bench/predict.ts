/**
 * Emulation: predict a device's latency from a measurement on this host. Each node's host time is split into a
 * compute part and a memory part (by its arithmetic work against the host's effective compute, and its bytes
 * against the host's bandwidth); each part is scaled by the host/device ratio of effective compute (fp32 or int8)
 * or bandwidth. The prediction interval is wide unless the device was calibrated with `slmops calibrate`, and the
 * model's own error is `unvalidated` until real device runs have measured it.
 */
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
