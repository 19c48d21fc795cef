/**
 * A minimal WebAssembly binary writer: just what the quantization kernels (./wasm-kernels.ts) need (one memory,
 * functions over i32/f32/v128 locals, structured loops, 128-bit SIMD). The kernels are written as code here, not
 * shipped as an opaque binary, so they stay reviewable and the bundles need no extra file.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** SIMD opcodes (after the 0xfd prefix), from the WebAssembly SIMD binary encoding. */
export const V = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  i32x4Splat: 0x11,
  f32x4Splat: 0x13,
  i32x4ExtractLane: 0x1b,
  f32x4Eq: 0x41,
  f32x4Ne: 0x42,
  f32x4Lt: 0x43,
  f32x4Gt: 0x44,
  f32x4Le: 0x45,
  i32x4LtS: 0x39,
  not: 0x4d,
  and: 0x4e,
  or: 0x50,
  bitselect: 0x52,
  store8Lane: 0x58,
  store32Lane: 0x5a,
  f64x2PromoteLowF32x4: 0x5f,
  i8x16NarrowI16x8S: 0x65,
  f32x4Nearest: 0x6a,
  i16x8NarrowI32x4S: 0x85,
  i32x4Shl: 0xab,
  i32x4Add: 0xae,
  f32x4Abs: 0xe0,
  f32x4Neg: 0xe1,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Div: 0xe7,
  f32x4Pmin: 0xea,
  f32x4Pmax: 0xeb,
  f64x2Add: 0xf0,
  i32x4TruncSatF32x4S: 0xf8,
} as const;

function uleb(out: number[], value: number): void {
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v ? byte | 0x80 : byte);
  } while (v);
}

function sleb(out: number[], value: number): void {
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return;
  }
}

/** One function: its signature, its locals and its code, written with the methods below (stack machine order). */
export class Fn {
  readonly code: number[] = [];
  private readonly localTypes: number[] = [];

  constructor(
    readonly name: string,
    readonly params: number[],
  ) {}

  /** A new local of `type`; returns its index. */
  local(type: number): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  get(index: number): this {
    this.code.push(0x20);
    uleb(this.code, index);
    return this;
  }

  set(index: number): this {
    this.code.push(0x21);
    uleb(this.code, index);
    return this;
  }

  tee(index: number): this {
    this.code.push(0x22);
    uleb(this.code, index);
    return this;
  }

  i32(value: number): this {
    this.code.push(0x41);
    sleb(this.code, value);
    return this;
  }

  /** Raw opcode bytes. */
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  i32Add(): this {
    return this.op(0x6a);
  }

  i32Mul(): this {
    return this.op(0x6c);
  }

  i32Or(): this {
    return this.op(0x72);
  }

  i32Shl(): this {
    return this.op(0x74);
  }

  i32LtS(): this {
    return this.op(0x48);
  }

  i32LtU(): this {
    return this.op(0x49);
  }

  /** i32.load8_u / i32.store8 at the address on the stack. */
  load8(): this {
    return this.op(0x2d, 0, 0);
  }

  store8(): this {
    return this.op(0x3a, 0, 0);
  }

  /** A SIMD instruction with its immediate bytes. */
  v(opcode: number, ...immediates: number[]): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    this.code.push(...immediates);
    return this;
  }

  vload(offset = 0): this {
    this.code.push(0xfd);
    uleb(this.code, V.load);
    this.code.push(0);
    uleb(this.code, offset);
    return this;
  }

  vstore(offset = 0): this {
    this.code.push(0xfd);
    uleb(this.code, V.store);
    this.code.push(0);
    uleb(this.code, offset);
    return this;
  }

  /** v128.storeN_lane: memarg (align 0, offset 0), then the lane. */
  storeLane(opcode: number, lane: number): this {
    this.code.push(0xfd);
    uleb(this.code, opcode);
    this.code.push(0, 0, lane);
    return this;
  }

  /** v128.const with the same float32 in every lane. */
  f32x4(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value, value, value, value]).buffer);
    return this.v(V.const, ...bytes);
  }

  i32x4(a: number, b: number, c: number, d: number): this {
    const bytes = new Uint8Array(new Int32Array([a, b, c, d]).buffer);
    return this.v(V.const, ...bytes);
  }

  /** f32x4 lanes 2 and 3 moved to lanes 0 and 1 (for promoting the high half to f64x2). */
  highHalf(): this {
    return this.v(V.shuffle, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
  }

  /** `body`, repeated while the i32 left by `condition` is non-zero (checked after each pass: do … while). */
  doWhile(body: () => void, condition: () => void): this {
    this.code.push(0x03, 0x40); // loop (no result)
    body();
    condition();
    this.code.push(0x0d, 0x00); // br_if 0
    this.code.push(0x0b); // end
    return this;
  }

  /** The function body: locals grouped by type, the code, `end`. */
  body(): number[] {
    const out: number[] = [];
    const groups: [number, number][] = [];
    for (const t of this.localTypes) {
      const last = groups.at(-1);
      if (last && last[1] === t) last[0] += 1;
      else groups.push([1, t]);
    }
    uleb(out, groups.length);
    for (const [count, type] of groups) {
      uleb(out, count);
      out.push(type);
    }
    out.push(...this.code, 0x0b);
    const sized: number[] = [];
    uleb(sized, out.length);
    return [...sized, ...out];
  }
}

function section(id: number, content: number[]): number[] {
  const out = [id];
  uleb(out, content.length);
  return [...out, ...content];
}

function name(out: number[], text: string): void {
  const bytes = new TextEncoder().encode(text);
  uleb(out, bytes.length);
  out.push(...bytes);
}

/** A module exporting `functions` (no results) and one growable memory named `memory`. */
export function assemble(functions: Fn[]): Uint8Array {
  const types: number[] = [];
  uleb(types, functions.length);
  for (const f of functions) {
    types.push(0x60);
    uleb(types, f.params.length);
    types.push(...f.params);
    types.push(0); // no results
  }
  const funcs: number[] = [];
  uleb(funcs, functions.length);
  functions.forEach((_, i) => {
    uleb(funcs, i);
  });
  const memory = [1, 0x00, 1]; // one memory, no maximum, 1 page to start
  const exports: number[] = [];
  uleb(exports, functions.length + 1);
  functions.forEach((f, i) => {
    name(exports, f.name);
    exports.push(0x00);
    uleb(exports, i);
  });
  name(exports, 'memory');
  exports.push(0x02, 0);
  const code: number[] = [];
  uleb(code, functions.length);
  for (const f of functions) code.push(...f.body());
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(3, funcs),
    ...section(5, memory),
    ...section(7, exports),
    ...section(10, code),
  ]);
}
