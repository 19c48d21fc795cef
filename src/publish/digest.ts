/** Streaming digests of files and byte ranges: one pass over a file gives its sha256 and the sha256 of each part. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

/** Read size of file streams: large enough to be fast, small enough to keep memory flat. */
export const CHUNK_BYTES = 4 * 2 ** 20;

export interface PartDigest {
  readonly offset: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface FileDigest {
  readonly bytes: number;
  readonly sha256: string;
  /** Present when the file is larger than `partBytes`: consecutive ranges of at most `partBytes`. */
  readonly parts?: PartDigest[];
}

/**
 * sha256 and size of a file, and of each `partBytes`-sized part when the file is larger than `partBytes`, read once
 * as a stream. Throws when the file changes size while it is read.
 */
export async function digestFile(path: string, partBytes = Number.POSITIVE_INFINITY): Promise<FileDigest> {
  const size = (await stat(path)).size;
  const split = size > partBytes;
  const whole = createHash('sha256');
  const parts: PartDigest[] = [];
  let part = createHash('sha256');
  let partStart = 0;
  let inPart = 0;
  let total = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
    const buffer = chunk as Buffer;
    whole.update(buffer);
    total += buffer.length;
    if (!split) continue;
    let at = 0;
    while (at < buffer.length) {
      const take = Math.min(buffer.length - at, partBytes - inPart);
      part.update(buffer.subarray(at, at + take));
      inPart += take;
      at += take;
      if (inPart === partBytes) {
        parts.push({ offset: partStart, bytes: inPart, sha256: part.digest('hex') });
        partStart += inPart;
        inPart = 0;
        part = createHash('sha256');
      }
    }
  }
  if (split && inPart > 0) parts.push({ offset: partStart, bytes: inPart, sha256: part.digest('hex') });
  if (total !== size) throw new Error(`${path} changed while it was read (${size} bytes, then ${total})`);
  return { bytes: total, sha256: whole.digest('hex'), ...(split ? { parts } : {}) };
}

/** A byte range of a file as a fresh stream each time it is iterated (a re-iterable upload body). */
export function fileRange(path: string, start: number, bytes: number): () => AsyncIterable<Uint8Array> {
  return () =>
    bytes === 0
      ? (async function* () {})()
      : createReadStream(path, { start, end: start + bytes - 1, highWaterMark: CHUNK_BYTES });
}

/** sha256 and size of a stream of bytes. */
export async function digestStream(
  stream: AsyncIterable<Uint8Array>,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
