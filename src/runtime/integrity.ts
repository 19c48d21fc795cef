import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const ALGORITHMS = ['sha512', 'sha384', 'sha256', 'sha1'] as const;
type Algorithm = (typeof ALGORITHMS)[number];

/** One hash of a subresource-integrity string (`sha512-<base64>`), as npm writes them in package-lock.json. */
export interface IntegrityHash {
  readonly algorithm: Algorithm;
  readonly digest: string;
}

/** The strongest hash of an SRI string (npm may list several, separated by spaces). */
export function parseIntegrity(sri: string): IntegrityHash {
  const hashes = sri
    .trim()
    .split(/\s+/)
    .map((part) => {
      const dash = part.indexOf('-');
      const algorithm = part.slice(0, dash) as Algorithm;
      return { algorithm, digest: part.slice(dash + 1).replace(/\?.*$/, '') };
    })
    .filter((h) => ALGORITHMS.includes(h.algorithm) && h.digest.length > 0)
    .sort((a, b) => ALGORITHMS.indexOf(a.algorithm) - ALGORITHMS.indexOf(b.algorithm));
  const best = hashes[0];
  if (!best) throw new Error(`unsupported integrity string '${sri}' (expected sha512-<base64>)`);
  return best;
}

export function formatIntegrity(hash: IntegrityHash): string {
  return `${hash.algorithm}-${hash.digest}`;
}

export function integrityHasher(algorithm: Algorithm): { hash: Hash; result: () => IntegrityHash } {
  const hash = createHash(algorithm);
  return { hash, result: () => ({ algorithm, digest: hash.digest('base64') }) };
}

/** Hashes a file with the algorithm of `expected` (so the two compare). */
export async function fileIntegrity(file: string, algorithm: Algorithm = 'sha512'): Promise<IntegrityHash> {
  const { hash, result } = integrityHasher(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return result();
}

export function sameIntegrity(a: IntegrityHash, b: IntegrityHash): boolean {
  return a.algorithm === b.algorithm && a.digest === b.digest;
}
