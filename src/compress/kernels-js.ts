/**
 * The kernels of ./wasm-kernels.ts in plain JavaScript, operation for operation in float32 (each result rounded with
 * Math.fround, ties-to-even rounding like f32x4.nearest, pmin/pmax comparisons), on the same kind of byte-addressed
 * memory. Used where WebAssembly is unavailable, and by the tests to check the WebAssembly bit for bit. Read
 * ./wasm-kernels.ts for what each kernel computes.
 */
import type { KernelEngine } from './kernel-runner.ts';

const fr = Math.fround;
const INF = Number.POSITIVE_INFINITY;
const F09 = Math.fround(0.9);

/** f32x4.nearest: round half to even. */
function nearest(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** pmin(y, hi) then pmax(·, lo): pmin(a, b) = b < a ? b : a, pmax(a, b) = a < b ? b : a (NaN stays NaN). */
function clamp(y: number, lo: number, hi: number): number {
  let a = y;
  if (hi < a) a = hi;
  if (a < lo) a = lo;
  return a;
}

/** i32x4.trunc_sat_f32x4_s for the small codes here. */
function trunc(x: number): number {
  return Number.isNaN(x) ? 0 : Math.trunc(x);
}

function finiteNonZero(x: number): boolean {
  const a = Math.abs(x);
  return a > 0 && a < INF;
}

export function jsEngine(): KernelEngine {
  let memory = new ArrayBuffer(65536);
  let f32 = new Float32Array(memory);
  let f64 = new Float64Array(memory);
  let u8 = new Uint8Array(memory);

  const q4 = (
    symmetric: boolean,
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
  ): void => {
    const s0 = stats >>> 3;
    for (let c = 0; c < n; c++) {
      const at = (r: number) => f32[(src + r * rowStride + c * 4) >>> 2]!;
      const pk = packed + c * pStride;
      let ss = 0;
      let scale = 0;
      let e = 0;
      if (symmetric) {
        let amax = 0;
        let amaxAbs = 0;
        for (let r = 0; r < rows; r++) {
          const v = at(r);
          ss = fr(ss + fr(v * v));
          const a = Math.abs(v);
          if (a > amaxAbs) {
            amaxAbs = a;
            amax = v;
          }
        }
        const inv1 = fr(-8 / amax);
        const inv2 = fr(inv1 / F09);
        let p1 = 0;
        let c1 = 0;
        let p2 = 0;
        let c2 = 0;
        for (let r = 0; r < rows; r++) {
          const v = at(r);
          let y = clamp(nearest(fr(v * inv1)), -8, 7);
          p1 = fr(p1 + fr(v * y));
          c1 = fr(c1 + fr(y * y));
          y = clamp(nearest(fr(v * inv2)), -8, 7);
          p2 = fr(p2 + fr(v * y));
          c2 = fr(c2 + fr(y * y));
        }
        const e1 = fr(ss - fr(fr(p1 * p1) / c1));
        const e2 = fr(ss - fr(fr(p2 * p2) / c2));
        const fit = e1 <= e2 ? fr(p1 / c1) : fr(p2 / c2);
        const inv = fr(1 / fit);
        const ok = amaxAbs > 0 && amaxAbs < INF && finiteNonZero(fit);
        let svc = 0;
        let scc = 0;
        for (let r = 0; r < rows; r += 2) {
          const v0 = at(r);
          const v1 = at(r + 1);
          let y0 = clamp(nearest(fr(v0 * inv)), -8, 7);
          if (!ok) y0 = 0;
          let y1 = clamp(nearest(fr(v1 * inv)), -8, 7);
          if (!ok) y1 = 0;
          svc = fr(svc + fr(v0 * y0));
          svc = fr(svc + fr(v1 * y1));
          scc = fr(scc + fr(y0 * y0));
          scc = fr(scc + fr(y1 * y1));
          u8[pk + (r >> 1)] = (trunc(fr(y0 + 8)) | (trunc(fr(y1 + 8)) << 4)) & 0xff;
        }
        scale = fr(svc / scc);
        if (!(ok && finiteNonZero(scale))) scale = 0;
        e = fr(fr(ss - fr(fr(2 * scale) * svc)) + fr(fr(scale * scale) * scc));
        if (e < 0) e = 0;
      } else {
        let mn = 0;
        let mx = 0;
        for (let r = 0; r < rows; r++) {
          const v = at(r);
          ss = fr(ss + fr(v * v));
          if (v < mn) mn = v;
          if (mx < v) mx = v;
        }
        scale = fr(fr(mx - mn) / 15);
        const nz = scale !== 0;
        const inv = nz ? fr(1 / scale) : 0;
        const zf = nz ? clamp(nearest(fr(-mn * inv)), 0, 15) : 8;
        const code = (v: number): number => {
          const y = clamp(fr(nearest(fr(v * inv)) + zf), 0, 15);
          const d = fr(v - fr(fr(y - zf) * scale));
          e = fr(fr(d * d) + e);
          return y;
        };
        for (let r = 0; r < rows; r += 2) {
          const y0 = code(at(r));
          const y1 = code(at(r + 1));
          u8[pk + (r >> 1)] = (trunc(y0) | (trunc(y1) << 4)) & 0xff;
        }
        const zi = zps + c * zpStride;
        u8[zi] = u8[zi]! | ((trunc(zf) << zpShift) & 0xff);
      }
      f32[(scales + c * sStride) >>> 2] = scale;
      f64[s0 + (c & 3)] = f64[s0 + (c & 3)]! + ss;
      f64[s0 + 4 + (c & 3)] = f64[s0 + 4 + (c & 3)]! + e;
    }
  };

  return {
    reserve(bytes: number): void {
      if (bytes <= memory.byteLength) return;
      const next = new ArrayBuffer(Math.ceil(bytes / 65536) * 65536);
      new Uint8Array(next).set(u8);
      memory = next;
      f32 = new Float32Array(memory);
      f64 = new Float64Array(memory);
      u8 = new Uint8Array(memory);
    },
    buffer: () => memory,
    q4sym: (src, rowStride, n, rows, packed, pStride, scales, sStride, stats) =>
      q4(true, src, rowStride, n, rows, packed, pStride, scales, sStride, 0, 0, 0, stats),
    q4asym: (src, rowStride, n, rows, packed, pStride, scales, sStride, zps, zpStride, zpShift, stats) =>
      q4(false, src, rowStride, n, rows, packed, pStride, scales, sStride, zps, zpStride, zpShift, stats),
    range8(src: number, count: number, out: number): void {
      let mn = 0;
      let mx = 0;
      for (let i = 0; i < count; i++) {
        const v = f32[(src >>> 2) + i]!;
        if (v < mn) mn = v;
        if (mx < v) mx = v;
      }
      f32.fill(mn, out >>> 2, (out >>> 2) + 4);
      f32.fill(mx, (out >>> 2) + 4, (out >>> 2) + 8);
    },
    quant8(
      src: number,
      count: number,
      scale: number,
      zero: number,
      lo: number,
      out: number,
      stats: number,
    ): void {
      const s0 = stats >>> 3;
      const sig = [0, 0, 0, 0];
      const err = [0, 0, 0, 0];
      for (let i = 0; i < count; i += 16) {
        sig.fill(0);
        err.fill(0);
        for (let j = 0; j < 16; j++) {
          const v = f32[(src >>> 2) + i + j]!;
          const y = clamp(fr(nearest(fr(v / scale)) + zero), lo, 127);
          u8[out + i + j] = trunc(y) & 0xff;
          const d = fr(v - fr(fr(y - zero) * scale));
          const lane = j & 3;
          sig[lane] = j < 4 ? fr(v * v) : fr(sig[lane]! + fr(v * v));
          err[lane] = j < 4 ? fr(d * d) : fr(err[lane]! + fr(d * d));
        }
        for (let lane = 0; lane < 4; lane++) {
          f64[s0 + lane] = f64[s0 + lane]! + sig[lane]!;
          f64[s0 + 4 + lane] = f64[s0 + 4 + lane]! + err[lane]!;
        }
      }
    },
  };
}
