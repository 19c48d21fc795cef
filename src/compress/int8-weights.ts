/** int8 weight quantization: per-tensor or per-channel, symmetric (zero point 0) or asymmetric. */

export interface Int8Quantized {
  values: Int8Array;
  /** One scale per channel (or one). */
  scales: Float32Array;
  zeroPoints: Int8Array;
  signal: number;
  noise: number;
}

/**
 * Quantizes `values` laid out as [outer, channels, inner] with one scale per channel (`channels` = 1 for
 * per-tensor). Symmetric uses [-127, 127] as onnxruntime's `quantize_dynamic` does for int8 weights.
 */
export function quantizeInt8(
  values: Float32Array,
  outer: number,
  channels: number,
  inner: number,
  symmetric: boolean,
): Int8Quantized {
  const min = new Float64Array(channels);
  const max = new Float64Array(channels);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!;
        if (v < min[c]!) min[c] = v;
        if (v > max[c]!) max[c] = v;
      }
    }
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int8Array(channels);
  for (let c = 0; c < channels; c++) {
    if (symmetric) {
      scales[c] = Math.max(Math.abs(min[c]!), Math.abs(max[c]!)) / 127;
    } else {
      const s = (max[c]! - min[c]!) / 255;
      scales[c] = s;
      zeroPoints[c] = s === 0 ? 0 : Math.max(-128, Math.min(127, Math.round(-128 - min[c]! / s)));
    }
  }
  const out = new Int8Array(values.length);
  const lo = symmetric ? -127 : -128;
  let signal = 0;
  let noise = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const s = scales[c]!;
      const inv = s === 0 ? 0 : 1 / s;
      const zp = zeroPoints[c]!;
      const base = (o * channels + c) * inner;
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!;
        let q = Math.round(v * inv) + zp;
        q = q < lo ? lo : Math.min(q, 127);
        out[base + i] = q;
        const d = v - (q - zp) * s;
        signal += v * v;
        noise += d * d;
      }
    }
  }
  return { values: out, scales, zeroPoints, signal, noise };
}
