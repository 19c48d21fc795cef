/** A model read from disk: its `ModelProto`, where it lives, and lazy access to every tensor's values. */

import { ConfigurationError } from '../errors.ts';
import { dtypeName } from './dtypes.ts';
import { type ExternalRef, isExternal, readExternal } from './external-data.ts';
import type { ModelProto, TensorProto } from './proto.ts';
import {
  arrayToFloat32,
  type NumericArray,
  rawToArray,
  tensorByteLength,
  tensorElementCount,
  tensorStorage,
  typedFieldToRaw,
} from './tensor.ts';

export interface TensorReadOptions {
  /**
   * Reuse one buffer owned by the model for external reads and alignment copies, instead of allocating per tensor.
   * The returned data is valid only until the next call with `reuse`: for streaming over large models.
   */
  reuse?: boolean;
}

export class OnnxModel {
  private scratch: Buffer | undefined;

  constructor(
    readonly proto: ModelProto,
    /** Folder that external data locations are relative to. */
    readonly dir: string,
    /** The file the model was read from, when it was. */
    readonly path: string | undefined,
    /** Size of the `.onnx` file in bytes (0 for a model built in memory). */
    readonly fileBytes: number,
    private readonly externalRefs: Map<TensorProto, ExternalRef> = new Map(),
  ) {}

  /** The external data reference of a tensor, if its values live in another file. */
  externalRef(tensor: TensorProto): ExternalRef | undefined {
    // A pass may have replaced the values in place (now inline): the old reference no longer applies.
    return isExternal(tensor) ? this.externalRefs.get(tensor) : undefined;
  }

  /** Records that a tensor's values now live in an external file (a writer placed them there). */
  setExternalRef(tensor: TensorProto, ref: ExternalRef): void {
    this.externalRefs.set(tensor, ref);
  }

  /** Distinct external data files, with how many bytes of each the model references. */
  externalFiles(): { location: string; file: string; referencedBytes: number; tensors: number }[] {
    const files = new Map<
      string,
      { location: string; file: string; referencedBytes: number; tensors: number }
    >();
    for (const [tensor, ref] of this.externalRefs) {
      if (!isExternal(tensor)) continue;
      const entry = files.get(ref.file) ?? {
        location: ref.location,
        file: ref.file,
        referencedBytes: 0,
        tensors: 0,
      };
      entry.referencedBytes += ref.length;
      entry.tensors += 1;
      files.set(ref.file, entry);
    }
    return [...files.values()].sort((a, b) => a.location.localeCompare(b.location));
  }

  /** The tensor's values as little-endian raw bytes, whatever form they are stored in (external data is read now). */
  tensorBytes(tensor: TensorProto, options: TensorReadOptions = {}): Uint8Array {
    switch (tensorStorage(tensor)) {
      case 'external': {
        const ref = this.externalRefs.get(tensor);
        if (!ref)
          throw new ConfigurationError(
            `tensor "${tensor.name}" is external but was not resolved against a folder`,
          );
        return readExternal(ref, options.reuse ? this.scratchOf(ref.length) : undefined);
      }
      case 'raw':
        return tensor.rawData;
      case 'typed':
        return typedFieldToRaw(tensor);
      case 'empty':
        if (tensorByteLength(tensor) === 0) return new Uint8Array(0);
        throw new ConfigurationError(
          `tensor "${tensor.name}" (${dtypeName(tensor.dataType)}) holds no values`,
          {
            subject: this.path,
            fix: 'The model is damaged; re-export it',
          },
        );
    }
  }

  /** The tensor's values in their natural typed array (see `rawToArray`); a view of the stored bytes when aligned. */
  tensorArray(tensor: TensorProto, options: TensorReadOptions = {}): NumericArray {
    let bytes = this.tensorBytes(tensor, options);
    if (options.reuse && bytes.byteOffset % 8 !== 0) {
      const aligned = this.scratchOf(bytes.length);
      aligned.set(bytes);
      bytes = aligned.subarray(0, bytes.length);
    }
    return rawToArray(tensor.dataType, bytes, tensorElementCount(tensor));
  }

  /** The tensor's values as float32. */
  tensorFloat32(tensor: TensorProto, options: TensorReadOptions = {}): Float32Array {
    return arrayToFloat32(tensor.dataType, this.tensorArray(tensor, options));
  }

  /** Frees the buffer `reuse` reads go through (data returned by those reads is then invalid). */
  releaseScratch(): void {
    this.scratch = undefined;
  }

  private scratchOf(length: number): Buffer {
    if (!this.scratch || this.scratch.length < length) {
      // allocUnsafeSlow: its own ArrayBuffer, so views start at offset 0 (aligned for every element type).
      this.scratch = Buffer.allocUnsafeSlow(Math.max(length, (this.scratch?.length ?? 0) * 2));
    }
    return this.scratch;
  }

  isExternal(tensor: TensorProto): boolean {
    return isExternal(tensor);
  }
}
