/** Inputs made up from a model's input metadata, for runs that have no eval data. */
import { floatToHalf } from '../onnx/float16.ts';
import type { ElementType, IoInfo, TensorData, TensorValue } from './session.ts';

export interface SynthesizeOptions {
  /** Values for symbolic dims by name (`batch`, `seq`, …); unnamed or unknown dims default to `defaultDim`. */
  dims?: Record<string, number>;
  defaultDim?: number;
  /** Upper bound (exclusive) for integer inputs such as token ids; default 2. */
  intHigh?: number;
  /** Per input, an upper bound that overrides `intHigh` (token ids: the rows of the table they index). */
  intHighOf?: Record<string, number>;
  seed?: number;
}

/** A small deterministic PRNG (mulberry32), so synthesized inputs are the same on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Resolves a symbolic dim: a name in `dims`, else an expression of names joined by `+` (`past_seq + seq`), else
 * `defaultDim`. Names matching /past/ default to 0 so KV-cache inputs start empty.
 */
export function resolveDim(dim: number | string, dims: Record<string, number>, defaultDim: number): number {
  if (typeof dim === 'number' && dim >= 0) return dim;
  if (typeof dim !== 'string' || dim === '') return defaultDim;
  const named = dims[dim];
  if (named !== undefined) return named;
  if (dim.includes('+')) {
    return dim.split('+').reduce((sum, part) => sum + resolveDim(part.trim(), dims, defaultDim), 0);
  }
  if (/past/i.test(dim)) return 0;
  return defaultDim;
}

function fill(type: ElementType, count: number, random: () => number, intHigh: number): TensorData {
  switch (type) {
    case 'float32':
      return Float32Array.from({ length: count }, () => random() * 2 - 1);
    case 'float64':
      return Float64Array.from({ length: count }, () => random() * 2 - 1);
    case 'float16':
      return Uint16Array.from({ length: count }, () => floatToHalf(random() * 2 - 1));
    case 'int64':
      return BigInt64Array.from({ length: count }, () => BigInt(Math.floor(random() * intHigh)));
    case 'uint64':
      return BigUint64Array.from({ length: count }, () => BigInt(Math.floor(random() * intHigh)));
    case 'int32':
      return Int32Array.from({ length: count }, () => Math.floor(random() * intHigh));
    case 'uint32':
      return Uint32Array.from({ length: count }, () => Math.floor(random() * intHigh));
    case 'int16':
      return Int16Array.from({ length: count }, () => Math.floor(random() * intHigh));
    case 'uint16':
      return Uint16Array.from({ length: count }, () => Math.floor(random() * intHigh));
    case 'int8':
      return Int8Array.from({ length: count }, () => Math.floor(random() * Math.min(intHigh, 127)));
    case 'uint8':
      return Uint8Array.from({ length: count }, () => Math.floor(random() * Math.min(intHigh, 255)));
    case 'bool':
      return Uint8Array.from({ length: count }, () => (random() < 0.5 ? 0 : 1));
    case 'string':
      return Array.from({ length: count }, () => '');
  }
}

/**
 * One input per tensor input. Inputs whose name says "mask" are all ones; integer ids draw from [0, intHigh).
 */
export function synthesizeInputs(
  inputs: readonly IoInfo[],
  options: SynthesizeOptions = {},
): Record<string, TensorValue> {
  const random = prng(options.seed ?? 1);
  const dims = options.dims ?? {};
  const defaultDim = options.defaultDim ?? 1;
  const feeds: Record<string, TensorValue> = {};
  for (const input of inputs) {
    if (!input.isTensor || !input.type) continue;
    const type = input.type as ElementType;
    const shape = input.shape.map((d) => resolveDim(d, dims, defaultDim));
    const count = shape.reduce((a, b) => a * b, 1);
    let data = fill(type, count, random, options.intHighOf?.[input.name] ?? options.intHigh ?? 2);
    if (/mask/i.test(input.name) && type !== 'string') {
      data = fill(type, count, () => 0.9999, 2);
      if (type === 'float32' || type === 'float64') (data as Float32Array).fill(1);
      if (type === 'float16') (data as Uint16Array).fill(floatToHalf(1));
    }
    feeds[input.name] = { type, dims: shape, data };
  }
  return feeds;
}
