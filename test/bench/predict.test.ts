import { describe, expect, it } from 'vitest';
import type { NodeCost } from '../../src/bench/node-costs.ts';
import {
  nodeKind,
  nodeProbeScale,
  predictFromNodeProbes,
  predictLatency,
  probeRatio,
  probesComparable,
} from '../../src/bench/predict.ts';
import type { NodeProbePoint, NodeProbes } from '../../src/config/types.ts';

function cost(op: string, us: number, ops = 0, int8 = false): NodeCost {
  return { name: `${op}-${us}`, op, us, ops, int8, bytes: 1000 };
}

/** Two probes per kind: at 1 thread 10 µs and 100 µs; at 2 threads each kind's own ratios. */
function probes(ratios: Record<string, [number, number]>): NodeProbePoint[] {
  return Object.entries(ratios).flatMap(([kind, [small, large]]) => [
    {
      kind: kind as NodeProbePoint['kind'],
      size: 1,
      shape: `${kind} small`,
      us: { '1': 10, '2': 10 * small },
    },
    {
      kind: kind as NodeProbePoint['kind'],
      size: 2,
      shape: `${kind} large`,
      us: { '1': 100, '2': 100 * large },
    },
  ]);
}

describe('nodeKind', () => {
  it('sorts profiled nodes into the probe kinds by kernel family', () => {
    expect(nodeKind(cost('Reshape', 3))).toBe('other');
    expect(nodeKind(cost('LayerNormalization', 30))).toBe('other');
    expect(nodeKind(cost('MatMul', 30, 1e6))).toBe('fp32');
    expect(nodeKind(cost('Gemm', 30, 1e6))).toBe('fp32');
    expect(nodeKind(cost('DynamicQuantizeMatMul', 30, 1e6, true))).toBe('int8');
    expect(nodeKind(cost('MatMulNBits', 30, 1e6))).toBe('int4');
  });
});

describe('probeRatio', () => {
  const points = probes({ fp32: [1.5, 0.5] });

  it('interpolates the ratio log-linearly in the node time between the probes that bracket it', () => {
    expect(probeRatio(points, 'fp32', 10, '1', '2')).toBeCloseTo(1.5, 10);
    expect(probeRatio(points, 'fp32', 100, '1', '2')).toBeCloseTo(0.5, 10);
    // √(10·100) is halfway in log time: the geometric mean of the ratios.
    expect(probeRatio(points, 'fp32', Math.sqrt(1000), '1', '2')).toBeCloseTo(Math.sqrt(0.75), 10);
  });

  it("takes the nearest probe's ratio beyond the probes, and 1 for a kind without probes", () => {
    expect(probeRatio(points, 'fp32', 1, '1', '2')).toBeCloseTo(1.5, 10);
    expect(probeRatio(points, 'fp32', 1e6, '1', '2')).toBeCloseTo(0.5, 10);
    expect(probeRatio(points, 'int8', 50, '1', '2')).toBe(1);
  });
});

describe('probeRatio of a matrix product with its dims', () => {
  /** A grid: rows m = 1 and 64 of [256, 256] weights, and m = 1 of [1024, 1024]; times grow with work. */
  const grid = (
    [
      [1, 256, 2],
      [64, 256, 1],
      [1, 1024, 0.5],
    ] as const
  ).map(([m, d, ratio]): NodeProbePoint => {
    const us = (m * d * d) / 1000;
    return {
      kind: 'fp32',
      size: 2 * m * d * d,
      shape: `matmul ${m}x${d}x${d}`,
      dims: { m, k: d, n: d },
      us: { '1': us, '2': us * ratio },
    };
  });

  /** The [1, 1024]·[1024, 1024] probe's time at 1 thread. */
  const largeUs = 1048.576;

  it('places the product by rows and weight size, not by time', () => {
    // 64 rows of [256, 256] weights: exactly the second probe, whatever the node's time.
    expect(probeRatio(grid, 'fp32', largeUs, '1', '2', { m: 64, k: 256, n: 256 })).toBeCloseTo(1, 10);
    // By its time alone it would take the [1, 1024] probe's ratio.
    expect(probeRatio(grid, 'fp32', largeUs, '1', '2')).toBeCloseTo(0.5, 10);
  });

  it('interpolates log-linearly in rows within a weight size, and in k·n between weight sizes', () => {
    // m = 8 is halfway between 1 and 64 in log: √(2 · 1).
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 8, k: 256, n: 256 })).toBeCloseTo(Math.SQRT2, 10);
    // k·n = 512² is halfway between 256² and 1024² in log: √(2 · 0.5) at m = 1.
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 1, k: 512, n: 512 })).toBeCloseTo(1, 10);
    // A rectangular product counts by its weight size: [128, 2048] is 512² too.
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 1, k: 128, n: 2048 })).toBeCloseTo(1, 10);
  });

  it("takes the grid's edge beyond it: rows past a weight size's last probe keep that probe's ratio", () => {
    // [1024, 1024] weights were probed at m = 1 only.
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 256, k: 1024, n: 1024 })).toBeCloseTo(0.5, 10);
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 1, k: 4096, n: 4096 })).toBeCloseTo(0.5, 10);
    expect(probeRatio(grid, 'fp32', 5, '1', '2', { m: 1, k: 16, n: 16 })).toBeCloseTo(2, 10);
  });

  it('goes by time when the probes do not know their dims (an older calibration)', () => {
    const bare = grid.map(({ dims: _, ...p }) => p);
    expect(probeRatio(bare, 'fp32', largeUs, '1', '2', { m: 64, k: 256, n: 256 })).toBeCloseTo(0.5, 10);
  });
});

describe('nodeProbeScale', () => {
  const set = probes({ other: [1, 1], fp32: [2, 2] });

  it('scales each node by its kind: half the time in matrix nodes twice as slow makes the model 1.5× slower', () => {
    const nodes = [cost('Add', 50), cost('MatMul', 50, 1e6)];
    const scale = nodeProbeScale(0.1, nodes, 0, { probes: set, key: '1' }, { probes: set, key: '2' });
    expect(scale).toBeCloseTo(1.5, 10);
  });

  it("takes the profiler's per-node cost off each node before weighing them, keeping at least a quarter", () => {
    // Profiled: 100 µs of tiny Adds (20 × 5 µs) and one 100 µs MatMul; the profiler added 4 µs to each node.
    const nodes = [
      ...Array.from({ length: 20 }, (_, i) => ({ ...cost('Add', 5), name: `a${i}` })),
      cost('MatMul', 100, 1e6),
    ];
    const scale = nodeProbeScale(0.2, nodes, 4, { probes: set, key: '1' }, { probes: set, key: '2' });
    // Own times: 20 × 1.25 µs (a quarter of 5) = 25 µs and 96 µs: the MatMul's share is 96 / 121.
    expect(scale).toBeCloseTo((25 + 2 * 96) / 121, 10);
    const naive = nodeProbeScale(0.2, nodes, 0, { probes: set, key: '1' }, { probes: set, key: '2' });
    expect(naive).toBeCloseTo(1.5, 10);
  });

  it("pairs a host's and a device's probes by shape", () => {
    const host = probes({ other: [1, 1], fp32: [1, 1] });
    const device = host.map((p) => ({ ...p, us: { '4': p.us['1']! * (p.kind === 'fp32' ? 0.25 : 1) } }));
    const nodes = [cost('Add', 50), cost('MatMul', 50, 1e6)];
    const scale = nodeProbeScale(0.1, nodes, 0, { probes: host, key: '1' }, { probes: device, key: '4' });
    expect(scale).toBeCloseTo(0.625, 10);
  });

  it('is 1 for a model without profiled nodes', () => {
    expect(nodeProbeScale(1, [], 0, { probes: set, key: '1' }, { probes: set, key: '2' })).toBe(1);
  });
});

describe('predictFromNodeProbes', () => {
  const doc = (points: NodeProbePoint[], version = 1): NodeProbes => ({ version, points, profilerUs: 0 });

  it('predicts from both sides of node probes, calibrated, with its method named', () => {
    const set = doc(probes({ other: [1, 1], fp32: [2, 2] }));
    const nodes = [cost('Add', 50), cost('MatMul', 50, 1e6)];
    const p = predictFromNodeProbes(2, nodes, { probes: set, threads: 1 }, { probes: set, threads: 2 });
    expect(p.p50Ms).toBeCloseTo(3, 10);
    expect(p.intervalMs[0]).toBeLessThan(3);
    expect(p.intervalMs[1]).toBeGreaterThan(3);
    expect(p).toMatchObject({ calibrated: true, method: 'node-probes', modelError: 'unvalidated' });
    expect(p.computeShare).toBeCloseTo(0.5, 10);
  });

  it('is used only when both sides ran the same probe version at their thread counts', () => {
    const set = doc(probes({ other: [1, 1] }));
    expect(probesComparable(set, 1, set, 2)).toBe(true);
    expect(probesComparable(set, 1, set, 4)).toBe(false);
    expect(probesComparable(set, 1, doc(set.points, 2), 2)).toBe(false);
    expect(probesComparable(undefined, 1, set, 2)).toBe(false);
  });
});

describe('predictLatency', () => {
  it('names its method: the roofline', () => {
    const t = { fp32Gflops: 10, int8Gops: 20, bandwidthGBs: 5 };
    const p = predictLatency(1, [cost('MatMul', 10, 1e6)], t, { ...t, fp32Gflops: 5 }, false);
    expect(p.method).toBe('roofline');
    expect(p.p50Ms).toBeGreaterThan(1);
  });
});
