/** Reading `.onnx` files: parse, check, and resolve external data (read lazily). */
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ModelFormatError } from '../errors.ts';
import { dtypeInfo, rawByteLength } from './dtypes.ts';
import { type ExternalRef, isExternal, resolveExternalRef } from './external-data.ts';
import { OnnxModel } from './model.ts';
import { decodeModelProto, type ModelProto, type TensorProto, toNumber } from './proto.ts';
import { tensorElementCount } from './tensor.ts';
import { forEachTensor } from './walk.ts';

/** The highest IR version slmops knows; newer files are read but flagged by `inspect`. */
export const MAX_KNOWN_IR_VERSION = 13;

const REEXPORT = 'Re-export or re-download the model; check that the copy was complete';

function sniff(head: Buffer): string | undefined {
  const text = head.toString('latin1');
  if (text.startsWith('version https://git-lfs')) return 'a Git LFS pointer, not the model itself';
  if (text.startsWith('PK\u0003\u0004')) return 'a zip archive (a PyTorch checkpoint or a zipped model?)';
  if (text.startsWith('\u0089HDF')) return 'an HDF5 file (a Keras model?)';
  if (/^\s*[{[]/.test(text)) return 'JSON text';
  if (text.startsWith('<')) return 'HTML or XML text (an error page saved instead of the model?)';
  if (text.startsWith('TFL3', 4)) return 'a TensorFlow Lite model';
  return undefined;
}

function sniffFix(kind: string): string {
  if (kind.startsWith('a Git LFS'))
    return 'Check out the repository with Git LFS (git lfs pull, or actions/checkout with lfs: true)';
  return 'Pass the path of an .onnx model file';
}

/** Decodes and sanity-checks model bytes. `subject` names the source in errors. */
export function parseModelBytes(bytes: Uint8Array, subject: string): ModelProto {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length === 0) throw new ModelFormatError('the file is empty', { subject, fix: REEXPORT });
  const kind = sniff(buffer.subarray(0, 64));
  if (kind)
    throw new ModelFormatError(`not an ONNX model: the file is ${kind}`, { subject, fix: sniffFix(kind) });
  let proto: ModelProto;
  try {
    proto = decodeModelProto(buffer);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/index out of range/i.test(message)) {
      throw new ModelFormatError(
        `the file is truncated: it ends inside a protobuf message (${buffer.length} bytes read)`,
        {
          subject,
          fix: REEXPORT,
          cause: error,
        },
      );
    }
    throw new ModelFormatError(`not an ONNX model: it is not a valid protobuf ModelProto (${message})`, {
      subject,
      fix: 'Pass the path of an .onnx model file',
      cause: error,
    });
  }
  const ir = toNumber(proto.irVersion);
  if (!proto.graph || ir <= 0 || ir > 100) {
    throw new ModelFormatError(
      proto.graph ? `not an ONNX model: IR version ${ir} is not valid` : 'not an ONNX model: it has no graph',
      { subject, fix: 'Pass the path of an .onnx model file; if it is one, it is truncated or damaged' },
    );
  }
  if (proto.opsetImport.length === 0 && ir >= 3) {
    throw new ModelFormatError('the model has no opset imports (the file may be truncated)', {
      subject,
      fix: REEXPORT,
    });
  }
  return proto;
}

function expectedBytes(tensor: TensorProto): number | undefined {
  const info = dtypeInfo(tensor.dataType);
  if (!info || info.bits === 0) return undefined;
  return rawByteLength(tensor.dataType, tensorElementCount(tensor));
}

/** Resolves and checks every external data reference of a model against the folder it lives in. */
export function resolveExternalData(
  proto: ModelProto,
  dir: string,
  subject: string,
): Map<TensorProto, ExternalRef> {
  const refs = new Map<TensorProto, ExternalRef>();
  const sizes = new Map<string, number>();
  forEachTensor(proto, ({ tensor }) => {
    if (isExternal(tensor))
      refs.set(tensor, resolveExternalRef(tensor, dir, subject, expectedBytes(tensor), sizes));
  });
  return refs;
}

export interface ReadModelOptions {
  /** Folder external data is relative to; default the model file's folder. */
  baseDir?: string;
}

/**
 * Reads an ONNX model. The `.onnx` file is read whole (protobuf needs it); external data is only checked here
 * (location inside the folder, file present, bytes in range) and read when a tensor's values are asked for.
 */
export function readModel(path: string, options: ReadModelOptions = {}): OnnxModel {
  const absolute = resolve(path);
  let size: number;
  try {
    const stat = statSync(absolute);
    if (stat.isDirectory()) {
      throw new ModelFormatError('is a folder, not a model file', {
        subject: path,
        fix: 'Pass the path of the .onnx file inside it',
      });
    }
    size = stat.size;
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError('no such file', {
      subject: path,
      fix: 'Check the path (it is relative to the working directory)',
    });
  }
  const bytes = readFileSync(absolute);
  const proto = parseModelBytes(bytes, path);
  const dir = options.baseDir ? resolve(options.baseDir) : dirname(absolute);
  return new OnnxModel(proto, dir, absolute, size, resolveExternalData(proto, dir, path));
}
