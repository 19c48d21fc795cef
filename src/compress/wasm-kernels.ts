/**
 * The quantization inner loops as WebAssembly SIMD (four float32 lanes at a time), several times faster than the
 * same loops in JavaScript. Every function works on the module's own memory (byte addresses) and returns nothing;
 * ./kernel-runner.ts moves tensors in and results out. ./kernels-js.ts holds the same arithmetic in JavaScript,
 * operation for operation (tests check they agree bit for bit; it also runs where WebAssembly is unavailable).
 *
 * Accumulated statistics (sums of squares of the weights and of the error, for SQNR) are kept as four float64
 * per quantity at `stats` (signal at +0, noise at +32), added to by each call.
 *
 * int4, symmetric — `q4sym(src, rowStride, n, rows, packed, pStride, scales, sStride, stats)`: one block of `rows`
 * weights (rows k of a [K, N] float32 matrix, `rowStride` bytes apart) for each of the `n` columns, four columns per
 * step, one column per lane. Per block: amax = the value of largest magnitude (the first one on ties), ss = Σ v²;
 * two starting scales, inv₁ = −8 / amax (onnxruntime's) and inv₂ = inv₁ / 0.9; for each, codes
 * q = clamp(nearest(v · inv), −8, 7) and the least-squares scale for them, Σvq / Σq², with its error ss − (Σvq)²/Σq²;
 * the start with the smaller error (the first on ties) gives `fit`; the block is rounded again with 1 / fit and the
 * scale refitted, s = Σvq / Σq². Each step can only lower the error, so it never ends above onnxruntime's. Codes are
 * stored as q + 8, two per byte (low nibble first) at packed + column · pStride + row / 2; the scale at
 * scales + column · sStride. A block that is all zeros or not finite gets code 8 (zero) and scale 0. The buffers
 * must have room for n rounded up to 4 columns (the extra lanes are written, then ignored).
 *
 * int4, asymmetric — `q4asym(…, zps, zpStride, zpShift, stats)`: min, max (starting from 0), scale = (max − min) / 15,
 * zero = clamp(nearest(−min / scale), 0, 15) (8 when the scale is 0), codes clamp(nearest(v / scale) + zero, 0, 15);
 * the zero point is or-ed into the byte at zps + column · zpStride, shifted by `zpShift`.
 *
 * int8 — `range8(src, count, out)`: lane-wise min and max (starting from 0, NaN ignored) of `count` floats (a
 * multiple of 16), stored as two f32x4 at out. `quant8(src, count, scale, zero, lo, out, stats)`:
 * q = clamp(nearest(v / scale) + zero, lo, 127) as int8, as numpy does it for onnxruntime's quantize_dynamic.
 */
import { assemble, F32, Fn, I32, V, V128 } from './wasm-asm.ts';

const INF = Number.POSITIVE_INFINITY;

/** Loads the four float64 accumulators at `stats` into locals (signal 0-1, 2-3, noise 0-1, 2-3). */
function loadStats(f: Fn, stats: number): number[] {
  const acc = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  acc.forEach((a, i) => {
    f.get(stats)
      .vload(i * 16)
      .set(a);
  });
  return acc;
}

function storeStats(f: Fn, stats: number, acc: number[]): void {
  acc.forEach((a, i) => {
    f.get(stats)
      .get(a)
      .vstore(i * 16);
  });
}

/** acc[lo] += f64(lanes 0, 1 of `value`); acc[hi] += f64(lanes 2, 3). */
function accumulate(f: Fn, value: number, lo: number, hi: number): void {
  f.get(lo).get(value).v(V.f64x2PromoteLowF32x4).v(V.f64x2Add).set(lo);
  f.get(hi).get(value).get(value).highHalf().v(V.f64x2PromoteLowF32x4).v(V.f64x2Add).set(hi);
}

/** Clamps the f32x4 on the stack to [lo, hi] (pmin/pmax: NaN stays NaN). */
function clamp(f: Fn, lo: number, hi: number): void {
  f.f32x4(hi).v(V.f32x4Pmin).f32x4(lo).v(V.f32x4Pmax);
}

/** The byte of each lane's codes for two rows (`low`, `high`: f32x4 codes 0-15) stored for four columns. */
function storePacked(f: Fn, low: number, high: number, pk: number, pStride: number, addr: number): void {
  const bytes = f.local(V128);
  f.get(low).v(V.i32x4TruncSatF32x4S);
  f.get(high).v(V.i32x4TruncSatF32x4S).i32(4).v(V.i32x4Shl);
  f.v(V.or).set(bytes);
  f.get(pk).get(bytes).storeLane(V.store8Lane, 0);
  f.get(pk).get(pStride).i32Add().tee(addr).get(bytes).storeLane(V.store8Lane, 4);
  f.get(addr).get(pStride).i32Add().tee(addr).get(bytes).storeLane(V.store8Lane, 8);
  f.get(addr).get(pStride).i32Add().get(bytes).storeLane(V.store8Lane, 12);
}

function storeScales(f: Fn, scale: number, base: number, stride: number, addr: number): void {
  f.get(base).get(scale).storeLane(V.store32Lane, 0);
  f.get(base).get(stride).i32Add().tee(addr).get(scale).storeLane(V.store32Lane, 1);
  f.get(addr).get(stride).i32Add().tee(addr).get(scale).storeLane(V.store32Lane, 2);
  f.get(addr).get(stride).i32Add().get(scale).storeLane(V.store32Lane, 3);
}

/** Lanes whose column (g + lane) is below n: all ones, else zero. */
function validLanes(f: Fn, g: number, n: number, out: number): void {
  f.get(g).v(V.i32x4Splat).i32x4(0, 1, 2, 3).v(V.i32x4Add).get(n).v(V.i32x4Splat).v(V.i32x4LtS).set(out);
}

/** `target += a · b` (f32x4). */
function addProduct(f: Fn, target: number, a: number, b: number): void {
  f.get(target).get(a).get(b).v(V.f32x4Mul).v(V.f32x4Add).set(target);
}

function q4sym(): Fn {
  const f = new Fn('q4sym', [I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [src, rowStride, n, rows, packed, pStride, scales, sStride, stats] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [g, p, r, pk, addr] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const vl = () => f.local(V128);
  const [amaxAbs, amax, ss, v, v1, abs, m, inv1, inv2, inv] = [
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
  ];
  const [p1, c1, p2, c2, y, y1, fit, ok, svc, scc, s, e, valid, masked] = [
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
  ];
  const [sig01, sig23, err01, err23] = loadStats(f, stats) as [number, number, number, number];
  const zero = (...locals: number[]) => {
    for (const l of locals) f.f32x4(0).set(l);
  };
  const rowsLoop = (step: number, body: () => void) => {
    f.get(src).get(g).i32(4).i32Mul().i32Add().set(p);
    f.i32(0).set(r);
    f.doWhile(
      () => {
        body();
        f.get(p).get(rowStride).i32(step).i32Mul().i32Add().set(p);
      },
      () => f.get(r).i32(step).i32Add().tee(r).get(rows).i32LtS(),
    );
  };
  /** `target` = clamp(nearest(value · scale), −8, 7). */
  const round = (target: number, value: number, scale: number) => {
    f.get(value).get(scale).v(V.f32x4Mul).v(V.f32x4Nearest);
    clamp(f, -8, 7);
    f.set(target);
  };
  /** i32 mask of lanes whose |x| is in (0, ∞) (f32x4 on the stack). */
  const finiteNonZero = (x: number) => {
    f.get(x).v(V.f32x4Abs).f32x4(0).v(V.f32x4Gt);
    f.get(x).v(V.f32x4Abs).f32x4(INF).v(V.f32x4Lt).v(V.and);
  };

  f.i32(0).set(g);
  f.doWhile(
    () => {
      // Pass 1: amax and Σ v².
      zero(amaxAbs, amax, ss);
      rowsLoop(1, () => {
        f.get(p).vload().set(v);
        addProduct(f, ss, v, v);
        f.get(v).v(V.f32x4Abs).tee(abs).get(amaxAbs).v(V.f32x4Gt).set(m);
        f.get(abs).get(amaxAbs).get(m).v(V.bitselect).set(amaxAbs);
        f.get(v).get(amax).get(m).v(V.bitselect).set(amax);
      });
      // Pass 2: the two starts.
      f.f32x4(-8).get(amax).v(V.f32x4Div).tee(inv1).f32x4(0.9).v(V.f32x4Div).set(inv2);
      zero(p1, c1, p2, c2);
      rowsLoop(1, () => {
        f.get(p).vload().set(v);
        round(y, v, inv1);
        addProduct(f, p1, v, y);
        addProduct(f, c1, y, y);
        round(y, v, inv2);
        addProduct(f, p2, v, y);
        addProduct(f, c2, y, y);
      });
      f.get(p1).get(c1).v(V.f32x4Div);
      f.get(p2).get(c2).v(V.f32x4Div);
      f.get(ss).get(p1).get(p1).v(V.f32x4Mul).get(c1).v(V.f32x4Div).v(V.f32x4Sub);
      f.get(ss).get(p2).get(p2).v(V.f32x4Mul).get(c2).v(V.f32x4Div).v(V.f32x4Sub);
      f.v(V.f32x4Le).v(V.bitselect).set(fit);
      f.f32x4(1).get(fit).v(V.f32x4Div).set(inv);
      f.get(amaxAbs).f32x4(0).v(V.f32x4Gt);
      f.get(amaxAbs).f32x4(INF).v(V.f32x4Lt).v(V.and);
      finiteNonZero(fit);
      f.v(V.and).set(ok);
      // Pass 3: final codes (two rows at a time, one byte per column) and the refitted scale.
      zero(svc, scc);
      f.get(packed).get(g).get(pStride).i32Mul().i32Add().set(pk);
      rowsLoop(2, () => {
        f.get(p).vload().set(v);
        f.get(p).get(rowStride).i32Add().vload().set(v1);
        round(y, v, inv);
        f.get(y).get(ok).v(V.and).set(y);
        round(y1, v1, inv);
        f.get(y1).get(ok).v(V.and).set(y1);
        addProduct(f, svc, v, y);
        addProduct(f, svc, v1, y1);
        addProduct(f, scc, y, y);
        addProduct(f, scc, y1, y1);
        f.get(y).f32x4(8).v(V.f32x4Add).set(y);
        f.get(y1).f32x4(8).v(V.f32x4Add).set(y1);
        storePacked(f, y, y1, pk, pStride, addr);
        f.get(pk).i32(1).i32Add().set(pk);
      });
      f.get(svc).get(scc).v(V.f32x4Div).set(s);
      f.get(ok);
      finiteNonZero(s);
      f.v(V.and).get(s).v(V.and).set(s);
      // e = (ss − 2s · Σvq) + s² · Σq², at least 0
      f.get(ss).f32x4(2).get(s).v(V.f32x4Mul).get(svc).v(V.f32x4Mul).v(V.f32x4Sub);
      f.get(s).get(s).v(V.f32x4Mul).get(scc).v(V.f32x4Mul).v(V.f32x4Add);
      f.f32x4(0).v(V.f32x4Pmax).set(e);
      f.get(scales).get(g).get(sStride).i32Mul().i32Add().set(addr);
      storeScales(f, s, addr, sStride, addr);
      validLanes(f, g, n, valid);
      f.get(ss).get(valid).v(V.and).set(masked);
      accumulate(f, masked, sig01, sig23);
      f.get(e).get(valid).v(V.and).set(masked);
      accumulate(f, masked, err01, err23);
    },
    () => f.get(g).i32(4).i32Add().tee(g).get(n).i32LtS(),
  );
  storeStats(f, stats, [sig01, sig23, err01, err23]);
  return f;
}

function q4asym(): Fn {
  const f = new Fn('q4asym', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]);
  const [src, rowStride, n, rows, packed, pStride, scales, sStride, zps, zpStride, zpShift, stats] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
  ];
  const [g, p, r, pk, addr] = [f.local(I32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)];
  const vl = () => f.local(V128);
  const [mn, mx, ss, v, v1, scale, nz, inv, zf, y, y1, e, valid, masked, zi] = [
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
    vl(),
  ];
  const [sig01, sig23, err01, err23] = loadStats(f, stats) as [number, number, number, number];
  const rowsLoop = (step: number, body: () => void) => {
    f.get(src).get(g).i32(4).i32Mul().i32Add().set(p);
    f.i32(0).set(r);
    f.doWhile(
      () => {
        body();
        f.get(p).get(rowStride).i32(step).i32Mul().i32Add().set(p);
      },
      () => f.get(r).i32(step).i32Add().tee(r).get(rows).i32LtS(),
    );
  };
  /** `target` = clamp(nearest(value · inv) + zero, 0, 15); e += (value − (target − zero) · scale)². */
  const code = (target: number, value: number) => {
    f.get(value).get(inv).v(V.f32x4Mul).v(V.f32x4Nearest).get(zf).v(V.f32x4Add);
    clamp(f, 0, 15);
    f.set(target);
    f.get(value).get(target).get(zf).v(V.f32x4Sub).get(scale).v(V.f32x4Mul).v(V.f32x4Sub).tee(masked);
    f.get(masked).v(V.f32x4Mul).get(e).v(V.f32x4Add).set(e);
  };

  f.i32(0).set(g);
  f.doWhile(
    () => {
      for (const l of [mn, mx, ss]) f.f32x4(0).set(l);
      rowsLoop(1, () => {
        f.get(p).vload().set(v);
        addProduct(f, ss, v, v);
        f.get(mn).get(v).v(V.f32x4Pmin).set(mn);
        f.get(mx).get(v).v(V.f32x4Pmax).set(mx);
      });
      f.get(mx).get(mn).v(V.f32x4Sub).f32x4(15).v(V.f32x4Div).tee(scale).f32x4(0).v(V.f32x4Ne).set(nz);
      f.f32x4(1).get(scale).v(V.f32x4Div).get(nz).v(V.and).set(inv);
      f.get(mn).v(V.f32x4Neg).get(inv).v(V.f32x4Mul).v(V.f32x4Nearest);
      clamp(f, 0, 15);
      f.f32x4(8).get(nz).v(V.bitselect).set(zf);
      f.f32x4(0).set(e);
      f.get(packed).get(g).get(pStride).i32Mul().i32Add().set(pk);
      rowsLoop(2, () => {
        f.get(p).vload().set(v);
        f.get(p).get(rowStride).i32Add().vload().set(v1);
        code(y, v);
        code(y1, v1);
        storePacked(f, y, y1, pk, pStride, addr);
        f.get(pk).i32(1).i32Add().set(pk);
      });
      f.get(scales).get(g).get(sStride).i32Mul().i32Add().set(addr);
      storeScales(f, scale, addr, sStride, addr);
      // Zero points: or the nibble into each column's byte.
      f.get(zf).v(V.i32x4TruncSatF32x4S).set(zi);
      for (let lane = 0; lane < 4; lane++) {
        f.get(zps).get(g).i32(lane).i32Add().get(zpStride).i32Mul().i32Add().tee(addr);
        f.get(addr).load8();
        f.get(zi).v(V.i32x4ExtractLane, lane).get(zpShift).i32Shl();
        f.i32Or();
        f.store8();
      }
      validLanes(f, g, n, valid);
      f.get(ss).get(valid).v(V.and).set(masked);
      accumulate(f, masked, sig01, sig23);
      f.get(e).get(valid).v(V.and).set(masked);
      accumulate(f, masked, err01, err23);
    },
    () => f.get(g).i32(4).i32Add().tee(g).get(n).i32LtS(),
  );
  storeStats(f, stats, [sig01, sig23, err01, err23]);
  return f;
}

function range8(): Fn {
  const f = new Fn('range8', [I32, I32, I32]);
  const [src, count, out] = [0, 1, 2];
  const [p, end] = [f.local(I32), f.local(I32)];
  const mins = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const maxs = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const v = f.local(V128);
  for (const l of [...mins, ...maxs]) f.f32x4(0).set(l);
  f.get(src).set(p);
  f.get(src).get(count).i32(4).i32Mul().i32Add().set(end);
  f.doWhile(
    () => {
      for (let k = 0; k < 4; k++) {
        f.get(p)
          .vload(k * 16)
          .set(v);
        f.get(mins[k]!).get(v).v(V.f32x4Pmin).set(mins[k]!);
        f.get(maxs[k]!).get(v).v(V.f32x4Pmax).set(maxs[k]!);
      }
      f.get(p).i32(64).i32Add().tee(p).get(end).i32LtU();
    },
    () => {},
  );
  f.get(out);
  f.get(mins[0]!).get(mins[1]!).v(V.f32x4Pmin).get(mins[2]!).get(mins[3]!).v(V.f32x4Pmin).v(V.f32x4Pmin);
  f.vstore(0);
  f.get(out);
  f.get(maxs[0]!).get(maxs[1]!).v(V.f32x4Pmax).get(maxs[2]!).get(maxs[3]!).v(V.f32x4Pmax).v(V.f32x4Pmax);
  f.vstore(16);
  return f;
}

function quant8(): Fn {
  const f = new Fn('quant8', [I32, I32, F32, F32, F32, I32, I32]);
  const [src, count, scale, zero, lo, out, stats] = [0, 1, 2, 3, 4, 5, 6];
  const [p, o, end] = [f.local(I32), f.local(I32), f.local(I32)];
  const vl = () => f.local(V128);
  const [S, Z, L, v, y, d, sig, err] = [vl(), vl(), vl(), vl(), vl(), vl(), vl(), vl()];
  const q = [vl(), vl(), vl(), vl()];
  const [sig01, sig23, err01, err23] = loadStats(f, stats) as [number, number, number, number];
  f.get(scale).v(V.f32x4Splat).set(S);
  f.get(zero).v(V.f32x4Splat).set(Z);
  f.get(lo).v(V.f32x4Splat).set(L);
  f.get(src).set(p);
  f.get(out).set(o);
  f.get(src).get(count).i32(4).i32Mul().i32Add().set(end);
  f.doWhile(
    () => {
      for (let k = 0; k < 4; k++) {
        f.get(p)
          .vload(k * 16)
          .set(v);
        f.get(v).get(S).v(V.f32x4Div).v(V.f32x4Nearest).get(Z).v(V.f32x4Add);
        f.f32x4(127).v(V.f32x4Pmin).get(L).v(V.f32x4Pmax).tee(y);
        f.v(V.i32x4TruncSatF32x4S).set(q[k]!);
        f.get(v).get(y).get(Z).v(V.f32x4Sub).get(S).v(V.f32x4Mul).v(V.f32x4Sub).set(d);
        if (k === 0) {
          f.get(v).get(v).v(V.f32x4Mul).set(sig);
          f.get(d).get(d).v(V.f32x4Mul).set(err);
        } else {
          addProduct(f, sig, v, v);
          addProduct(f, err, d, d);
        }
      }
      f.get(o);
      f.get(q[0]!).get(q[1]!).v(V.i16x8NarrowI32x4S);
      f.get(q[2]!).get(q[3]!).v(V.i16x8NarrowI32x4S);
      f.v(V.i8x16NarrowI16x8S).vstore(0);
      accumulate(f, sig, sig01, sig23);
      accumulate(f, err, err01, err23);
      f.get(o).i32(16).i32Add().set(o);
      f.get(p).i32(64).i32Add().tee(p).get(end).i32LtU();
    },
    () => {},
  );
  storeStats(f, stats, [sig01, sig23, err01, err23]);
  return f;
}

let bytes: Uint8Array | undefined;

/** The kernels' module binary (built once). */
export function kernelModuleBytes(): Uint8Array {
  bytes ??= assemble([q4sym(), q4asym(), range8(), quant8()]);
  return bytes;
}

/** The parts of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
export interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}

export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

let compiled: WasmModule | null | undefined;

/** The compiled kernels, or null where WebAssembly (or its SIMD) is unavailable (e.g. node --jitless). */
export function kernelModule(): WasmModule | null {
  if (compiled === undefined) {
    const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    try {
      compiled = api ? new api.Module(kernelModuleBytes()) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}
