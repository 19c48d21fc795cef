/**
 * External tensor data (`data_location = EXTERNAL`, `external_data` = location/offset/length): where the bytes are,
 * checks that the location stays inside the model's folder, and lazy reads.
 */
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep, win32 } from 'node:path';
import { ExternalDataError, UnsafePathError } from '../errors.ts';
import { DataLocation, type TensorProto } from './proto.ts';

export interface ExternalRef {
  /** The location as written in the model (relative to the model's folder). */
  location: string;
  /** Absolute path of the data file. */
  file: string;
  offset: number;
  length: number;
}

export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.External;
}

function entries(tensor: TensorProto): Map<string, string> {
  return new Map(tensor.externalData.map((entry) => [entry.key, entry.value]));
}

function parseCount(
  value: string | undefined,
  what: string,
  tensorName: string,
  modelPath: string,
): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) {
    throw new ExternalDataError(
      `tensor "${tensorName}" has external data ${what} "${value}", which is not a whole number`,
      {
        subject: modelPath,
        fix: 'Re-save the model with onnx.save(..., save_as_external_data=True) or slmops',
      },
    );
  }
  return Number(value);
}

/**
 * Resolves a location against the model's folder and refuses any that is absolute or escapes it (`..` or a
 * symlink pointing out). Returns the absolute path; the file need not exist yet.
 */
export function resolveInside(dir: string, location: string, subject: string, what: string): string {
  if (location === '' || isAbsolute(location) || win32.isAbsolute(location) || location.includes('\0')) {
    throw new UnsafePathError(
      `${what} location "${location}" is absolute or empty; it must be relative to the model's folder`,
      {
        subject,
        fix: 'Re-save the model so external data sits next to it (a relative location such as "model.onnx.data")',
      },
    );
  }
  const root = resolve(dir);
  const target = resolve(root, location);
  const rel = relative(root, target);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new UnsafePathError(`${what} location "${location}" escapes the model's folder`, {
      subject,
      fix: 'Keep external data files inside the folder of the .onnx file; a model must not read files outside it',
    });
  }
  let realRoot: string;
  let realTarget: string;
  try {
    realRoot = realpathSync(root);
    realTarget = realpathSync(target);
  } catch {
    return target; // does not exist (yet): the caller reports a missing file
  }
  const realRel = relative(realRoot, realTarget);
  if (realRel === '' || realRel === '..' || realRel.startsWith(`..${sep}`) || isAbsolute(realRel)) {
    throw new UnsafePathError(
      `${what} location "${location}" is a symbolic link that leads out of the model's folder`,
      {
        subject,
        fix: 'Copy the data file into the model folder instead of linking to it',
      },
    );
  }
  return target;
}

/**
 * Reads and checks a tensor's external data reference: safe location, file present, bytes within the file.
 * `expectedBytes` is the size the dtype and dims require (used when `length` is absent, and checked against it).
 */
export function resolveExternalRef(
  tensor: TensorProto,
  modelDir: string,
  modelPath: string,
  expectedBytes: number | undefined,
  fileSizes: Map<string, number>,
): ExternalRef {
  const map = entries(tensor);
  const location = map.get('location');
  if (location === undefined) {
    throw new ExternalDataError(`tensor "${tensor.name}" is marked EXTERNAL but has no "location" entry`, {
      subject: modelPath,
      fix: 'The model file is damaged or was written by a faulty tool; re-export it',
    });
  }
  const file = resolveInside(modelDir, location, modelPath, `tensor "${tensor.name}" external data`);
  let size = fileSizes.get(file);
  if (size === undefined) {
    try {
      const stat = statSync(file);
      if (!stat.isFile()) throw new Error('not a file');
      size = stat.size;
    } catch {
      throw new ExternalDataError(`external data file "${location}" of tensor "${tensor.name}" is missing`, {
        subject: modelPath,
        fix: `Put "${location}" next to the model (locations are relative to the .onnx file's folder: ${join(modelDir, location)})`,
      });
    }
    fileSizes.set(file, size);
  }
  const offset = parseCount(map.get('offset'), 'offset', tensor.name, modelPath) ?? 0;
  const length =
    parseCount(map.get('length'), 'length', tensor.name, modelPath) ?? expectedBytes ?? size - offset;
  if (expectedBytes !== undefined && length !== expectedBytes) {
    throw new ExternalDataError(
      `tensor "${tensor.name}" declares ${length} bytes of external data but its dtype and shape need ${expectedBytes}`,
      { subject: modelPath, fix: 'The model and its data file do not match; re-export them together' },
    );
  }
  if (offset + length > size) {
    throw new ExternalDataError(
      `tensor "${tensor.name}" needs bytes ${offset}..${offset + length} of "${location}", but that file has only ${size} bytes`,
      {
        subject: modelPath,
        fix: 'The data file is truncated or belongs to another model; copy or export it again',
      },
    );
  }
  return { location, file, offset, length };
}

/** Reads `ref.length` bytes at `ref.offset`, into `into` when given (it must hold at least that many bytes). */
export function readExternal(ref: ExternalRef, into?: Buffer): Buffer {
  const out = into ? into.subarray(0, ref.length) : Buffer.allocUnsafe(ref.length);
  const fd = openSync(ref.file, 'r');
  try {
    let done = 0;
    while (done < ref.length) {
      const n = readSync(fd, out, done, ref.length - done, ref.offset + done);
      if (n === 0) {
        throw new ExternalDataError(
          `"${ref.location}" ended after ${done} of ${ref.length} bytes at offset ${ref.offset}`,
          {
            subject: ref.file,
            fix: 'The data file changed while it was read, or is truncated; copy it again',
          },
        );
      }
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
