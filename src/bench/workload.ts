/**
 * What a benchmark runs: a generic model on synthesized inputs, a language model's prefill at sequence length N,
 * or one decode step of a KV-cache decoder with N tokens already in the cache.
 */
import { kvLayout } from '../evaluate/decode-loop.ts';
import type { IoInfo, Session, TensorValue } from '../inference/session.ts';
import { synthesizeInputs } from '../inference/synthesize.ts';

export type WorkloadKind = 'generic' | 'prefill' | 'decode';

export interface WorkloadSpec {
  kind: WorkloadKind;
  batch: number;
  /** Prompt length for prefill; cache length before the timed step for decode. */
  sequenceLength: number;
  /** Values for other symbolic dims. */
  dims: Record<string, number>;
  /** Token ids to use (from eval data); synthesized when absent. */
  tokens?: number[];
}

export function isLanguageModel(inputs: readonly IoInfo[]): boolean {
  return inputs.some((i) => /input_ids/.test(i.name));
}

/** `auto` → decode for KV-cache decoders, prefill for other language models, generic otherwise. */
export function chooseWorkload(
  inputs: readonly IoInfo[],
  outputs: readonly IoInfo[],
  requested: WorkloadKind | 'auto',
): WorkloadKind {
  if (requested !== 'auto') return requested;
  if (kvLayout(inputs, outputs)) return 'decode';
  return isLanguageModel(inputs) ? 'prefill' : 'generic';
}

function tokenRow(spec: WorkloadSpec, length: number): number[] {
  const source = spec.tokens?.length ? spec.tokens : [0, 1];
  return Array.from({ length }, (_, i) => source[i % source.length]!);
}

function ids(spec: WorkloadSpec, length: number): TensorValue {
  const row = tokenRow(spec, length);
  const data = new BigInt64Array(spec.batch * length);
  for (let b = 0; b < spec.batch; b++)
    for (let t = 0; t < length; t++) data[b * length + t] = BigInt(row[t]!);
  return { type: 'int64', dims: [spec.batch, length], data };
}

function ones(batch: number, length: number): TensorValue {
  return { type: 'int64', dims: [batch, length], data: new BigInt64Array(batch * length).fill(1n) };
}

/** Feeds for a prefill of `length` tokens with empty pasts (when the model has them). */
function prefillFeeds(session: Session, spec: WorkloadSpec, length: number): Record<string, TensorValue> {
  const layout = kvLayout(session.inputs, session.outputs);
  const feeds: Record<string, TensorValue> = {};
  for (const input of session.inputs) {
    if (/input_ids/.test(input.name)) feeds[input.name] = ids(spec, length);
    else if (/attention_mask/.test(input.name)) feeds[input.name] = ones(spec.batch, length);
    else if (/position_ids/.test(input.name)) {
      const data = new BigInt64Array(spec.batch * length);
      for (let i = 0; i < data.length; i++) data[i] = BigInt(i % length);
      feeds[input.name] = { type: 'int64', dims: [spec.batch, length], data };
    } else if (layout?.pastToPresent.has(input.name)) {
      const dims = input.shape.map((d, axis) =>
        typeof d === 'number' ? d : axis === 0 ? spec.batch : /past|seq|len/i.test(d) ? 0 : 1,
      );
      feeds[input.name] = { type: 'float32', dims, data: new Float32Array(0) };
    } else {
      Object.assign(feeds, synthesizeInputs([input], { dims: { batch: spec.batch, ...spec.dims } }));
    }
  }
  return feeds;
}

/**
 * The feeds of one timed run. For decode, a prefill of `sequenceLength` tokens runs first and its presents become
 * the pasts of a one-token step, so every timed run is the same step at the same cache length.
 */
export async function workloadFeeds(
  session: Session,
  spec: WorkloadSpec,
): Promise<Record<string, TensorValue>> {
  if (spec.kind === 'generic') {
    return synthesizeInputs(session.inputs, { dims: { batch: spec.batch, ...spec.dims }, defaultDim: 1 });
  }
  if (spec.kind === 'prefill') return prefillFeeds(session, spec, spec.sequenceLength);
  const layout = kvLayout(session.inputs, session.outputs)!;
  const prefill = await session.run(prefillFeeds(session, spec, spec.sequenceLength));
  const step: Record<string, TensorValue> = {};
  for (const input of session.inputs) {
    if (input.name === layout.ids)
      step[input.name] = ids({ ...spec, tokens: [tokenRow(spec, spec.sequenceLength + 1).at(-1)!] }, 1);
    else if (input.name === layout.mask) step[input.name] = ones(spec.batch, spec.sequenceLength + 1);
    else if (input.name === layout.positions) {
      step[input.name] = {
        type: 'int64',
        dims: [spec.batch, 1],
        data: new BigInt64Array(spec.batch).fill(BigInt(spec.sequenceLength)),
      };
    } else if (layout.pastToPresent.has(input.name))
      step[input.name] = prefill[layout.pastToPresent.get(input.name)!]!;
  }
  return step;
}

/** Tokens processed by one run of the workload (for tokens/s). */
export function tokensPerRun(spec: WorkloadSpec): number {
  if (spec.kind === 'prefill') return spec.batch * spec.sequenceLength;
  if (spec.kind === 'decode') return spec.batch;
  return 0;
}
