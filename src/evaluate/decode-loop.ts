/**
 * A KV-cache decode loop for decoder models exported with `past_key_values.*` inputs and `present.*` outputs:
 * prefill the prompt with empty pasts, then feed one token at a time with the previous presents as pasts.
 */
import { performance } from 'node:perf_hooks';
import { ConfigurationError } from '../errors.ts';
import { floatData } from '../inference/float-data.ts';
import type { Session, TensorValue } from '../inference/session.ts';
import { kvLayout, stepFeeds } from './lm-inputs.ts';

export interface DecodeRun {
  /** Logits of the last prompt position, then of each decoded token: [steps + 1][vocab]. */
  stepLogits: Float32Array[];
  tokens: number[];
  /** Tokens in the final presents. */
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
  let pasts: Map<string, TensorValue> = new Map();
  const stepLogits: Float32Array[] = [];
  const tokens: number[] = [];
  let fed = prompt;
  let past = 0;
  const stepMs: number[] = [];
  for (let step = 0; step <= steps; step++) {
    const started = performance.now();
    const out = await session.run(
      stepFeeds(session.inputs, session.outputs, { rows: [fed], past }, { pasts, layout }),
    );
    const logits = out[layout.logits]!;
    const vocab = logits.dims[logits.dims.length - 1]!;
    const data = floatData(logits);
    const last = data.slice(data.length - vocab);
    stepLogits.push(last);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (last[v]! > last[best]!) best = v;
    tokens.push(best);
    past += fed.length;
    fed = [best];
    pasts = new Map(
      [...layout.pastToPresent].map(([pastName, presentName]) => [pastName, out[presentName]!]),
    );
    stepMs.push(performance.now() - started);
  }
  return { stepLogits, tokens: tokens.slice(0, steps), cacheLength: past, stepMs };
}
