import { createReadStream } from 'node:fs';
import { createGzip } from 'node:zlib';

/** Bytes of the gzip stream of the given files, concatenated (streamed; nothing is written). */
export async function gzipSize(paths: string[], level = 6): Promise<number> {
  let bytes = 0;
  const gzip = createGzip({ level });
  gzip.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  for (const path of paths) {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      if (!gzip.write(chunk)) await new Promise((r) => gzip.once('drain', r));
    }
  }
  gzip.end();
  await done;
  return bytes;
}
