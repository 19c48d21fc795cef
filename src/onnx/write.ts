/**
 * Writing models: one `.onnx` file, or `.onnx` + one external data file (required above protobuf's 2 GB limit).
 * Files are written to temporary names and renamed into place, so a failure leaves nothing half-written; the source
 * model is never modified (its tensors are re-pointed only while encoding, then restored).
 *
 * A `DataFileWriter` lets a producer (a compression pass) write large tensors into the output's data file as it
 * makes them, so they need not all stay in memory until the model is written; `writeModel` then appends the rest
 * to the same file. Both hash what they write, so the digests come without reading the files back.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigurationError } from '../errors.ts';
import { DataType } from './dtypes.ts';
import { type ExternalRef, resolveInside } from './external-data.ts';
import type { OnnxModel } from './model.ts';
import { DataLocation, encodeModelProto, type TensorProto } from './proto.ts';
import { tensorByteLength, tensorStorage } from './tensor.ts';
import { forEachTensor } from './walk.ts';

/** protobuf refuses messages of 2 GiB or more; stay clear of it. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 2 ** 26;

export interface WriteModelOptions {
  /**
   * `true`: tensors of `threshold` bytes or more go to an external data file; `false`: everything in the `.onnx`
   * file; `'auto'` (default): external when the source had external data or the model would pass protobuf's limit.
   */
  externalData?: boolean | 'auto';
  /** Data file name, relative to the output's folder. Default `<output file name>.data`. */
  location?: string;
  /** Smallest tensor (bytes) moved to external data. Default 1024, as the onnx package does. */
  threshold?: number;
  /** With `'auto'`: the tensor bytes above which external data is used. Default just under protobuf's 2 GB limit. */
  inlineLimitBytes?: number;
  /**
   * The data file, already holding the tensors placed in it (see `DataFileWriter`): the rest are appended, and it
   * is finished (renamed into place) with the model. Implies external data, at the writer's location.
   */
  dataFile?: DataFileWriter;
}

export interface WrittenModel {
  path: string;
  bytes: number;
  /** sha256 of the `.onnx` file (hex). */
  sha256: string;
  dataFile?: WrittenDataFile;
}

export interface WrittenDataFile {
  path: string;
  location: string;
  bytes: number;
  sha256: string;
}

const COPY_CHUNK = 8 * 2 ** 20;

function alignmentFor(bytes: number): number {
  return bytes >= 64 * 1024 ? 4096 : 16;
}

interface SavedFields {
  tensor: TensorProto;
  rawData: Uint8Array;
  externalData: TensorProto['externalData'];
  dataLocation: number;
  floatData: number[];
  int32Data: number[];
  int64Data: TensorProto['int64Data'];
  doubleData: number[];
  uint64Data: TensorProto['uint64Data'];
}

function save(tensor: TensorProto): SavedFields {
  const { rawData, externalData, dataLocation, floatData, int32Data, int64Data, doubleData, uint64Data } =
    tensor;
  return {
    tensor,
    rawData,
    externalData,
    dataLocation,
    floatData,
    int32Data,
    int64Data,
    doubleData,
    uint64Data,
  };
}

function restore(saved: SavedFields): void {
  const { tensor, ...fields } = saved;
  Object.assign(tensor, fields);
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

function tempName(path: string): string {
  return `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

const ZEROS = new Uint8Array(4096);

export interface DataFileWriterOptions {
  /** Smaller tensors are left inline by `place` (default 1024, as `writeModel`). */
  threshold?: number;
}

/**
 * An external data file being written: tensors are appended at aligned offsets (4096 bytes for tensors of 64 KiB
 * or more, else 16, as `writeModel` lays them out), under a temporary name until `finish` renames it to `path`.
 * `discard` (or a failed `writeModel`) removes it.
 */
export class DataFileWriter {
  readonly tempPath: string;
  readonly threshold: number;
  private fd: number | undefined;
  private size = 0;
  private readonly hash: Hash = createHash('sha256');
  /** References to placed tensors (pointing at the temporary file until `finish`). */
  private readonly placed = new Set<ExternalRef>();
  /** `placeExternal` is under way (between its chunks, nothing else may append). */
  private copyingAsync = false;

  /** `path`: the data file; `location`: how the model names it (relative to the model's folder). */
  constructor(
    readonly path: string,
    readonly location: string,
    options: DataFileWriterOptions = {},
  ) {
    this.threshold = options.threshold ?? 1024;
    this.tempPath = tempName(path);
    this.fd = openSync(this.tempPath, 'w');
  }

  get bytes(): number {
    return this.size;
  }

  /** Whether `ref` points into this file. */
  holds(ref: ExternalRef | undefined): boolean {
    return ref !== undefined && this.placed.has(ref);
  }

  /** Reserves the next aligned offset for `length` bytes (padding with zeros). */
  private next(length: number): number {
    const align = alignmentFor(length);
    const offset = Math.ceil(this.size / align) * align;
    for (let at = this.size; at < offset; at += ZEROS.length)
      this.hash.update(ZEROS.subarray(0, Math.min(ZEROS.length, offset - at)));
    this.size = offset;
    return offset;
  }

  /** Appends bytes that belong together (one tensor's, possibly in several calls, after `next`). */
  private write(bytes: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`data file ${this.path} is already closed`);
    writeAll(this.fd, bytes, this.size);
    this.hash.update(bytes);
    this.size += bytes.length;
  }

  private ready(): void {
    if (this.copyingAsync) throw new Error(`data file ${this.path} is being written by placeExternal`);
  }

  /** Appends `bytes` at the next aligned offset; returns the offset. */
  append(bytes: Uint8Array): number {
    this.ready();
    const offset = this.next(bytes.length);
    this.write(bytes);
    return offset;
  }

  /** Appends `length` bytes copied from another file (in chunks); returns the offset. */
  appendFrom(ref: ExternalRef, tensorName: string): number {
    this.ready();
    const copy = this.copying(ref, tensorName);
    for (let step = copy.next(); ; step = copy.next()) if (step.done) return step.value;
  }

  /** `appendFrom`, one chunk per step (so an asynchronous caller can let other work run in between). */
  private *copying(ref: ExternalRef, tensorName: string): Generator<void, number> {
    const offset = this.next(ref.length);
    const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK, ref.length));
    const src = openSync(ref.file, 'r');
    try {
      for (let done = 0; done < ref.length; ) {
        const n = readSync(src, chunk, 0, Math.min(chunk.length, ref.length - done), ref.offset + done);
        if (n === 0)
          throw new ConfigurationError(`external data of "${tensorName}" ended early`, { subject: ref.file });
        this.write(chunk.subarray(0, n));
        done += n;
        yield;
      }
    } finally {
      closeSync(src);
    }
    return offset;
  }

  /**
   * Moves a tensor's values (raw_data) into this file, now, and points the tensor at them (`model` reads them back
   * from here). Tensors below the threshold, or holding strings, stay as they are.
   */
  place(model: OnnxModel, tensor: TensorProto): void {
    const length = tensorByteLength(tensor);
    if (tensor.dataType === DataType.STRING || length < this.threshold || tensorStorage(tensor) !== 'raw')
      return;
    if (tensor.rawData.length !== length) {
      throw new ConfigurationError(
        `tensor "${tensor.name}" holds ${tensor.rawData.length} bytes but its dtype and shape need ${length}`,
      );
    }
    this.pointed(model, tensor, this.append(tensor.rawData), length);
  }

  /**
   * Copies every tensor whose values are still in another external data file (the source model's), of at least
   * the threshold and accepted by `keep`, into this file, in model order, and points them here. It lets the event
   * loop run between chunks (worker threads keep being served); nothing else may be written meanwhile.
   */
  async placeExternal(model: OnnxModel, keep: (tensor: TensorProto) => boolean): Promise<void> {
    const copies: { tensor: TensorProto; ref: ExternalRef; length: number }[] = [];
    forEachTensor(model.proto, ({ tensor }) => {
      const ref = model.externalRef(tensor);
      const length = tensorByteLength(tensor);
      if (!ref || this.holds(ref) || tensor.dataType === DataType.STRING || length < this.threshold) return;
      if (ref.length === length && keep(tensor)) copies.push({ tensor, ref, length });
    });
    this.ready();
    this.copyingAsync = true;
    try {
      for (const { tensor, ref, length } of copies) {
        const copy = this.copying(ref, tensor.name);
        let step = copy.next();
        for (; !step.done; step = copy.next()) await new Promise((resolve) => setImmediate(resolve));
        this.pointed(model, tensor, step.value, length);
      }
    } finally {
      this.copyingAsync = false;
    }
  }

  private pointed(model: OnnxModel, tensor: TensorProto, offset: number, length: number): void {
    pointAt(tensor, this.location, offset, length);
    const ref: ExternalRef = { location: this.location, file: this.tempPath, offset, length };
    this.placed.add(ref);
    model.setExternalRef(tensor, ref);
  }

  /** Closes the file and renames it to `path`. */
  finish(): WrittenDataFile {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const sha256 = this.hash.digest('hex');
    renameSync(this.tempPath, this.path);
    for (const ref of this.placed) ref.file = this.path;
    return { path: this.path, location: this.location, bytes: this.size, sha256 };
  }

  /** Closes and removes the temporary file (after a failure). */
  discard(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tempPath, { force: true });
  }
}

function pointAt(tensor: TensorProto, location: string, offset: number, length: number): void {
  Object.assign(tensor, {
    rawData: new Uint8Array(0),
    floatData: [],
    int32Data: [],
    int64Data: [],
    doubleData: [],
    uint64Data: [],
    dataLocation: DataLocation.External,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  });
}

/** Writes `model` to `outPath` (see `WriteModelOptions`). */
export function writeModel(model: OnnxModel, outPath: string, options: WriteModelOptions = {}): WrittenModel {
  const out = resolve(outPath);
  const proto = model.proto;
  const given = options.dataFile;
  const threshold = given?.threshold ?? options.threshold ?? 1024;
  let inlineBytes = 0;
  let hadExternal = false;
  forEachTensor(proto, ({ tensor }) => {
    inlineBytes += tensorByteLength(tensor);
    if (model.isExternal(tensor)) hadExternal = true;
  });
  const mode = given ? true : (options.externalData ?? 'auto');
  const limit = Math.min(options.inlineLimitBytes ?? PROTOBUF_LIMIT_BYTES, PROTOBUF_LIMIT_BYTES);
  const external = mode === true || (mode === 'auto' && (hadExternal || inlineBytes > limit));
  if (!external && inlineBytes > PROTOBUF_LIMIT_BYTES) {
    throw new ConfigurationError(
      `the model holds ${inlineBytes} bytes of tensors, more than one .onnx file can hold (2 GB)`,
      {
        subject: outPath,
        fix: 'Write it with external data',
      },
    );
  }
  const tmpModel = tempName(out);
  const saved: SavedFields[] = [];
  let data: DataFileWriter | undefined = given;
  try {
    if (external && !data) {
      const location = options.location ?? `${basename(out)}.data`;
      data = new DataFileWriter(resolveInside(dirname(out), location, outPath, 'output data'), location, {
        threshold,
      });
    }
    forEachTensor(proto, ({ tensor }) => {
      const length = tensorByteLength(tensor);
      const ref = model.externalRef(tensor);
      if (data?.holds(ref)) return; // placed there already
      const toExternal = data !== undefined && tensor.dataType !== DataType.STRING && length >= threshold;
      if (!toExternal && !ref) return;
      saved.push(save(tensor));
      if (!toExternal) {
        tensor.rawData = model.tensorBytes(tensor);
        tensor.externalData = [];
        tensor.dataLocation = DataLocation.Default;
        return;
      }
      let offset: number;
      if (ref) {
        offset = data!.appendFrom(ref, tensor.name);
      } else {
        const bytes = model.tensorBytes(tensor);
        if (bytes.length !== length) {
          throw new ConfigurationError(
            `tensor "${tensor.name}" holds ${bytes.length} bytes but its dtype and shape need ${length}`,
            {
              subject: outPath,
              fix: 'The model is inconsistent; fix the tensor before writing it',
            },
          );
        }
        offset = data!.append(bytes);
      }
      pointAt(tensor, data!.location, offset, length);
    });
    const encoded = encodeModelProto(proto);
    const fd = openSync(tmpModel, 'w');
    try {
      writeAll(fd, encoded, 0);
    } finally {
      closeSync(fd);
    }
    const dataFile = data?.finish();
    renameSync(tmpModel, out);
    return {
      path: out,
      bytes: encoded.length,
      sha256: createHash('sha256').update(encoded).digest('hex'),
      ...(dataFile ? { dataFile } : {}),
    };
  } catch (error) {
    data?.discard();
    rmSync(tmpModel, { force: true });
    throw error;
  } finally {
    for (const fields of saved.reverse()) restore(fields);
  }
}
