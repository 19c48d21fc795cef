/**
 * A KV-cache decode loop for decoder models exported with `past_key_values.*` inputs and `present.*` outputs:
 * prefill the prompt with empty pasts, then feed one token at a time with the previous presents as pasts.
 */
import { performance } from 'node:perf_hooks';
import { ConfigurationError } from '../errors.ts';
import type { IoInfo, Session, TensorValue } from '../inference/session.ts';
import { isPastInput } from './feeds.ts';

export interface KvLayout {
  ids: string;
  mask?: string;
  positions?: string;
  /** past input name → the present output that feeds it on the next step. */
  pastToPresent: Map<string, string>;
  logits: string;
}

/** Pairs `past_key_values.0.key` with `present.0.key` (and the `past.*`/`present.*` variants). */
export function kvLayout(inputs: readonly IoInfo[], outputs: readonly IoInfo[]): KvLayout | undefined {
  const pasts = inputs.filter((i) => isPastInput(i.name));
  if (pasts.length === 0) return undefined;
  const outputNames = outputs.map((o) => o.name);
  const pastToPresent = new Map<string, string>();
  for (const past of pasts) {
    const suffix = past.name.replace(/^past_key_values|^past/, '');
    const present = outputNames.find(
      (o) => /^present/.test(o) && o.replace(/^present(_key_values)?/, '') === suffix,
    );
    if (!present) return undefined;
    pastToPresent.set(past.name, present);
  }
  const ids = inputs.find((i) => /input_ids/.test(i.name))?.name;
  const logits = outputs.find((o) => /logits/.test(o.name))?.name ?? outputs[0]?.name;
  if (!ids || !logits) return undefined;
  const mask = inputs.find((i) => /attention_mask/.test(i.name))?.name;
  const positions = inputs.find((i) => /position_ids/.test(i.name))?.name;
  return { ids, logits, pastToPresent, ...(mask ? { mask } : {}), ...(positions ? { positions } : {}) };
}

function int64(values: number[], dims: number[]): TensorValue {
  return { type: 'int64', dims, data: BigInt64Array.from(values, (v) => BigInt(v)) };
}

function emptyPast(info: IoInfo): TensorValue {
  const dims = info.shape.map((d, axis) =>
    typeof d === 'number' ? d : axis === 0 ? 1 : /past|seq|len/i.test(d) ? 0 : 1,
  );
  return { type: 'float32', dims, data: new Float32Array(0) };
}

export interface DecodeRun {
  /** Logits of the last prompt position, then of each decoded token: [steps + 1][vocab]. */
  stepLogits: Float32Array[];
  tokens: number[];
  /** Sequence length of the final presents. */
  cacheLength: number;
  /** Wall time of each step in ms (feeds, run, pick), the prefill first: [steps + 1]. */
  stepMs: number[];
}

/** Greedy decode of `steps` tokens after `prompt`, one session.run per token, batch 1. */
export async function greedyDecode(session: Session, prompt: number[], steps: number): Promise<DecodeRun> {
  const layout = kvLayout(session.inputs, session.outputs);
  if (!layout) {
    throw new ConfigurationError('the model has no KV-cache inputs (past_key_values.* / present.*)', {
      fix: 'Decode loops need a decoder exported with past key values',
    });
  }
  let pasts = new Map<string, TensorValue>();
  for (const input of session.inputs)
    if (layout.pastToPresent.has(input.name)) pasts.set(input.name, emptyPast(input));
  const stepLogits: Float32Array[] = [];
  const tokens: number[] = [];
  let fed = prompt;
  let past = 0;
  let cacheLength = 0;
  const stepMs: number[] = [];
  for (let step = 0; step <= steps; step++) {
    const started = performance.now();
    const feeds: Record<string, TensorValue> = {
      [layout.ids]: int64(fed, [1, fed.length]),
      ...Object.fromEntries(pasts),
    };
    if (layout.mask) feeds[layout.mask] = int64(new Array(past + fed.length).fill(1), [1, past + fed.length]);
    if (layout.positions)
      feeds[layout.positions] = int64(
        fed.map((_, i) => past + i),
        [1, fed.length],
      );
    const out = await session.run(feeds);
    const logits = out[layout.logits]!;
    const vocab = logits.dims[logits.dims.length - 1]!;
    const data = logits.data as Float32Array;
    const last = data.slice(data.length - vocab);
    stepLogits.push(last);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (last[v]! > last[best]!) best = v;
    tokens.push(best);
    past += fed.length;
    fed = [best];
    const next = new Map<string, TensorValue>();
    for (const [pastName, presentName] of layout.pastToPresent) {
      const present = out[presentName]!;
      next.set(pastName, present);
      cacheLength = present.dims[present.dims.length - 2] ?? 0;
    }
    pasts = next;
    stepMs.push(performance.now() - started);
  }
  return { stepLogits, tokens: tokens.slice(0, steps), cacheLength, stepMs };
}
