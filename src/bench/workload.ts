/**
 * What a benchmark runs: a generic model on synthesized inputs, a language model's prefill at sequence length N,
 * or one decode step of a KV-cache decoder with N tokens already in the cache.
 */
import { ConfigurationError } from '../errors.ts';
import { kvLayout, stepFeeds, tokenInputs } from '../evaluate/lm-inputs.ts';
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

function isLanguageModel(inputs: readonly IoInfo[]): boolean {
  return tokenInputs(inputs) !== undefined;
}

/** `auto` → decode for KV-cache decoders, prefill for other language models, generic otherwise. */
export function chooseWorkload(
  inputs: readonly IoInfo[],
  outputs: readonly IoInfo[],
  requested: WorkloadKind | 'auto',
): WorkloadKind {
  if (requested === 'decode' && !kvLayout(inputs, outputs)) {
    throw new ConfigurationError(
      'the decode workload needs a KV-cache decoder (past_key_values.* inputs, each with a present.* output), and this model has none',
      { fix: `Bench it with --workload ${isLanguageModel(inputs) ? 'prefill' : 'generic'} (or auto)` },
    );
  }
  if (requested === 'prefill' && !isLanguageModel(inputs)) {
    throw new ConfigurationError('the prefill workload needs a language model (an "input_ids" input)', {
      fix: 'Bench it with --workload generic (or auto)',
    });
  }
  if (requested !== 'auto') return requested;
  if (kvLayout(inputs, outputs)) return 'decode';
  return isLanguageModel(inputs) ? 'prefill' : 'generic';
}

function tokenRow(spec: WorkloadSpec, length: number): number[] {
  const source = spec.tokens?.length ? spec.tokens : [0, 1];
  return Array.from({ length }, (_, i) => source[i % source.length]!);
}

function rows(spec: WorkloadSpec, row: number[]): number[][] {
  return Array.from({ length: spec.batch }, () => row);
}

/** Feeds for `spec` with `past` tokens cached (pasts from `pasts`, else empty); other inputs synthesized. */
function lmFeeds(
  session: Session,
  spec: WorkloadSpec,
  row: number[],
  past: number,
  pasts?: ReadonlyMap<string, TensorValue>,
): Record<string, TensorValue> {
  return stepFeeds(
    session.inputs,
    session.outputs,
    { rows: rows(spec, row), past },
    {
      dims: spec.dims,
      ...(pasts ? { pasts } : {}),
      other: (input) => synthesizeInputs([input], { dims: { batch: spec.batch, ...spec.dims } })[input.name]!,
    },
  );
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
  const prompt = tokenRow(spec, spec.sequenceLength + 1);
  if (spec.kind === 'prefill') return lmFeeds(session, spec, prompt.slice(0, -1), 0);
  const layout = kvLayout(session.inputs, session.outputs);
  if (!layout)
    throw new ConfigurationError('the decode workload needs a KV-cache decoder, and this model has none');
  const prefill = await session.run(lmFeeds(session, spec, prompt.slice(0, -1), 0));
  const pasts = new Map([...layout.pastToPresent].map(([past, present]) => [past, prefill[present]!]));
  return lmFeeds(session, spec, prompt.slice(-1), spec.sequenceLength, pasts);
}

/** Tokens processed by one run of the workload (for tokens/s). */
export function tokensPerRun(spec: WorkloadSpec): number {
  if (spec.kind === 'prefill') return spec.batch * spec.sequenceLength;
  if (spec.kind === 'decode') return spec.batch;
  return 0;
}
