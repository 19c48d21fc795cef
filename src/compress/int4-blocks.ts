/**
 * Block-wise 4-bit quantization in the layout of onnxruntime's `com.microsoft::MatMulNBits`: for each output
 * column n, K is cut into blocks of `block` values; each block gets a scale (and with `asym` a zero point), and
 * its codes are packed two per byte, low nibble first: B[n][block][byte].
 *
 * Symmetric: the code of value v is round(v / scale) + 8 in [0, 15], zero point 8 implied. The scale starts as
 * onnxruntime's (the value of largest magnitude maps to -8), then a short search over smaller scales keeps the
 * one with the least squared error in the block. That can only lower the error against the starting scale.
 */

export interface BlockQuantized {
  /** [N, blocks, block/2] packed codes. */
  packed: Uint8Array;
  /** [N, blocks] scales. */
  scales: Float32Array;
  /** [N, ceil(blocks/2)] packed zero points (asymmetric only). */
  zeroPoints?: Uint8Array;
  blocks: number;
  /** Sum of squares of the weights, and of the quantization error (for SQNR). */
  signal: number;
  noise: number;
}

/** Candidate scale multipliers tried after the start; 1 is the start itself. */
const SEARCH = [1, 0.97, 0.94, 0.91, 0.88, 0.85, 0.82];

/**
 * Quantizes `columns` (N rows of K values each: column n of the weight, contiguous) block-wise.
 */
export function quantizeBlocks4(
  columns: Float32Array,
  n: number,
  k: number,
  block: number,
  symmetric: boolean,
  search = true,
): BlockQuantized {
  const blocks = Math.ceil(k / block);
  const blob = block / 2;
  const packed = new Uint8Array(n * blocks * blob);
  const scales = new Float32Array(n * blocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * Math.ceil(blocks / 2));
  const codes = new Uint8Array(block);
  const best = new Uint8Array(block);
  let signal = 0;
  let noise = 0;
  for (let col = 0; col < n; col++) {
    const base = col * k;
    for (let b = 0; b < blocks; b++) {
      const start = base + b * block;
      const len = Math.min(block, k - b * block);
      let min = 0;
      let max = 0;
      let amax = 0;
      let blockSignal = 0;
      for (let i = 0; i < len; i++) {
        const v = columns[start + i]!;
        blockSignal += v * v;
        if (v < min) min = v;
        if (v > max) max = v;
        if (Math.abs(v) > Math.abs(amax)) amax = v;
      }
      signal += blockSignal;
      let scale: number;
      let zero: number;
      let bestError = Number.POSITIVE_INFINITY;
      if (symmetric) {
        const start0 = amax / -8;
        scale = start0;
        zero = 8;
        const tries = search && start0 !== 0 ? SEARCH : [1];
        for (const f of tries) {
          const s = start0 * f;
          const inv = s === 0 ? 0 : 1 / s;
          let error = 0;
          for (let i = 0; i < len; i++) {
            const v = columns[start + i]!;
            let q = Math.round(v * inv) + 8;
            q = q < 0 ? 0 : Math.min(q, 15);
            codes[i] = q;
            const d = v - (q - 8) * s;
            error += d * d;
          }
          if (error < bestError) {
            bestError = error;
            scale = s;
            best.set(codes.subarray(0, len));
          }
        }
      } else {
        scale = (max - min) / 15;
        const inv = scale === 0 ? 0 : 1 / scale;
        zero = scale === 0 ? 8 : Math.min(15, Math.max(0, Math.round(-min * inv)));
        bestError = 0;
        for (let i = 0; i < len; i++) {
          const v = columns[start + i]!;
          let q = Math.round(v * inv) + zero;
          q = q < 0 ? 0 : Math.min(q, 15);
          best[i] = q;
          const d = v - (q - zero) * scale;
          bestError += d * d;
        }
      }
      noise += bestError;
      // Padding past K holds the zero code so it dequantizes to 0.
      for (let i = len; i < block; i++) best[i] = zero;
      const out = (col * blocks + b) * blob;
      for (let j = 0; j < blob; j++) packed[out + j] = (best[2 * j]! & 0xf) | ((best[2 * j + 1]! & 0xf) << 4);
      scales[col * blocks + b] = scale;
      if (zeroPoints) {
        const zi = col * Math.ceil(blocks / 2) + (b >> 1);
        zeroPoints[zi] = zeroPoints[zi]! | ((zero & 0xf) << ((b & 1) * 4));
      }
    }
  }
  return { packed, scales, ...(zeroPoints ? { zeroPoints } : {}), blocks, signal, noise };
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  const tile = 32;
  for (let r0 = 0; r0 < rows; r0 += tile) {
    for (let c0 = 0; c0 < cols; c0 += tile) {
      const rEnd = Math.min(rows, r0 + tile);
      const cEnd = Math.min(cols, c0 + tile);
      for (let r = r0; r < rEnd; r++) {
        for (let c = c0; c < cEnd; c++) out[c * rows + r] = values[r * cols + c]!;
      }
    }
  }
  return out;
}

export function sqnrDb(signal: number, noise: number): number {
  if (noise === 0) return Number.POSITIVE_INFINITY;
  return 10 * Math.log10(signal / noise);
}
