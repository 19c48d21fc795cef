/**
 * Reproducible tar.gz bundles, written and read as streams with npm `tar`'s header codec.
 *
 * Writing: regular files only, in the order given, each with mode 0644, owner 0/0, empty user and group names and
 * one fixed mtime; a pax header only when a path does not fit the ustar fields (it then holds the path and, for
 * files of 8 GiB and more, the size: never a time). No directory entries. The same files give the same tar bytes;
 * the gzip stream (zlib, header mtime 0) is byte-identical for the same Node major version and platform.
 *
 * Reading: every entry must be a regular file with a safe relative path (see `isSafeBundlePath`); links, devices,
 * absolute paths and `..` are refused, naming the entry.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { Header, type HeaderData, Pax } from 'tar';
import { ConfigurationError } from '../errors.ts';
import { isSafeBundlePath } from './manifest.ts';

/**
 * zlib level 1 (Z_BEST_SPEED). Quantized and float weights barely compress (8–10 % at any level) and level 6 costs
 * more time for a fraction of a percent; docs/publish.md has the measurement.
 */
export const GZIP_LEVEL = constants.Z_BEST_SPEED;

export interface TarSource {
  /** Path inside the archive. */
  readonly path: string;
  readonly bytes: number;
  open(): AsyncIterable<Uint8Array>;
}

/** ustar can write sizes up to 8^11 - 1 in octal; larger ones go in a pax header. */
const USTAR_MAX_SIZE = 8 ** 11 - 1;
const BLOCK = 512;

function headerBlocks(entry: TarSource, mtime: Date): Buffer[] {
  const header = new Header({
    path: entry.path,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: entry.bytes,
    mtime,
    type: 'File',
    uname: '',
    gname: '',
  });
  const block = Buffer.alloc(BLOCK);
  header.encode(block);
  if (!header.needPax) return [block];
  const pax = new Pax({
    path: entry.path,
    ...(entry.bytes > USTAR_MAX_SIZE ? { size: entry.bytes } : {}),
  } as ConstructorParameters<typeof Pax>[0]).encode();
  return [pax, block];
}

/** The tar stream of the entries, in order: headers, contents (streamed), padding, and the end-of-archive blocks. */
export async function* tarStream(entries: readonly TarSource[], mtime: Date): AsyncGenerator<Buffer> {
  const seconds = new Date(Math.floor(mtime.getTime() / 1000) * 1000);
  for (const entry of entries) {
    if (!isSafeBundlePath(entry.path))
      throw new Error(`refusing to write the unsafe tar path "${entry.path}"`);
    yield* headerBlocks(entry, seconds);
    let written = 0;
    for await (const chunk of entry.open()) {
      written += chunk.length;
      if (written > entry.bytes) break;
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (written !== entry.bytes) {
      throw new Error(
        `${entry.path} changed while it was packed (${entry.bytes} bytes expected, ${written} read)`,
      );
    }
    const pad = (BLOCK - (entry.bytes % BLOCK)) % BLOCK;
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield Buffer.alloc(2 * BLOCK);
}

export interface WrittenArchive {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** Writes the entries as a .tar.gz to `out` (through a temporary file renamed into place), streamed. */
export async function writeTarGz(
  out: string,
  entries: readonly TarSource[],
  options: { mtime: Date; level?: number },
): Promise<WrittenArchive> {
  const temp = `${out}.partial-${process.pid}`;
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.from(tarStream(entries, options.mtime), { objectMode: false }),
      createGzip({ level: options.level ?? GZIP_LEVEL }),
      count,
      createWriteStream(temp),
    );
    await rename(temp, out);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { path: out, bytes, sha256: hash.digest('hex') };
}

/** An entry of an archive being read: its path, size, and its bytes (read them, or they are skipped). */
export interface ArchiveEntry {
  readonly path: string;
  readonly bytes: number;
  readonly stream: AsyncIterable<Uint8Array>;
}

const ENTRY_NAMES: Record<string, string> = {
  SymbolicLink: 'a symbolic link',
  Link: 'a hard link',
  CharacterDevice: 'a device',
  BlockDevice: 'a device',
  FIFO: 'a pipe',
};

/** Largest pax or GNU long-name body read (a path is never this long). */
const MAX_META_BYTES = 1 << 20;

/** Pulls exact byte counts out of a stream of chunks. */
class ByteReader {
  private buffer: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.source.next();
    if (next.done) {
      this.done = true;
      return false;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    return true;
  }

  /** Exactly `n` bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    while (this.buffer.length < n && (await this.more())) {}
    const out = this.buffer.subarray(0, Math.min(n, this.buffer.length));
    this.buffer = this.buffer.subarray(out.length);
    return out;
  }

  /** Up to `n` of the next bytes (at least one); throws when the stream has ended. */
  async chunk(n: number, what: string): Promise<Buffer> {
    if (this.buffer.length === 0 && !(await this.more())) throw new Error(`the archive ends inside ${what}`);
    const out = this.buffer.subarray(0, Math.min(n, this.buffer.length));
    this.buffer = this.buffer.subarray(out.length);
    return out;
  }

  /** The next `n` bytes as chunks (no copy of the whole); throws when the stream ends first. */
  async *take(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffer.length === 0 && !(await this.more()))
        throw new Error(`the archive ends inside ${what}`);
      const chunk = this.buffer.subarray(0, Math.min(left, this.buffer.length));
      this.buffer = this.buffer.subarray(chunk.length);
      left -= chunk.length;
      yield chunk;
    }
  }
}

async function* chunksOf(
  first: Buffer | undefined,
  rest: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (first) yield first;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/** The stream, gunzipped when it starts with the gzip magic bytes (a plain .tar passes through). */
async function tarBytes(source: AsyncIterable<Uint8Array>): Promise<AsyncIterator<Uint8Array>> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return chunksOf(undefined, it);
  const head = Buffer.from(first.value.buffer, first.value.byteOffset, first.value.byteLength);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return chunksOf(head, it);
  const gunzip = createGunzip();
  Readable.from(chunksOf(head, it)).pipe(gunzip);
  return (gunzip as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
}

function damaged(subject: string, problem: string, cause?: unknown): ConfigurationError {
  return new ConfigurationError(`is not a valid bundle archive: ${problem}`, {
    subject,
    fix: 'The bundle is damaged or not a bundle: download or pack it again',
    ...(cause === undefined ? {} : { cause }),
  });
}

function unsafe(p: string, subject: string, what: string): ConfigurationError {
  return new ConfigurationError(
    `holds ${what} with the unsafe path "${p}" (absolute, with "..", or with characters no folder may hold)`,
    { subject, fix: 'Do not unpack this archive: it tries to write outside the folder it is unpacked into' },
  );
}

/**
 * Reads a .tar.gz (or plain .tar) stream entry by entry and hands each file to `onEntry`; what `onEntry` leaves
 * unread of an entry is skipped. Pull-based, so memory stays flat whatever the sizes. Refuses (a
 * `ConfigurationError` naming `subject` and the entry) anything but regular files with safe relative paths:
 * absolute paths, `..`, symbolic and hard links, devices, pipes. Folder entries are checked and skipped.
 */
export async function readArchive(
  source: AsyncIterable<Uint8Array>,
  subject: string,
  onEntry: (entry: ArchiveEntry) => Promise<void>,
): Promise<void> {
  let reader: ByteReader;
  try {
    reader = new ByteReader(await tarBytes(source));
  } catch (error) {
    throw damaged(subject, (error as Error).message, error);
  }
  let ex: HeaderData | undefined;
  let longPath: string | undefined;
  let longLink: string | undefined;
  let sawEnd = false;
  try {
    for (;;) {
      const block = await reader.read(BLOCK);
      if (block.length === 0) break;
      if (block.length < BLOCK) throw damaged(subject, 'it ends inside a header');
      if (block.every((b) => b === 0)) {
        sawEnd = true;
        break;
      }
      const header = new Header(block, 0, ex);
      if (!header.cksumValid) throw damaged(subject, 'a header checksum is wrong');
      const size = header.size ?? 0;
      const type = header.type as string;
      const data = () => reader.take(size, `entry "${header.path ?? ''}"`);
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (
        type === 'ExtendedHeader' ||
        type === 'GlobalExtendedHeader' ||
        type === 'NextFileHasLongPath' ||
        type === 'NextFileHasLongLinkpath'
      ) {
        if (size > MAX_META_BYTES) throw damaged(subject, `a ${type} header of ${size} bytes`);
        const parts: Buffer[] = [];
        for await (const chunk of data()) parts.push(chunk);
        await reader.read(padding);
        const body = Buffer.concat(parts);
        if (type === 'ExtendedHeader') ex = { ...(ex ?? {}), ...Pax.parse(body.toString('utf8'), ex, false) };
        else if (type === 'NextFileHasLongPath') longPath = body.toString('utf8').replace(/\0.*$/s, '');
        else if (type === 'NextFileHasLongLinkpath') longLink = body.toString('utf8').replace(/\0.*$/s, '');
        continue;
      }
      const entryPath = ex?.path ?? longPath ?? header.path ?? '';
      const linkpath = ex?.linkpath ?? longLink ?? header.linkpath;
      ex = undefined;
      longPath = undefined;
      longLink = undefined;
      if (type === 'Directory') {
        if (!isSafeBundlePath(entryPath.replace(/\/+$/, ''))) throw unsafe(entryPath, subject, 'a folder');
        for await (const _ of data()) {
          // a folder has no data; skip any
        }
        await reader.read(padding);
        continue;
      }
      if (type !== 'File' && type !== 'OldFile' && type !== 'ContiguousFile') {
        const target = linkpath ? ` pointing to "${linkpath}"` : '';
        throw new ConfigurationError(
          `holds ${ENTRY_NAMES[type] ?? `an entry of type ${type}`} "${entryPath}"${target}; bundles hold regular files only`,
          {
            subject,
            fix: 'Do not unpack this archive: links and special files can write outside the folder it is unpacked into',
          },
        );
      }
      if (!isSafeBundlePath(entryPath)) throw unsafe(entryPath, subject, 'a file');
      let left = size;
      const what = `entry "${entryPath}"`;
      const stream: AsyncIterable<Uint8Array> = {
        async *[Symbol.asyncIterator]() {
          while (left > 0) {
            const chunk = await reader.chunk(left, what);
            left -= chunk.length;
            yield chunk;
          }
        },
      };
      await onEntry({ path: entryPath, bytes: size, stream });
      while (left > 0) left -= (await reader.chunk(left, what)).length;
      await reader.read(padding);
    }
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw damaged(subject, (error as Error).message, error);
  }
  if (!sawEnd) throw damaged(subject, 'it has no end-of-archive blocks (it was cut short)');
}
