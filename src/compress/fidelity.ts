/**
 * Fidelity check: run the original and the compressed model in onnxruntime on the same inputs and compare. It runs
 * in a child process (src/workers), so a crash or the memory of two sessions stays out of the caller.
 */
import { readEvalData } from '../evaluate/eval-data.ts';
import { evalFeeds } from '../evaluate/feeds.ts';
import { agreement, classifierAccuracy, languageModelQuality } from '../evaluate/metrics.ts';
import { createSession, type Session, type TensorValue } from '../inference/session.ts';
import { synthesizeInputs } from '../inference/synthesize.ts';
import { runInChild } from '../workers/spawn.ts';

/**
 * Eval records per onnxruntime call: one, as a device runs them. Batching changes int8 dynamic variants' results
 * (one activation scale per call), so quality measured in batches would not be the quality users get.
 */
const BATCH = 1;

export interface FidelitySpec {
  reference: string;
  candidate: string;
  evalData?: string;
  /** How many eval records (all of them by default) or synthesized inputs to run. */
  samples: number;
  threads: number;
}

export interface FidelityMeasurement {
  samples: number;
  output: string;
  maxAbsDiff: number;
  cosine: number;
  top1Agreement: number;
  klDivergence: number;
  /** Float outputs other than the first whose dtype changed (should never happen). */
  dtypeChanges: string[];
  metric?: { name: 'perplexity' | 'accuracy'; value: number; reference: number };
}

async function runAll(
  session: Session,
  feeds: Record<string, TensorValue>[],
): Promise<Record<string, TensorValue>[]> {
  const out = [];
  for (const f of feeds) out.push(await session.run(f));
  return out;
}

function concat(values: TensorValue[]): Float32Array {
  const total = values.reduce((n, v) => n + v.data.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const v of values) {
    out.set(v.data as Float32Array, offset);
    offset += v.data.length;
  }
  return out;
}

/** Measures in this process. */
export async function measureFidelity(spec: FidelitySpec): Promise<FidelityMeasurement> {
  const reference = await createSession(spec.reference, { intraOpThreads: spec.threads });
  const candidate = await createSession(spec.candidate, { intraOpThreads: spec.threads });
  try {
    const records = spec.evalData ? readEvalData(spec.evalData).slice(0, spec.samples) : undefined;
    const feeds: Record<string, TensorValue>[] = [];
    if (records) {
      for (let i = 0; i < records.length; i += BATCH) {
        feeds.push(evalFeeds(reference.inputs, records.slice(i, i + BATCH), spec.evalData!));
      }
    } else {
      for (let i = 0; i < spec.samples; i++)
        feeds.push(synthesizeInputs(reference.inputs, { seed: i + 1, dims: { seq: 16 } }));
    }
    const [a, b] = [await runAll(reference, feeds), await runAll(candidate, feeds)];
    const floatOutputs = reference.outputs.filter((o) => o.type === 'float32' || o.type === 'float16');
    const primary = floatOutputs[0] ?? reference.outputs[0]!;
    const refValues = concat(a.map((r) => r[primary.name]!));
    const candValues = concat(b.map((r) => r[primary.name]!));
    const dims = a[0]![primary.name]!.dims;
    const width = dims[dims.length - 1] ?? 1;
    const agree = agreement(refValues, candValues, width);
    const dtypeChanges = Object.keys(a[0]!).filter((name) => a[0]![name]!.type !== b[0]![name]?.type);
    const result: FidelityMeasurement = {
      samples: records ? records.length : spec.samples,
      output: primary.name,
      maxAbsDiff: agree.maxAbsDiff,
      cosine: agree.cosine,
      top1Agreement: agree.top1Agreement,
      klDivergence: agree.klDivergence,
      dtypeChanges,
    };
    if (records && records[0]?.kind === 'tokens' && dims.length === 3) {
      const rows = records.map((r) => (r.kind === 'tokens' ? r.inputIds : []));
      result.metric = {
        name: 'perplexity',
        value: languageModelQuality(candValues, [records.length, ...dims.slice(1)], rows).perplexity,
        reference: languageModelQuality(refValues, [records.length, ...dims.slice(1)], rows).perplexity,
      };
    } else if (records?.every((r) => r.kind === 'tensor' && r.label !== undefined)) {
      const labels = records.map((r) => (r.kind === 'tensor' ? r.label! : 0));
      result.metric = {
        name: 'accuracy',
        value: classifierAccuracy(candValues, width, labels).accuracy,
        reference: classifierAccuracy(refValues, width, labels).accuracy,
      };
    }
    return result;
  } finally {
    await reference.release();
    await candidate.release();
  }
}

/** Runs `measureFidelity` in a child process of the same entry script. */
export function measureFidelityInChild(spec: FidelitySpec): Promise<FidelityMeasurement> {
  return runInChild<FidelityMeasurement>('fidelity', spec);
}
