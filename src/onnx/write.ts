/**
 * Writing models: one `.onnx` file, or `.onnx` + one external data file (required above protobuf's 2 GB limit).
 * Files are written to temporary names and renamed into place, so a failure leaves nothing half-written; the source
 * model is never modified (its tensors are re-pointed only while encoding, then restored).
 */
import { closeSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ConfigurationError } from '../errors.ts';
import { DataType } from './dtypes.ts';
import { resolveInside } from './external-data.ts';
import type { OnnxModel } from './model.ts';
import { DataLocation, encodeModelProto, type TensorProto } from './proto.ts';
import { tensorByteLength } from './tensor.ts';
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
}

export interface WrittenModel {
  path: string;
  bytes: number;
  dataFile?: { path: string; location: string; bytes: number };
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

/** Writes `model` to `outPath` (see `WriteModelOptions`). */
export function writeModel(model: OnnxModel, outPath: string, options: WriteModelOptions = {}): WrittenModel {
  const out = resolve(outPath);
  const proto = model.proto;
  const threshold = options.threshold ?? 1024;
  let inlineBytes = 0;
  let hadExternal = false;
  forEachTensor(proto, ({ tensor }) => {
    inlineBytes += tensorByteLength(tensor);
    if (model.isExternal(tensor)) hadExternal = true;
  });
  const mode = options.externalData ?? 'auto';
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
  const location = options.location ?? `${basename(out)}.data`;
  const dataPath = external ? resolveInside(dirname(out), location, outPath, 'output data') : undefined;
  const tmpModel = tempName(out);
  const tmpData = dataPath ? tempName(dataPath) : undefined;
  const saved: SavedFields[] = [];
  let dataFd: number | undefined;
  let dataBytes = 0;
  try {
    if (tmpData) dataFd = openSync(tmpData, 'w');
    forEachTensor(proto, ({ tensor }) => {
      const length = tensorByteLength(tensor);
      const toExternal = dataFd !== undefined && tensor.dataType !== DataType.STRING && length >= threshold;
      const ref = model.externalRef(tensor);
      if (!toExternal && !ref) return;
      saved.push(save(tensor));
      if (!toExternal) {
        tensor.rawData = model.tensorBytes(tensor);
        tensor.externalData = [];
        tensor.dataLocation = DataLocation.Default;
        return;
      }
      const align = alignmentFor(length);
      const offset = Math.ceil(dataBytes / align) * align;
      if (ref) {
        const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK, length));
        const src = openSync(ref.file, 'r');
        try {
          for (let done = 0; done < length; ) {
            const n = readSync(src, chunk, 0, Math.min(chunk.length, length - done), ref.offset + done);
            if (n === 0)
              throw new ConfigurationError(`external data of "${tensor.name}" ended early`, {
                subject: ref.file,
              });
            writeAll(dataFd!, chunk.subarray(0, n), offset + done);
            done += n;
          }
        } finally {
          closeSync(src);
        }
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
        writeAll(dataFd!, bytes, offset);
      }
      dataBytes = offset + length;
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
    });
    const encoded = encodeModelProto(proto);
    const fd = openSync(tmpModel, 'w');
    try {
      writeAll(fd, encoded, 0);
    } finally {
      closeSync(fd);
    }
    if (dataFd !== undefined) {
      closeSync(dataFd);
      dataFd = undefined;
      renameSync(tmpData!, dataPath!);
    }
    renameSync(tmpModel, out);
    return {
      path: out,
      bytes: encoded.length,
      ...(dataPath ? { dataFile: { path: dataPath, location, bytes: dataBytes } } : {}),
    };
  } catch (error) {
    if (dataFd !== undefined) closeSync(dataFd);
    rmSync(tmpModel, { force: true });
    if (tmpData) rmSync(tmpData, { force: true });
    throw error;
  } finally {
    for (const fields of saved.reverse()) restore(fields);
  }
}
