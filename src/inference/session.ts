/** Our `Session` over onnxruntime-node: thread control, optimization level, spinning off, per-node profiling. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.ts';
import { loadOnnxRuntime } from './ort.ts';

export type ElementType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

export type TensorData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A tensor as our code passes it around: plain typed data, no onnxruntime object. */
export interface TensorValue {
  type: ElementType;
  dims: number[];
  data: TensorData;
}

export interface IoInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  /** Numbers for fixed dims, strings for symbolic ones; empty when the shape is unknown. */
  shape: (number | string)[];
}

export type GraphOptimization = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** Intra-op threads; default SLMOPS_THREADS or 1. */
  intraOpThreads?: number;
  /** Inter-op threads; default 1. */
  interOpThreads?: number;
  graphOptimization?: GraphOptimization;
  /** Let idle threads spin (off by default: spinning steals the CPU from the other arm of a comparison). */
  allowSpinning?: boolean;
  /** Record onnxruntime's per-node profile; read it with `endProfiling()`. */
  profiling?: boolean;
  /** Values for symbolic dims, applied at session creation. */
  freeDimensions?: Record<string, number>;
}

/** One event of onnxruntime's profile (Chrome trace format). */
export interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  ts: number;
  args?: Record<string, unknown>;
}

export interface Session {
  readonly inputs: readonly IoInfo[];
  readonly outputs: readonly IoInfo[];
  run(
    feeds: Record<string, TensorValue>,
    outputNames?: readonly string[],
  ): Promise<Record<string, TensorValue>>;
  /** Stops profiling and returns the events recorded since the session began (empty when profiling was off). */
  endProfiling(): ProfileEvent[];
  release(): Promise<void>;
}

export function defaultThreads(): number {
  const env = Number(process.env.SLMOPS_THREADS);
  return Number.isInteger(env) && env > 0 ? env : 1;
}

function ioInfo(meta: {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}): IoInfo {
  return {
    name: meta.name,
    isTensor: meta.isTensor,
    ...(meta.type ? { type: meta.type } : {}),
    shape: [...(meta.shape ?? [])],
  };
}

/** Opens a model (path or bytes) in onnxruntime-node with our defaults. */
export async function createSession(
  model: string | Uint8Array,
  options: SessionOptions = {},
): Promise<Session> {
  const ort = await loadOnnxRuntime();
  const profileDir = options.profiling ? mkdtempSync(join(tmpdir(), 'slmops-profile-')) : undefined;
  const spin = options.allowSpinning ? '1' : '0';
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    const sessionOptions = {
      intraOpNumThreads: options.intraOpThreads ?? defaultThreads(),
      interOpNumThreads: options.interOpThreads ?? 1,
      graphOptimizationLevel: options.graphOptimization ?? 'all',
      executionMode: 'sequential' as const,
      logSeverityLevel: 3 as const,
      extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
      ...(options.freeDimensions ? { freeDimensionOverrides: options.freeDimensions } : {}),
      ...(profileDir ? { enableProfiling: true, profileFilePrefix: join(profileDir, 'profile') } : {}),
    };
    session =
      typeof model === 'string'
        ? await ort.InferenceSession.create(model, sessionOptions)
        : await ort.InferenceSession.create(model, sessionOptions);
  } catch (error) {
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    const message = error instanceof Error ? error.message : String(error);
    throw new ConfigurationError(`onnxruntime could not load the model: ${message.split('\n')[0]}`, {
      subject: typeof model === 'string' ? model : 'model',
      fix: 'Check that the model is valid for onnxruntime (opset, operators, IR version ≤ 13)',
      cause: error,
    });
  }
  const inputs = session.inputMetadata.map(ioInfo);
  const outputs = session.outputMetadata.map(ioInfo);
  let profiling = Boolean(profileDir);
  return {
    inputs,
    outputs,
    async run(feeds, outputNames) {
      const ortFeeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const [name, value] of Object.entries(feeds)) {
        ortFeeds[name] = new ort.Tensor(value.type, value.data as never, value.dims);
      }
      const results = outputNames
        ? await session.run(ortFeeds, outputNames as string[])
        : await session.run(ortFeeds);
      const out: Record<string, TensorValue> = {};
      for (const [name, tensor] of Object.entries(results)) {
        out[name] = {
          type: tensor.type as ElementType,
          dims: [...tensor.dims],
          data: tensor.data as TensorData,
        };
      }
      return out;
    },
    endProfiling() {
      if (!profiling || !profileDir) return [];
      profiling = false;
      session.endProfiling();
      const file = readdirSync(profileDir).find((name) => name.endsWith('.json'));
      const events = file ? (JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as ProfileEvent[]) : [];
      rmSync(profileDir, { recursive: true, force: true });
      return events;
    },
    async release() {
      await session.release();
      if (profileDir) rmSync(profileDir, { recursive: true, force: true });
    },
  };
}
