import { describe, expect, it } from 'vitest';
import { nodeCosts } from '../../src/bench/node-costs.ts';
import { measureNodeProbes, NODE_PROBE_VERSION, nodeProbeSpecs } from '../../src/devices/node-probes.ts';
import { createSession } from '../../src/inference/session.ts';

describe('nodeProbeSpecs', () => {
  it('covers element-wise nodes by bytes and fp32, int8 and int4 matrix products by ops, each at several sizes', () => {
    const specs = nodeProbeSpecs();
    for (const kind of ['other', 'fp32', 'int8', 'int4'] as const) {
      const sizes = specs.filter((s) => s.kind === kind).map((s) => s.size);
      expect(sizes.length).toBeGreaterThanOrEqual(5);
      expect(Math.max(...sizes) / Math.min(...sizes)).toBeGreaterThan(100);
    }
    expect(new Set(specs.map((s) => `${s.kind} ${s.shape}`)).size).toBe(specs.length);
  });

  it('builds chains that onnxruntime runs with finite outputs of the input shape, the matrix kinds on the kernels models use', async () => {
    for (const spec of nodeProbeSpecs().filter(
      (s) => s.shape.endsWith('x256') || s.shape === 'matmul 4x256x256',
    )) {
      const size = spec.dims.reduce((a, b) => a * b, 1);
      const session = await createSession(spec.model(), { intraOpThreads: 1, profiling: true });
      try {
        const data = new Float32Array(size).map((_, i) => Math.sin(i));
        const out = await session.run({ x0: { type: 'float32', dims: spec.dims, data } });
        const y = Object.values(out)[0]!;
        expect(y.dims).toEqual(spec.dims);
        expect(Array.from(y.data as Float32Array).every(Number.isFinite)).toBe(true);
        // Nothing fused away: the matrix node of each link, and the element-wise Muls of the gaps.
        const ops = [...new Set(nodeCosts(session.endProfiling(), 1).map((n) => n.op))].sort();
        const matrix = { fp32: 'MatMul', int8: 'DynamicQuantizeMatMul', int4: 'MatMulNBits' };
        const expected = spec.kind === 'other' ? ['Mul'] : [matrix[spec.kind], 'Mul'].sort();
        expect(ops, `${spec.kind} ${spec.shape}`).toEqual(expected);
      } finally {
        await session.release();
      }
    }
  });
});

describe('nodeProbeSpecs with another pause', () => {
  it('follows each product by that many small nodes, and by none with 0', async () => {
    for (const gap of [0, 5]) {
      const spec = nodeProbeSpecs(gap).find((s) => s.kind === 'fp32' && s.shape === 'matmul 1x256x256')!;
      const session = await createSession(spec.model(), { intraOpThreads: 1, profiling: true });
      try {
        await session.run({
          x0: { type: 'float32', dims: spec.dims, data: new Float32Array(256).fill(0.5) },
        });
        const ops = nodeCosts(session.endProfiling(), 1).map((n) => n.op);
        expect(ops.filter((op) => op === 'MatMul')).toHaveLength(spec.count);
        expect(ops.filter((op) => op === 'Mul')).toHaveLength(gap * spec.count);
      } finally {
        await session.release();
      }
    }
  });
});

describe('measureNodeProbes', () => {
  it('times every probe at every thread count and measures what the profiler adds per node', async () => {
    const logs: string[] = [];
    const probes = await measureNodeProbes({
      threads: [2, 1],
      budgetMs: 300,
      rounds: 3,
      log: (m) => logs.push(m),
    });
    expect(probes.version).toBe(NODE_PROBE_VERSION);
    expect(probes.points).toHaveLength(nodeProbeSpecs().length);
    for (const point of probes.points) {
      expect(Object.keys(point.us).sort()).toEqual(['1', '2']);
      for (const us of Object.values(point.us)) expect(us).toBeGreaterThan(0);
      // A matrix probe knows its product's shape, for placing a model's products among the probes.
      const [, m, k, n] = /^matmul (\d+)x(\d+)x(\d+)$/.exec(point.shape) ?? [];
      expect(point.dims).toEqual(
        point.kind === 'other' ? undefined : { m: Number(m), k: Number(k), n: Number(n) },
      );
    }
    // Bigger probes of a kind take longer: the chains time what they claim to.
    const fp32 = probes.points.filter((p) => p.kind === 'fp32' && p.shape.endsWith('x256x256'));
    expect(fp32.at(-1)!.us['1']!).toBeGreaterThan(4 * fp32[0]!.us['1']!);
    // A few µs per node (the unit is µs: in ns it would exceed even the largest probe's per-node time).
    expect(Number.isFinite(probes.profilerUs)).toBe(true);
    expect(probes.profilerUs).toBeLessThan(Math.max(...probes.points.map((p) => p.us['1']!)));
    expect(logs.join('\n')).toMatch(/× 2 thread counts, 3 interleaved rounds/);
  });
});
