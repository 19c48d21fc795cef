/**
 * How a language model's inputs are fed, whichever exporter wrote it: token ids, attention mask, position ids,
 * `cache_position`, optimum's `use_cache_branch`, and KV-cache pasts paired with the presents that feed them on the
 * next step (`past_key_values.0.key` → `present.0.key`, `past_0` → `present_0`, …). Integer inputs take the model's
 * own type (int64 or int32); pasts take theirs (float32 or float16), start empty along the axis that grows with the
 * cache, and that axis is found by comparing a past's shape with its present's (`past_sequence_length` against
 * `past_sequence_length + 1`, `s2` against `s2 + s1`), so dim names need not say "past".
 */
import { ConfigurationError } from '../errors.ts';
import type { ElementType, IoInfo, TensorValue } from '../inference/session.ts';
import { resolveDim } from '../inference/synthesize.ts';

/** Inputs that mention a cache but are not one. */
const NOT_PAST = /mask|position|use_cache|cache_branch/i;

/** Is this input a KV-cache past (`past_key_values.*`, `past_*`, `past.*`, `cache.N.*`)? */
export function isPastInput(name: string): boolean {
  if (NOT_PAST.test(name)) return false;
  return /(^|[._])past/i.test(name) || /(^|[._])(kv_)?cache[._]?\d/i.test(name);
}

export interface KvLayout {
  ids: string;
  mask?: string;
  positions?: string;
  /** A 1-D input of the fed tokens' absolute positions (Hugging Face `cache_position`). */
  cachePosition?: string;
  /** optimum's merged decoders: false for the step without a cache, true after. */
  useCacheBranch?: string;
  /** past input name → the present output that feeds it on the next step. */
  pastToPresent: Map<string, string>;
  logits: string;
}

/** The model's language-model inputs, without requiring a cache (prefill of a model without one). */
export interface TokenInputs {
  ids: string;
  mask?: string;
  positions?: string;
  cachePosition?: string;
  useCacheBranch?: string;
}

export function tokenInputs(inputs: readonly IoInfo[]): TokenInputs | undefined {
  const find = (pattern: RegExp) => inputs.find((i) => pattern.test(i.name))?.name;
  const ids = find(/input_ids/) ?? find(/^(ids|tokens|input_tokens)$/i);
  if (!ids) return undefined;
  const mask = find(/attention_mask/);
  const positions = find(/position_ids/);
  const cachePosition = find(/cache_position/);
  const useCacheBranch = find(/use_cache_branch/);
  return {
    ids,
    ...(mask ? { mask } : {}),
    ...(positions ? { positions } : {}),
    ...(cachePosition ? { cachePosition } : {}),
    ...(useCacheBranch ? { useCacheBranch } : {}),
  };
}

/** Pairs every past input with its present output; undefined unless the model is a KV-cache decoder. */
export function kvLayout(inputs: readonly IoInfo[], outputs: readonly IoInfo[]): KvLayout | undefined {
  const pasts = inputs.filter((i) => isPastInput(i.name));
  const tokens = tokenInputs(inputs);
  if (pasts.length === 0 || !tokens) return undefined;
  const outputNames = outputs.map((o) => o.name);
  const pastToPresent = new Map<string, string>();
  for (const past of pasts) {
    const suffix = past.name.replace(/^(past_key_values|past|(kv_)?cache)/i, '');
    const present = outputNames.find(
      (o) => /^present/i.test(o) && o.replace(/^present(_key_values)?/i, '') === suffix,
    );
    if (!present) return undefined;
    pastToPresent.set(past.name, present);
  }
  const logits = outputs.find((o) => /logits/i.test(o.name))?.name ?? outputs[0]?.name;
  if (!logits) return undefined;
  return { ...tokens, logits, pastToPresent };
}

/** Dim names that say "length of the cache". */
const LENGTH_NAME = /past|seq|len|cache|total/i;

/**
 * The axis of a past that grows with the cache: where its present's dim differs from its own (the one named like
 * a length, if several differ), else the symbolic dim named like a length, else the second to last (the usual
 * [batch, heads, sequence, head_dim]).
 */
export function pastSequenceAxis(past: IoInfo, present: IoInfo | undefined): number {
  const symbolic = past.shape.flatMap((d, axis) => (axis > 0 && typeof d === 'string' ? [{ d, axis }] : []));
  const differing = symbolic.filter(
    ({ d, axis }) => present?.shape[axis] !== undefined && present.shape[axis] !== d,
  );
  const pick = (list: typeof symbolic) => (list.find(({ d }) => LENGTH_NAME.test(d)) ?? list[0])?.axis;
  return (
    pick(differing) ??
    symbolic.find(({ d }) => LENGTH_NAME.test(d))?.axis ??
    Math.max(1, past.shape.length - 2)
  );
}

/** An integer tensor in the input's own type (int64 or int32). */
function integerTensor(input: IoInfo, values: number[], dims: number[]): TensorValue {
  const type = input.type ?? 'int64';
  if (type === 'int64') return { type, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
  if (type === 'int32') return { type, dims, data: Int32Array.from(values) };
  throw new ConfigurationError(`input "${input.name}" is ${type}; token inputs must be int64 or int32`, {
    fix: 'Export the model with integer token inputs',
  });
}

/**
 * An empty past: the cache axis 0; the batch on the axis named like the token ids' batch dim (else the first other
 * symbolic one); other symbolic dims from `dims` by name, else 1; in the past's own element type.
 */
function emptyPast(
  past: IoInfo,
  present: IoInfo | undefined,
  batch: { size: number; dim?: number | string | undefined },
  dims: Record<string, number> = {},
): TensorValue {
  const cacheAxis = pastSequenceAxis(past, present);
  const named = typeof batch.dim === 'string' ? past.shape.indexOf(batch.dim) : -1;
  const batchAxis =
    named >= 0 && named !== cacheAxis
      ? named
      : past.shape.findIndex((d, axis) => axis !== cacheAxis && typeof d === 'string');
  const shape = past.shape.map((d, axis) => {
    if (axis === cacheAxis) return 0;
    if (typeof d === 'number') return d;
    if (axis === batchAxis) return batch.size;
    return resolveDim(d, dims, 1) || 1;
  });
  const type = (past.type ?? 'float32') as ElementType;
  switch (type) {
    case 'float32':
      return { type, dims: shape, data: new Float32Array(0) };
    case 'float16':
      return { type, dims: shape, data: new Uint16Array(0) };
    default:
      throw new ConfigurationError(
        `KV-cache input "${past.name}" is ${type}; pasts must be float32 or float16`,
        {
          fix: 'Export the decoder with a float cache',
        },
      );
  }
}

/** A fixed dim of a token input that the requested batch or length does not fit. */
function checkFixed(input: IoInfo, axis: number, wanted: number, what: string, fix: string): void {
  const fixed = input.shape[axis];
  if (typeof fixed === 'number' && fixed > 0 && fixed !== wanted) {
    throw new ConfigurationError(`input "${input.name}" has a fixed ${what} of ${fixed}, not ${wanted}`, {
      fix: fix.replaceAll('{n}', String(fixed)),
    });
  }
}

export interface StepTokens {
  /** Token ids per batch row, all of one length. */
  rows: number[][];
  /** Tokens already in the cache. */
  past: number;
}

export interface StepOptions {
  /** The previous step's presents by past input name; pasts not given start empty. */
  pasts?: ReadonlyMap<string, TensorValue>;
  /** Values for other symbolic dims, by name. */
  dims?: Record<string, number>;
  /** Feeds an input that is none of the above (default: an error naming it). */
  other?: (input: IoInfo) => TensorValue;
  /** The model's layout, worked out once by a caller that feeds it step after step (a decode loop). */
  layout?: KvLayout;
}

/**
 * Feeds for one step of a language model: `rows` of new tokens after `past` cached ones. Pasts are the previous
 * step's presents or start empty; the other token inputs follow from the lengths.
 */
export function stepFeeds(
  inputs: readonly IoInfo[],
  outputs: readonly IoInfo[],
  tokens: StepTokens,
  options: StepOptions = {},
): Record<string, TensorValue> {
  const layout = options.layout ?? kvLayout(inputs, outputs);
  const roles = layout ?? tokenInputs(inputs);
  if (!roles)
    throw new ConfigurationError('the model has no "input_ids" input', { fix: 'Feed it generic inputs' });
  const idsInput = inputs.find((i) => i.name === roles.ids)!;
  const batch = tokens.rows.length;
  const length = tokens.rows[0]?.length ?? 0;
  const total = tokens.past + length;
  const feeds: Record<string, TensorValue> = {};
  for (const input of inputs) {
    const name = input.name;
    if (name === roles.ids) {
      checkFixed(input, 0, batch, 'batch size', 'Use batch {n}');
      checkFixed(input, 1, length, 'sequence length', 'Use sequence length {n} (slmops bench --seq {n})');
      feeds[name] = integerTensor(input, tokens.rows.flat(), [batch, length]);
    } else if (name === roles.mask) {
      feeds[name] = integerTensor(input, new Array(batch * total).fill(1), [batch, total]);
    } else if (name === roles.positions) {
      const positions = Array.from({ length: batch * length }, (_, i) => tokens.past + (i % length));
      feeds[name] = integerTensor(input, positions, [batch, length]);
    } else if (name === roles.cachePosition) {
      feeds[name] = integerTensor(
        input,
        Array.from({ length }, (_, i) => tokens.past + i),
        [length],
      );
    } else if (name === roles.useCacheBranch) {
      feeds[name] = {
        type: 'bool',
        dims: input.shape.map(() => 1),
        data: Uint8Array.of(tokens.past > 0 ? 1 : 0),
      };
    } else if (layout?.pastToPresent.has(name)) {
      const present = outputs.find((o) => o.name === layout.pastToPresent.get(name));
      feeds[name] =
        options.pasts?.get(name) ??
        emptyPast(input, present, { size: batch, dim: idsInput.shape[0] }, options.dims);
    } else if (isPastInput(name)) {
      throw new ConfigurationError(`KV-cache input "${name}" has no matching "present" output`, {
        fix: 'Export the decoder with present.* outputs for every past input',
      });
    } else if (options.other) {
      feeds[name] = options.other(input);
    } else if (/^(token_type_ids|segment_ids)$/.test(name)) {
      // An encoder's segment ids: one segment, as a single line of text is.
      feeds[name] = integerTensor(input, new Array(batch * length).fill(0), [batch, length]);
    } else {
      throw new ConfigurationError(`model input "${name}" cannot be derived from token ids`, {
        fix: 'Give eval lines as {"inputs": {...}} naming every model input',
      });
    }
  }
  return feeds;
}
