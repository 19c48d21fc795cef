import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult } from '../../src/config/types.ts';
import type { LoadedResult } from '../../src/gate/results.ts';

const example = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'schemas', 'examples', 'bench.example.json'), 'utf8'),
) as BenchResult;

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** A valid bench result (the schema example) with `patch` merged in, one level deep per block. */
export function benchResult(patch: DeepPartial<BenchResult> & Record<string, unknown> = {}): BenchResult {
  const out = structuredClone(example) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? { ...(current as object), ...(value as object) }
        : value;
  }
  return out as unknown as BenchResult;
}

export function loaded(result: BenchResult, path = 'r.bench.json'): LoadedResult {
  return { path, sha256: '0'.repeat(64), result };
}
