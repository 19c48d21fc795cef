/**
 * Thread-scaling predictors compared in the `scaling` section (src/bench/predict.ts's `predictLatency` is the
 * reference; these are the alternatives, kept here so the lead can move the one that works into src).
 *
 * - `predictSerialAware`: src's scaling, but only for the nodes that onnxruntime spreads over threads. Nodes whose
 *   profiled time at the host's thread count is under `serialUnderUs`, and (optionally) every node without
 *   arithmetic work (ops = 0: element-wise ops, normalizations, reshapes…), keep their host time. It can predict
 *   "no speed-up", never a slow-down.
 * - `predictWithNodeProbes`: every node costs a fixed part (what a node costs the executor beyond its work, which
 *   does not shrink with threads and may grow: with spinning off, each parallel section wakes a sleeping pool
 *   thread) plus a work part that scales. Both are calibrated on each side by ./node-probes.ts (do-nothing Add
 *   chain, small-GEMM chains fitted as fixed + slope × ops, a large element-wise Add): for a node of host time w,
 *       device = min(w, fixedHost) × fixedDevice / fixedHost + max(0, w − fixedHost) × workRatio,
 *   with GEMM nodes that MLAS splits over threads (≥ 64 K multiply-adds) using the GEMM fixed cost and the small-GEMM slope ratio (int8 kernels: the
 *   calibrated int8 GEMM ratio), and other nodes the dispatch cost and the element-wise per-element ratio.
 *   Node times are the 1-thread profile rescaled so that they sum to the measured p50 (ORT's profiler adds its own
 *   per-node cost, so the profiled sum exceeds the wall time of a run).
 */
import type { NodeCost } from '../../src/bench/node-costs.ts';
import { deviceScale, type Throughputs } from '../../src/bench/predict.ts';
import type { NodeProbeFigures } from './node-probes.ts';

/** MLAS_SGEMM_THREAD_COMPLEXITY: MLAS gives a GEMM one more thread per this many multiply-adds. */
export const GEMM_SPLIT_MACS = 64 * 1024;

export interface SerialOptions {
  /** Nodes faster than this on the host are treated as serial. */
  serialUnderUs: number;
  /** Whether nodes without arithmetic work (ops = 0) are serial whatever their time. */
  nonMatmulSerial: boolean;
}

export interface SerialPrediction {
  p50Ms: number;
  /** Share of the host p50 the predictor kept serial. */
  serialShare: number;
}

/** The serial-aware predictor (see the file comment). */
export function predictSerialAware(
  hostP50Ms: number,
  nodes: NodeCost[],
  host: Throughputs,
  device: Throughputs,
  options: SerialOptions,
): SerialPrediction {
  const kernelUs = nodes.reduce((s, n) => s + n.us, 0);
  const parallel = nodes.filter(
    (n) => n.us >= options.serialUnderUs && !(options.nonMatmulSerial && n.ops === 0),
  );
  const parallelShare = kernelUs > 0 ? parallel.reduce((s, n) => s + n.us, 0) / kernelUs : 0;
  const { scale } = parallel.length ? deviceScale(parallel, host, device) : { scale: 1 };
  return {
    p50Ms: hostP50Ms * (1 - parallelShare + parallelShare * scale),
    serialShare: 1 - parallelShare,
  };
}

/** The node-probe predictor (see the file comment). */
export function predictWithNodeProbes(
  hostP50Ms: number,
  nodes: NodeCost[],
  hostCalibration: Throughputs,
  deviceCalibration: Throughputs,
  hostProbe: NodeProbeFigures,
  deviceProbe: NodeProbeFigures,
): number {
  const kernelUs = nodes.reduce((s, n) => s + n.us, 0);
  if (kernelUs === 0) return hostP50Ms;
  const toWall = (hostP50Ms * 1000) / kernelUs;
  const gemmWork =
    hostProbe.gemmUsPerMop > 0 && deviceProbe.gemmUsPerMop > 0
      ? deviceProbe.gemmUsPerMop / hostProbe.gemmUsPerMop
      : hostCalibration.fp32Gflops / deviceCalibration.fp32Gflops;
  const int8Work = hostCalibration.int8Gops / deviceCalibration.int8Gops;
  const elementWork =
    hostProbe.elementwiseUsPerMelem > 0
      ? deviceProbe.elementwiseUsPerMelem / hostProbe.elementwiseUsPerMelem
      : 1;
  let deviceUs = 0;
  for (const node of nodes) {
    const w = node.us * toWall;
    // GEMMs under MLAS's 64 K multiply-add threshold are not split over threads: they behave as other nodes.
    const gemm = node.ops >= 2 * GEMM_SPLIT_MACS;
    const fixedHost = gemm ? hostProbe.gemmFixedUs : hostProbe.dispatchUs;
    const fixedDevice = gemm ? deviceProbe.gemmFixedUs : deviceProbe.dispatchUs;
    const work = gemm ? (node.int8 ? int8Work : gemmWork) : elementWork;
    const fixedPart = Math.min(w, fixedHost);
    deviceUs +=
      (fixedHost > 0 ? (fixedPart * fixedDevice) / fixedHost : 0) + Math.max(0, w - fixedHost) * work;
  }
  return deviceUs / 1000;
}
