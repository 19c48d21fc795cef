/**
 * Thread-scaling predictors compared in the `scaling` section.
 *
 * - `src`: src/bench/predict.ts as it ships (`predictLatency`): every node's time is split into compute and memory
 *   by its roofline times on the host, each part is scaled by the host/device ratio of calibrated GEMM throughput
 *   or GEMV bandwidth, and the whole p50 (time outside the kernels included) is multiplied by the resulting scale.
 * - `serial`: the same scaling, but only for the work that onnxruntime actually spreads over threads. The time
 *   outside the kernels (the p50 minus the profiled kernel time: session.run's own overhead, feeding and copying
 *   tensors, the executor) is serial, and so is every node that is not a matrix product (ops = 0: element-wise
 *   ops, normalizations, softmax, reshapes…) or whose profiled time at the host's thread count is under
 *   `serialUnderUs` — those are not worth a parallel section in onnxruntime, and waking an idle pool thread (with
 *   spinning off) costs more than it saves. Serial time is carried over unchanged.
 */
import type { NodeCost } from '../../src/bench/node-costs.ts';
import { deviceScale, type Throughputs } from '../../src/bench/predict.ts';

export interface SerialOptions {
  /** Nodes faster than this on the host are treated as serial. */
  serialUnderUs: number;
  /** Whether nodes without arithmetic work (ops = 0) are serial whatever their time. */
  nonMatmulSerial: boolean;
}

export interface SerialPrediction {
  p50Ms: number;
  /** Host time (ms) the predictor kept serial: outside the kernels, and serial nodes. */
  serialMs: number;
  scaledHostMs: number;
}

/** The `serial` predictor (see the file comment). */
export function predictSerialAware(
  hostP50Ms: number,
  nodes: NodeCost[],
  host: Throughputs,
  device: Throughputs,
  options: SerialOptions,
): SerialPrediction {
  const kernelUs = nodes.reduce((s, n) => s + n.us, 0);
  // The profile runs with profiling on: its kernel total can exceed the p50 measured without it. Then the time
  // outside the kernels is unknown; take it as 0 and scale the kernel shares to the p50.
  const outsideMs = Math.max(0, hostP50Ms - kernelUs / 1000);
  const kernelMs = hostP50Ms - outsideMs;
  const parallel = nodes.filter(
    (n) => n.us >= options.serialUnderUs && !(options.nonMatmulSerial && n.ops === 0),
  );
  const parallelUs = parallel.reduce((s, n) => s + n.us, 0);
  const share = kernelUs > 0 ? parallelUs / kernelUs : 0;
  const parallelMs = kernelMs * share;
  const { scale } = parallel.length ? deviceScale(parallel, host, device) : { scale: 1 };
  const serialMs = hostP50Ms - parallelMs;
  return { p50Ms: serialMs + parallelMs * scale, serialMs, scaledHostMs: parallelMs };
}
