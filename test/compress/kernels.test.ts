/**
 * The quantization kernels: the WebAssembly SIMD code against its JavaScript twin (bit for bit), what the codes and
 * scales mean (dequantizing them gives the reported error), the int4 search never ending above onnxruntime's
 * scale, reading from files in bands, and the worker pool giving the same results as this thread.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelPool } from '../../src/compress/kernel-pool.ts';
import {
  createRunner,
  type Int4Job,
  type Int4Result,
  type Int8Job,
  type Int8Result,
  type KernelJob,
  wasmEngine,
} from '../../src/compress/kernel-runner.ts';
import { jsEngine } from '../../src/compress/kernels-js.ts';
import { kernelModule } from '../../src/compress/wasm-kernels.ts';
import { floatToHalf, halfToFloat } from '../../src/onnx/float16.ts';
import { sameBytes, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

const module = kernelModule();
const wasm = () => createRunner(wasmEngine(module!), fs);
const js = () => createRunner(jsEngine(), fs);

/** Weights ~ N(0, 0.02) with some outliers, a zero block and an exact tie, from a fixed seed. */
function weights(count: number, seed = 1): Float32Array {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const v = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    v[i] = 0.02 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    if (i % 97 === 5) v[i] = v[i]! * 8;
  }
  v.fill(0, 0, Math.min(count, 40));
  if (count > 50) v[50] = 0.25;
  return v;
}

const bytesOf = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

function int4Job(v: Float32Array, k: number, n: number, extra: Partial<Int4Job> = {}): Int4Job {
  return {
    kind: 'int4',
    source: { bytes: bytesOf(v) },
    dataType: 1,
    k,
    n,
    block: 32,
    symmetric: true,
    transposed: false,
    ...extra,
  };
}

/** Dequantizes an int4 result back to [K, N] and returns Σ (v − w)², Σ v². */
function int4Error(v: Float32Array, k: number, n: number, job: Int4Job, q: Int4Result): [number, number] {
  const { block, symmetric, transposed } = job;
  let noise = 0;
  let signal = 0;
  for (let c = 0; c < n; c++) {
    for (let r = 0; r < k; r++) {
      const b = Math.floor(r / block);
      const i = r % block;
      const byte = q.packed[(c * q.blocks + b) * (block / 2) + (i >> 1)]!;
      const code = i & 1 ? byte >> 4 : byte & 15;
      const zpByte = symmetric ? 0 : q.zeroPoints![c * Math.ceil(q.blocks / 2) + (b >> 1)]!;
      const zero = symmetric ? 8 : b & 1 ? zpByte >> 4 : zpByte & 15;
      const w = (code - zero) * q.scales[c * q.blocks + b]!;
      const x = v[transposed ? c * k + r : r * n + c]!;
      noise += (x - w) ** 2;
      signal += x * x;
    }
  }
  return [noise, signal];
}

describe.skipIf(!module)('int4 kernel', () => {
  it.each([
    [64, 8, 32, true, false],
    [96, 13, 32, true, false],
    [100, 7, 16, true, false],
    [40, 5, 32, true, true],
    [256, 65, 32, false, false],
    [100, 6, 16, false, true],
    [64, 1, 32, true, false],
  ])(
    'K %i, N %i, block %i, symmetric %s, transposed %s: WebAssembly = JavaScript, and the codes give the reported error',
    (k, n, block, symmetric, transposed) => {
      const v = weights(k * n, k + n);
      const job = int4Job(v, k, n, { block, symmetric, transposed });
      const a = wasm()(job) as Int4Result;
      const b = js()(job) as Int4Result;
      expect(sameBytes(a.packed, b.packed)).toBe(true);
      expect(sameBytes(a.scales, b.scales)).toBe(true);
      if (!symmetric) expect(sameBytes(a.zeroPoints!, b.zeroPoints!)).toBe(true);
      expect(a.signal).toBe(b.signal);
      expect(a.noise).toBeCloseTo(b.noise, 12);
      expect(a.packed).toHaveLength(n * Math.ceil(k / block) * (block / 2));
      const [noise, signal] = int4Error(v, k, n, job, a);
      expect(Math.abs(a.signal - signal) / signal).toBeLessThan(1e-6); // float32 sums per block
      expect(Math.abs(a.noise - noise) / noise).toBeLessThan(1e-4);
    },
  );

  it("never ends above onnxruntime's error, block by block", () => {
    const k = 32;
    const n = 256;
    const v = weights(k * n, 7);
    const q = wasm()(int4Job(v, k, n, { transposed: true })) as Int4Result;
    for (let c = 0; c < n; c++) {
      const col = v.subarray(c * k, (c + 1) * k);
      let amax = 0;
      for (const x of col) if (Math.abs(x) > Math.abs(amax)) amax = x;
      const s = amax / -8;
      let ort = 0;
      let ours = 0;
      for (let i = 0; i < k; i++) {
        const code = s === 0 ? 0 : Math.min(7, Math.max(-8, Math.round(col[i]! / s)));
        ort += (col[i]! - code * s) ** 2;
        const byte = q.packed[c * 16 + (i >> 1)]!;
        ours += (col[i]! - ((i & 1 ? byte >> 4 : byte & 15) - 8) * q.scales[c]!) ** 2;
      }
      expect(ours).toBeLessThanOrEqual(ort * (1 + 1e-5) + 1e-12);
    }
  });

  it('gives zero codes and scale 0 for an all-zero block, and reads the same from a file as from memory', () => {
    const k = 64;
    const n = 12;
    const v = weights(k * n, 3);
    v.fill(0, 0, 32 * n); // the first block of every column
    const file = join(tmp.path, 'int4.bin');
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(100), bytesOf(v)]));
    const fromMemory = wasm()(int4Job(v, k, n)) as Int4Result;
    const fromFile = wasm()(
      int4Job(v, k, n, { source: { file, offset: 100, length: v.byteLength } }),
    ) as Int4Result;
    expect(sameBytes(fromFile.packed, fromMemory.packed)).toBe(true);
    expect(sameBytes(fromFile.scales, fromMemory.scales)).toBe(true);
    for (let c = 0; c < n; c++) {
      expect(fromMemory.scales[c * 2]).toBe(0);
      expect([...fromMemory.packed.subarray(c * 32, c * 32 + 16)].every((b) => b === 0x88)).toBe(true);
    }
  });

  it('quantizes float16 weights as their float32 values', () => {
    const k = 64;
    const n = 9;
    const v = weights(k * n, 5);
    const half = Uint16Array.from(v, floatToHalf);
    const widened = Float32Array.from(half, halfToFloat);
    for (const transposed of [false, true]) {
      const a = wasm()(int4Job(v, k, n, { source: { bytes: bytesOf(half) }, dataType: 10, transposed }));
      const b = wasm()(int4Job(widened, k, n, { transposed }));
      expect(sameBytes((a as Int4Result).packed, (b as Int4Result).packed)).toBe(true);
      expect(sameBytes((a as Int4Result).scales, (b as Int4Result).scales)).toBe(true);
    }
  });
});

describe.skipIf(!module)('int8 kernel', () => {
  const cases: [number, number, boolean, Int8Job['channels'], boolean, boolean][] = [];
  for (const transpose of [false, true])
    for (const channels of ['none', 'rows', 'cols'] as const)
      for (const symmetric of [true, false])
        for (const reduceRange of [false, true])
          cases.push([37, 11, transpose, channels, symmetric, reduceRange]);

  it.each(cases)(
    '[%i, %i] transpose %s, channels %s, symmetric %s, reduce range %s: WebAssembly = JavaScript = numpy rounding',
    (rows, cols, transpose, channels, symmetric, reduceRange) => {
      const v = weights(rows * cols, rows * cols);
      const job: Int8Job = {
        kind: 'int8',
        source: { bytes: bytesOf(v) },
        rows,
        cols,
        transpose,
        channels,
        symmetric,
        reduceRange,
      };
      const a = wasm()(job) as Int8Result;
      const b = js()(job) as Int8Result;
      expect(sameBytes(a.values, b.values)).toBe(true);
      expect(sameBytes(a.scales, b.scales)).toBe(true);
      expect(sameBytes(a.zeroPoints, b.zeroPoints)).toBe(true);
      // 7-bit codes use [-64, 63] and reach its ends; 8-bit ones reach past it.
      const [low, high] = [Math.min(...a.values), Math.max(...a.values)];
      if (reduceRange) {
        expect(low).toBeGreaterThanOrEqual(-64);
        expect(high).toBeLessThanOrEqual(63);
        expect(Math.max(-low, high)).toBeGreaterThanOrEqual(63);
      } else expect(Math.max(-low, high)).toBeGreaterThan(100);
      expect(a.noise).toBeCloseTo(b.noise, 12);
      // Against a plain reference: q = clamp(roundHalfEven(v / scale) + zero) in float32.
      const [R, C] = transpose ? [cols, rows] : [rows, cols];
      let noise = 0;
      for (let r = 0; r < R; r++) {
        for (let c = 0; c < C; c++) {
          const x = v[transpose ? c * cols + r : r * cols + c]!;
          const ch = channels === 'none' ? 0 : channels === 'rows' ? r : c;
          const scale = a.scales[ch]!;
          const zero = a.zeroPoints[ch]!;
          const y = Math.fround(x / (scale || 1));
          const rounded = Math.abs(y % 1) === 0.5 ? 2 * Math.round(y / 2) : Math.round(y);
          const q = Math.min(127, Math.max(symmetric ? -127 : -128, rounded + zero));
          expect(a.values[r * C + c]).toBe(q);
          noise += (x - (q - zero) * scale) ** 2;
        }
      }
      expect(Math.abs(a.noise - noise) / noise).toBeLessThan(1e-4);
    },
  );
});

describe.skipIf(!module)('int8 kernel on tensors read in several bands', () => {
  it.each([
    ['none', false],
    ['cols', false],
    ['none', true],
  ] as const)(
    'channels %s, transpose %s: WebAssembly = JavaScript, one range over all bands',
    (channels, transpose) => {
      const [rows, cols] = [2100, 2000]; // more than one 4 Mi-float band
      const v = weights(rows * cols, 21);
      v[rows * cols - 1] = -2; // the extreme value, in the last band
      const job: Int8Job = {
        kind: 'int8',
        source: { bytes: bytesOf(v) },
        rows,
        cols,
        transpose,
        channels,
        symmetric: true,
        reduceRange: false,
      };
      const a = wasm()(job) as Int8Result;
      const b = js()(job) as Int8Result;
      expect(sameBytes(a.values, b.values)).toBe(true);
      expect(sameBytes(a.scales, b.scales)).toBe(true);
      if (channels === 'none') expect(a.scales[0]).toBe(Math.fround(2 / 127));
    },
  );
});

describe('kernel pool', () => {
  const jobs: KernelJob[] = [
    int4Job(weights(128 * 40, 11), 128, 40),
    int4Job(weights(96 * 24, 12), 96, 24, { symmetric: false, block: 16 }),
    {
      kind: 'int8',
      source: { bytes: bytesOf(weights(64 * 30, 13)) },
      rows: 64,
      cols: 30,
      transpose: false,
      channels: 'none',
      symmetric: true,
      reduceRange: false,
    },
  ];

  it('gives the same results on worker threads as in this thread', async () => {
    const here = new KernelPool(0);
    const workers = new KernelPool(2);
    try {
      const expected = await Promise.all(jobs.map((j) => here.run(j)));
      const got = await Promise.all(jobs.map((j) => workers.run(j)));
      expect(got).toEqual(expected);
      expect(workers.workerJobs).toBe(jobs.length);
    } finally {
      await workers.close();
    }
  });

  it("rejects with the job's own error when a worker's job fails (re-run in this thread)", async () => {
    const pool = new KernelPool(1);
    try {
      const missing = join(tmp.path, 'missing.bin');
      const job = int4Job(new Float32Array(0), 32, 4, { source: { file: missing, offset: 0, length: 512 } });
      await expect(pool.run(job)).rejects.toThrow(/ENOENT/);
      // Later jobs still complete.
      expect((await pool.run(jobs[0]!)).kind).toBe('int4');
    } finally {
      await pool.close();
    }
  });
});
