/**
 * Fidelity check: run the original and the compressed model in onnxruntime on the same inputs and compare. It runs
 * in a child process (src/workers), so a crash or the memory of two sessions stays out of the caller.
 */
import { ConfigurationError } from '../errors.ts';
import { type EvalRecord, readEvalData } from '../evaluate/eval-data.ts';
import { evalFeeds } from '../evaluate/feeds.ts';
import { tokenInputs } from '../evaluate/lm-inputs.ts';
import {
  agreement,
  classifierAccuracy,
  type LanguageModelQuality,
  languageModelQuality,
  pooledLanguageModelQuality,
} from '../evaluate/metrics.ts';
import { floatData } from '../inference/float-data.ts';
import { createSession, type IoInfo, type Session, type TensorValue } from '../inference/session.ts';
import { synthesizeInputs } from '../inference/synthesize.ts';
import type { GraphProto } from '../onnx/proto.ts';
import { readModel } from '../onnx/read.ts';
import { runInChild } from '../workers/spawn.ts';
import { intAttr, shapeOf } from './graph.ts';

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
  /** Bounds of synthesized token ids per input (see `gatherTableRows`); read from the reference when absent. */
  intHighOf?: Record<string, number>;
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
  /** Values of the compared output that are NaN or ±Inf, in the reference's runs and the candidate's. */
  nonFinite: { reference: number; candidate: number };
  metric?: { name: 'perplexity' | 'accuracy'; value: number; reference: number };
}

/** Runs every feed; with eval records, a failure names the record's line. */
async function runAll(
  session: Session,
  feeds: Record<string, TensorValue>[],
  records: EvalRecord[] | undefined,
  subject: string | undefined,
): Promise<Record<string, TensorValue>[]> {
  const out = [];
  for (const [i, f] of feeds.entries()) {
    try {
      out.push(await session.run(f));
    } catch (error) {
      const record = records?.[i];
      if (!record || error instanceof ConfigurationError) throw error;
      throw new ConfigurationError(
        `line ${record.line}: the model cannot run on this line (${(error as Error).message.split('\n')[0]})`,
        {
          subject,
          fix: "Make each line fit the model's inputs: token ids inside its vocabulary, no longer than its context",
        },
      );
    }
  }
  return out;
}

function concat(values: TensorValue[]): Float32Array {
  const parts = values.map(floatData);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * The output that holds a language model's next-token logits, [batch, length, vocab] over every position: the one
 * named like logits, else the first float output when every eval token is inside its last dim (an encoder's hidden
 * states are not logits). None when the logits cover only the last position.
 */
function logitsOutput(
  outputs: readonly IoInfo[],
  first: Record<string, TensorValue>,
  records: EvalRecord[],
): string | undefined {
  const fits = (name: string) => {
    const dims = first[name]?.dims;
    const record = records[0];
    return dims?.length === 3 && record?.kind === 'tokens' && dims[1] === record.inputIds.length;
  };
  const named = outputs.find((o) => /logits/i.test(o.name));
  if (named) return fits(named.name) ? named.name : undefined;
  const candidate = outputs.find((o) => o.type === 'float32' || o.type === 'float16');
  if (!candidate || !fits(candidate.name)) return undefined;
  let maxId = 0;
  for (const r of records) if (r.kind === 'tokens') for (const id of r.inputIds) maxId = Math.max(maxId, id);
  return maxId < first[candidate.name]!.dims[2]! ? candidate.name : undefined;
}

/** Perplexity over every record, each with its own length (vocab checked against each token). */
function perplexity(
  outputs: Record<string, TensorValue>[],
  name: string,
  records: EvalRecord[],
  subject: string,
): number {
  const parts: LanguageModelQuality[] = [];
  outputs.forEach((out, i) => {
    const record = records[i]!;
    const ids = record.kind === 'tokens' ? record.inputIds : [];
    const logits = out[name]!;
    const vocab = logits.dims[logits.dims.length - 1]!;
    const outside = ids.find((id) => id >= vocab);
    if (outside !== undefined) {
      throw new ConfigurationError(
        `line ${record.line}, field "input_ids": token id ${outside} is outside the model's vocabulary of ${vocab}`,
        { subject, fix: "Tokenize the eval data with the model's own tokenizer" },
      );
    }
    if (ids.length >= 2) parts.push(languageModelQuality(floatData(logits), logits.dims, [ids]));
  });
  if (parts.length === 0) {
    throw new ConfigurationError('no line has two or more tokens, so no next token can be scored', {
      subject,
      fix: 'Give lines of at least two token ids',
    });
  }
  return pooledLanguageModelQuality(parts).perplexity;
}

/**
 * For each graph input that indexes a Gather table held in an initializer (token ids into an embedding), the
 * table's rows: synthesized ids then cover the whole table, not just rows 0 and 1.
 */
export function gatherTableRows(graph: GraphProto | null | undefined): Record<string, number> {
  const rows: Record<string, number> = {};
  if (!graph) return rows;
  const inputs = new Set(graph.input.map((i) => i.name));
  const tables = new Map(graph.initializer.map((t) => [t.name, t]));
  for (const node of graph.node) {
    const [data, indices] = node.input;
    const table = node.opType === 'Gather' && data ? tables.get(data) : undefined;
    if (!table || !indices || !inputs.has(indices) || intAttr(node, 'axis', 0) !== 0) continue;
    const count = shapeOf(table)[0] ?? 0;
    if (count > 0) rows[indices] = Math.min(rows[indices] ?? count, count);
  }
  return rows;
}

/** `gatherTableRows` of a model file. */
export function tableRows(modelPath: string): Record<string, number> {
  return gatherTableRows(readModel(modelPath).proto.graph);
}

/** Measures in this process. */
export async function measureFidelity(spec: FidelitySpec): Promise<FidelityMeasurement> {
  const reference = await createSession(spec.reference, { intraOpThreads: spec.threads });
  const candidate = await createSession(spec.candidate, { intraOpThreads: spec.threads });
  try {
    const records = spec.evalData ? readEvalData(spec.evalData).slice(0, spec.samples) : undefined;
    // A classifier line ({"input": […]}) for a model of token ids; lines naming every input ({"inputs": {…}}) run.
    const first = records?.[0];
    if (first?.kind === 'tensor' && '' in first.inputs && tokenInputs(reference.inputs)) {
      throw new ConfigurationError(
        `line ${first.line} is a classifier line ({"input": …}), but the model takes token ids ("${tokenInputs(reference.inputs)!.ids}")`,
        { subject: spec.evalData, fix: 'Give a language model lines of {"input_ids": [...]}' },
      );
    }
    const feeds: Record<string, TensorValue>[] = [];
    if (records) {
      // A model that fixes its batch (a leading dim of 3, say) takes that many lines per run.
      const lead = reference.inputs.find((i) => i.shape.length > 1)?.shape[0];
      const batch = typeof lead === 'number' && lead > 1 && first?.kind === 'tensor' ? lead : BATCH;
      if (records.length % batch !== 0) {
        throw new ConfigurationError(
          `holds ${records.length} lines, and the model fixes its batch at ${batch}: it runs ${batch} lines at a time`,
          {
            subject: spec.evalData,
            fix: `Give a multiple of ${batch} lines, or export the model with a symbolic batch dim`,
          },
        );
      }
      for (let i = 0; i < records.length; i += batch) {
        feeds.push(
          evalFeeds(reference.inputs, records.slice(i, i + batch), spec.evalData!, reference.outputs),
        );
      }
    } else {
      const intHighOf = spec.intHighOf ?? tableRows(spec.reference);
      for (let i = 0; i < spec.samples; i++)
        feeds.push(synthesizeInputs(reference.inputs, { seed: i + 1, dims: { seq: 16 }, intHighOf }));
    }
    const a = await runAll(reference, feeds, records, spec.evalData);
    const candidateRuns = await runAll(candidate, feeds, records, spec.evalData);
    const floatOutputs = reference.outputs.filter((o) => o.type === 'float32' || o.type === 'float16');
    const primary = floatOutputs[0] ?? reference.outputs[0]!;
    // A baseline may name its outputs differently (bench checked that both arms take the same inputs, not that they
    // call their outputs alike): the candidate's outputs are read under the reference's names, by name where they
    // match, else by place.
    const b = candidateRuns.map((r) =>
      Object.fromEntries(
        reference.outputs.flatMap((o, i) => {
          const value = r[o.name] ?? r[candidate.outputs[i]?.name ?? ''];
          return value ? [[o.name, value]] : [];
        }),
      ),
    );
    if (!b[0]?.[primary.name]) {
      throw new ConfigurationError(
        `the reference's output "${primary.name}" has no counterpart among the compared model's outputs (${candidate.outputs.map((o) => o.name).join(', ')})`,
        { subject: spec.candidate, fix: 'Compare models that give the same outputs' },
      );
    }
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
      nonFinite: { reference: countNonFinite(refValues), candidate: countNonFinite(candValues) },
    };
    const logits =
      records?.[0]?.kind === 'tokens' ? logitsOutput(reference.outputs, a[0]!, records) : undefined;
    if (records && logits) {
      result.metric = {
        name: 'perplexity',
        value: perplexity(b, logits, records, spec.evalData!),
        reference: perplexity(a, logits, records, spec.evalData!),
      };
    } else if (records?.some((r) => r.kind === 'tensor' && r.label !== undefined)) {
      const unlabelled = records.find((r) => r.kind !== 'tensor' || r.label === undefined);
      if (unlabelled) {
        throw new ConfigurationError(
          `line ${unlabelled.line} has no "label" where other lines have one: accuracy needs a label on every line`,
          { subject: spec.evalData, fix: 'Label every line (an integer class index), or none' },
        );
      }
      const labels = records.map((r) => (r.kind === 'tensor' ? r.label! : 0));
      const outside = records.find((r) => r.kind === 'tensor' && (r.label! < 0 || r.label! >= width));
      if (outside?.kind === 'tensor') {
        throw new ConfigurationError(
          `line ${outside.line}, field "label": class ${outside.label} where the model's output "${primary.name}" has ${width} classes (0 to ${width - 1})`,
          { subject: spec.evalData, fix: "Number the labels as the model's output classes" },
        );
      }
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

function countNonFinite(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) n += 1;
  return n;
}

/** Runs `measureFidelity` in a child process of the same entry script. */
export function measureFidelityInChild(spec: FidelitySpec): Promise<FidelityMeasurement> {
  return runInChild<FidelityMeasurement>('fidelity', spec);
}
