/**
 * Quantization jobs: one weight tensor in, its quantized form out. A job names where the weight's bytes are (a
 * range of an external data file, read here, a band at a time where the layout allows it; or bytes already in
 * memory) and what to do; the runner moves data through a kernel engine's memory (./wasm-kernels.ts, or
 * ./kernels-js.ts) and copies the results out into arrays of their own.
 *
 * `createRunner` and `wasmEngine` are self-contained (no imports, no module state, only their parameters and
 * globals): ./kernel-pool.ts runs their source text in worker threads.
 */

import type { WasmApi, WasmMemory, WasmModule } from './wasm-kernels.ts';

/** Bytes of a tensor: a range of a file, or bytes in memory (little-endian, as raw_data holds them). */
export type JobSource = { file: string; offset: number; length: number } | { bytes: Uint8Array };

export interface Int4Job {
  kind: 'int4';
  source: JobSource;
  /** 1 (FLOAT) or 10 (FLOAT16). */
  dataType: number;
  k: number;
  n: number;
  block: number;
  symmetric: boolean;
  /** Stored [N, K] (Gemm transB = 1) instead of [K, N]. */
  transposed: boolean;
}

export interface Int8Job {
  kind: 'int8';
  source: JobSource;
  /** The stored matrix [rows, cols] (float32). */
  rows: number;
  cols: number;
  /** Quantize the transpose [cols, rows] (Gemm transB = 1: the result is stored [K, N]). */
  transpose: boolean;
  /** One scale for all, one per row, or one per column (of the matrix after `transpose`). */
  channels: 'none' | 'rows' | 'cols';
  symmetric: boolean;
  /** 7-bit codes ([-64, 63]) instead of 8-bit. */
  reduceRange: boolean;
}

export type KernelJob = Int4Job | Int8Job;

export interface Int4Result {
  kind: 'int4';
  /** [N, blocks, block/2] packed codes. */
  packed: Uint8Array;
  /** [N, blocks] scales. */
  scales: Float32Array;
  /** [N, ceil(blocks/2)] packed zero points (asymmetric only). */
  zeroPoints?: Uint8Array;
  blocks: number;
  /** Sums of squares of the weights and of the quantization error (for SQNR). */
  signal: number;
  noise: number;
}

export interface Int8Result {
  kind: 'int8';
  values: Int8Array;
  scales: Float32Array;
  zeroPoints: Int8Array;
  signal: number;
  noise: number;
}

export type KernelResult = Int4Result | Int8Result;

/** The kernels over a memory of their own; addresses are byte offsets into `buffer()`. See ./wasm-kernels.ts. */
export interface KernelEngine {
  /** Makes the memory at least `bytes` long (views of the old `buffer()` may then be stale). */
  reserve(bytes: number): void;
  buffer(): ArrayBuffer;
  q4sym(
    src: number,
    rowStride: number,
    n: number,
    rows: number,
    packed: number,
    pStride: number,
    scales: number,
    sStride: number,
    stats: number,
  ): void;
  q4asym(
    src: number,
    rowStride: number,
    n: number,
    rows: number,
    packed: number,
    pStride: number,
    scales: number,
    sStride: number,
    zps: number,
    zpStride: number,
    zpShift: number,
    stats: number,
  ): void;
  range8(src: number, count: number, out: number): void;
  quant8(
    src: number,
    count: number,
    scale: number,
    zero: number,
    lo: number,
    out: number,
    stats: number,
  ): void;
}

/** Bytes of the one buffer a job's result arrays can share (see `createRunner`'s `out`), 16-byte aligned parts. */
export function resultBytes(job: KernelJob): number {
  const up16 = (x: number): number => Math.ceil(x / 16) * 16;
  if (job.kind === 'int4') {
    const blocks = Math.ceil(job.k / job.block);
    const zeros = job.symmetric ? 0 : job.n * ((blocks + 1) >> 1);
    return up16(job.n * blocks * (job.block >> 1)) + up16(job.n * blocks * 4) + zeros;
  }
  const lines =
    job.channels === 'none' ? 1 : (job.channels === 'rows') !== job.transpose ? job.rows : job.cols;
  return up16(job.rows * job.cols) + up16(lines * 4) + lines;
}

export interface RunnerFs {
  openSync(path: string, flags: string): number;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  closeSync(fd: number): void;
}

/** The WebAssembly kernels as an engine (self-contained: also run in workers). */
export function wasmEngine(module: WasmModule): KernelEngine {
  const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const exports = new api.Instance(module, {}).exports as unknown as Omit<
    KernelEngine,
    'reserve' | 'buffer'
  > & {
    memory: WasmMemory;
  };
  const memory = exports.memory;
  return {
    reserve(bytes: number): void {
      const have = memory.buffer.byteLength;
      if (bytes > have) memory.grow(Math.ceil((bytes - have) / 65536));
    },
    buffer: () => memory.buffer,
    q4sym: exports.q4sym,
    q4asym: exports.q4asym,
    range8: exports.range8,
    quant8: exports.quant8,
  };
}

/**
 * A function that runs jobs on `engine` (self-contained: also run in workers). With `out` (at least
 * `resultBytes(job)` long, e.g. a SharedArrayBuffer reused from job to job), the result's arrays are views of it;
 * otherwise they get a buffer of their own.
 */
export function createRunner(
  engine: KernelEngine,
  fs: RunnerFs,
): (job: KernelJob, out?: ArrayBufferLike) => KernelResult {
  const HEADER = 128; // stats (8 float64) at 0, range8 output at 64
  const up16 = (x: number): number => Math.ceil(x / 16) * 16;

  const halfToFloat = (h: number): number => {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const fraction = h & 0x3ff;
    if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
    if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  };

  /** Reads bytes [start, start + target.length) of the source into `target`. */
  const read = (source: JobSource, fd: number, start: number, target: Uint8Array): void => {
    if ('bytes' in source) {
      target.set(source.bytes.subarray(start, start + target.length));
      return;
    }
    let done = 0;
    while (done < target.length) {
      const got = fs.readSync(fd, target, done, target.length - done, source.offset + start + done);
      if (got === 0) {
        throw new Error(
          `${source.file} ended after ${start + done} of the ${source.length} bytes at offset ${source.offset}`,
        );
      }
      done += got;
    }
  };

  const withSource = <T>(source: JobSource, body: (fd: number) => T): T => {
    const fd = 'bytes' in source ? -1 : fs.openSync(source.file, 'r');
    try {
      return body(fd);
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  };

  /** The whole tensor as float32 (a copy of its own). */
  const wholeFloats = (source: JobSource, fd: number, count: number, dataType: number): Float32Array => {
    const bytes = new Uint8Array(count * (dataType === 10 ? 2 : 4));
    read(source, fd, 0, bytes);
    if (dataType !== 10) return new Float32Array(bytes.buffer);
    const half = new Uint16Array(bytes.buffer);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = halfToFloat(half[i]!);
    return out;
  };

  let out: ArrayBufferLike | undefined;
  const outBuffer = (bytes: number): ArrayBufferLike =>
    out && out.byteLength >= bytes ? out : new ArrayBuffer(bytes);
  /** Copies `length` bytes at `from` in the engine's memory to `at` in `target`; returns them. */
  const copyOut = (target: ArrayBufferLike, at: number, from: number, length: number): Uint8Array => {
    const view = new Uint8Array(target, at, length);
    view.set(new Uint8Array(engine.buffer(), from, length));
    return view;
  };

  const statsOf = (): { signal: number; noise: number } => {
    const s = new Float64Array(engine.buffer(), 0, 8);
    return { signal: s[0]! + s[1]! + s[2]! + s[3]!, noise: s[4]! + s[5]! + s[6]! + s[7]! };
  };

  const int4 = (job: Int4Job, fd: number): Int4Result => {
    const { k, n, block, symmetric, transposed, dataType, source } = job;
    const blocks = Math.ceil(k / block);
    const blob = block >> 1;
    const n4 = Math.ceil(n / 4) * 4;
    const zpStride = (blocks + 1) >> 1;
    const rowBytes = n * 4;
    const band = HEADER;
    const packed = up16(band + block * rowBytes + 64);
    const scales = up16(packed + n4 * blocks * blob);
    const zps = up16(scales + n4 * blocks * 4);
    engine.reserve(zps + (symmetric ? 0 : n4 * zpStride) + 16);
    const buffer = engine.buffer();
    const u8 = new Uint8Array(buffer);
    const f32 = new Float32Array(buffer);
    u8.fill(0, 0, 64);
    if (!symmetric) u8.fill(0, zps, zps + n4 * zpStride);
    // Float32 [K, N] rows are read straight into the band; other forms are converted into it.
    const direct = dataType === 1 && !transposed;
    const whole = transposed ? wholeFloats(source, fd, k * n, dataType) : undefined;
    const halfRows = dataType === 10 && !transposed ? new Uint8Array(block * n * 2) : undefined;
    for (let b = 0; b < blocks; b++) {
      const k0 = b * block;
      const len = Math.min(block, k - k0);
      if (direct) {
        read(source, fd, k0 * rowBytes, u8.subarray(band, band + len * rowBytes));
      } else if (halfRows) {
        const part = halfRows.subarray(0, len * n * 2);
        read(source, fd, k0 * n * 2, part);
        const half = new Uint16Array(part.buffer, 0, len * n);
        for (let i = 0; i < len * n; i++) f32[(band >>> 2) + i] = halfToFloat(half[i]!);
      } else if (whole) {
        // Column c of the band is K-slice [k0, k0 + len) of stored row c.
        for (let c = 0; c < n; c++) {
          const from = c * k + k0;
          for (let i = 0; i < len; i++) f32[(band >>> 2) + i * n + c] = whole[from + i]!;
        }
      }
      // Rows past K are zeros: they take the zero code, as MatMulNBits padding must.
      if (len < block) u8.fill(0, band + len * rowBytes, band + block * rowBytes);
      if (symmetric) {
        engine.q4sym(
          band,
          rowBytes,
          n,
          block,
          packed + b * blob,
          blocks * blob,
          scales + b * 4,
          blocks * 4,
          0,
        );
      } else {
        engine.q4asym(
          band,
          rowBytes,
          n,
          block,
          packed + b * blob,
          blocks * blob,
          scales + b * 4,
          blocks * 4,
          zps + (b >> 1),
          zpStride,
          (b & 1) * 4,
          0,
        );
      }
    }
    // Results: [packed][scales][zero points] in one buffer.
    const packedBytes = n * blocks * blob;
    const scalesAt = up16(packedBytes);
    const zerosAt = scalesAt + up16(n * blocks * 4);
    const zeroBytes = symmetric ? 0 : n * zpStride;
    const target = outBuffer(zerosAt + zeroBytes);
    const result: Int4Result = {
      kind: 'int4',
      packed: copyOut(target, 0, packed, packedBytes),
      scales: new Float32Array(
        copyOut(target, scalesAt, scales, n * blocks * 4).buffer,
        scalesAt,
        n * blocks,
      ),
      blocks,
      ...statsOf(),
    };
    if (!symmetric) result.zeroPoints = copyOut(target, zerosAt, zps, zeroBytes);
    return result;
  };

  /**
   * One scale and zero point from a range, as onnxruntime's quantize_dynamic computes them; with `reduce`, for 7-bit
   * codes (its reduce_range), which every value then fits without clamping.
   */
  const scaleOf = (min: number, max: number, symmetric: boolean, reduce: boolean): [number, number] => {
    const [high, levels, low] = reduce ? [63, 127, -64] : [127, 255, -128];
    if (symmetric) return [Math.fround(Math.max(Math.abs(min), Math.abs(max)) / high), 0];
    const scale = Math.fround((max - min) / levels);
    return [scale, scale === 0 ? 0 : Math.max(low, Math.min(high, Math.round(low - min / scale)))];
  };

  /** Lane-wise min and max left by range8, folded with `into`. */
  const foldRange = (into: [number, number]): void => {
    const range = new Float32Array(engine.buffer(), 64, 8);
    for (let i = 0; i < 4; i++) {
      into[0] = Math.min(into[0], range[i]!);
      into[1] = Math.max(into[1], range[4 + i]!);
    }
  };

  /** Floats per band when a tensor is read in pieces (16 MiB). */
  const BAND = 1 << 22;

  const int8 = (job: Int8Job, fd: number): Int8Result => {
    const { rows, cols, transpose, channels, symmetric, reduceRange, source } = job;
    const count = rows * cols;
    const lo = symmetric ? -127 : -128;
    // The matrix to quantize, M = the stored [rows, cols] or its transpose [R, C], has `lines` scales: one for all,
    // one per row of M, or one per column of M.
    const R = transpose ? cols : rows;
    const C = transpose ? rows : cols;
    const lines = channels === 'none' ? 1 : channels === 'rows' ? R : C;
    // Results: [values][scales][zero points] in one buffer.
    const target = outBuffer(up16(count) + up16(lines * 4) + lines);
    const values = new Int8Array(target, 0, count);
    const scales = new Float32Array(target, up16(count), lines);
    const zeroPoints = new Int8Array(target, up16(count) + up16(lines * 4), lines);

    if (channels === 'none' && !transpose) {
      // One scale: the tensor in bands, twice (range, then quantize), so memory stays one band whatever its size.
      const band = HEADER;
      const out = up16(band + BAND * 4 + 64);
      const whole = count <= BAND;
      engine.reserve(out + BAND + 64);
      const u8 = new Uint8Array(engine.buffer());
      u8.fill(0, 0, 64);
      const load = (start: number, length: number): number => {
        read(source, fd, start * 4, u8.subarray(band, band + length * 4));
        const padded = up16(length);
        u8.fill(0, band + length * 4, band + padded * 4);
        return padded;
      };
      const range: [number, number] = [0, 0];
      for (let start = 0; start < count; start += BAND) {
        engine.range8(band, load(start, Math.min(BAND, count - start)), 64);
        foldRange(range);
      }
      const [scale, zero] = scaleOf(range[0], range[1], symmetric, reduceRange);
      for (let start = 0; start < count; start += BAND) {
        const length = Math.min(BAND, count - start);
        const padded = whole ? up16(length) : load(start, length);
        // A zero scale means all values are zero: divide by 1 instead (every code is the zero point).
        engine.quant8(band, padded, scale === 0 ? 1 : scale, zero, lo, out, 0);
        values.set(new Int8Array(engine.buffer(), out, length), start);
      }
      scales[0] = scale;
      zeroPoints[0] = zero;
      return { kind: 'int8', values, scales, zeroPoints, ...statsOf() };
    }

    // Several scales, or a transpose: lay M out as lines of one scale each (a row of M, a column of M, or all of
    // M), padded with zeros to a multiple of 16.
    const line = channels === 'none' ? count : channels === 'rows' ? C : R;
    const stride = up16(line);
    // Stored element (sr, sc) goes to work[a · step + b], with (a, b) = (sr, sc) when `byRow`, else (sc, sr).
    const byRow = channels === 'none' ? !transpose : (channels === 'rows') !== transpose;
    const step = channels === 'none' ? (transpose ? rows : cols) : stride;
    const bandRows = Math.max(1, Math.min(rows, Math.floor(BAND / cols)));
    const band = HEADER;
    const work = up16(band + bandRows * cols * 4 + 64);
    const out = up16(work + lines * stride * 4 + 64);
    engine.reserve(out + lines * stride + 64);
    const buffer = engine.buffer();
    const u8 = new Uint8Array(buffer);
    const f32 = new Float32Array(buffer);
    u8.fill(0, 0, 64);
    u8.fill(0, work, work + lines * stride * 4);
    const b = band >>> 2;
    const w = work >>> 2;
    for (let r0 = 0; r0 < rows; r0 += bandRows) {
      const n = Math.min(bandRows, rows - r0);
      read(source, fd, r0 * cols * 4, u8.subarray(band, band + n * cols * 4));
      if (byRow) {
        for (let i = 0; i < n; i++) f32.copyWithin(w + (r0 + i) * step, b + i * cols, b + (i + 1) * cols);
      } else {
        for (let i = 0; i < n; i++) {
          const row = b + i * cols;
          for (let c = 0; c < cols; c++) f32[w + c * step + r0 + i] = f32[row + c]!;
        }
      }
    }
    for (let l = 0; l < lines; l++) {
      const at = work + l * stride * 4;
      engine.range8(at, stride, 64);
      const range: [number, number] = [0, 0];
      foldRange(range);
      const [scale, zero] = scaleOf(range[0], range[1], symmetric, reduceRange);
      scales[l] = scale;
      zeroPoints[l] = zero;
      engine.quant8(at, stride, scale === 0 ? 1 : scale, zero, lo, out + l * stride, 0);
    }
    const q = new Int8Array(buffer, out, lines * stride);
    if (channels !== 'cols') {
      for (let l = 0; l < lines; l++) values.set(q.subarray(l * stride, l * stride + line), l * line);
    } else {
      // Lines are the columns of the [R, C] result.
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) values[r * C + c] = q[c * stride + r]!;
    }
    return { kind: 'int8', values, scales, zeroPoints, ...statsOf() };
  };

  return (job: KernelJob, into?: ArrayBufferLike): KernelResult => {
    out = into;
    try {
      return withSource(job.source, (fd) => (job.kind === 'int4' ? int4(job, fd) : int8(job, fd)));
    } finally {
      out = undefined;
    }
  };
}
