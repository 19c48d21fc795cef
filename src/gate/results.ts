/** Gathering bench results for the gate: every JSON file matching a glob (or in a folder), validated. */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { validateDocument } from '../config/load.ts';
import type { BenchResult } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';

export interface LoadedResult {
  path: string;
  sha256: string;
  result: BenchResult & { findings?: string[] };
}

/** Files for a pattern: a folder means every `*.json` below it (bench results only: `*.bench.json` first). */
async function expand(pattern: string, cwd: string): Promise<string[]> {
  let target = pattern;
  try {
    if (statSync(resolve(cwd, pattern)).isDirectory()) target = `${pattern.replace(/\/+$/, '')}/**/*.json`;
  } catch {
    // not a plain path: a glob
  }
  const files = await glob(target, { cwd, absolute: true, dot: false });
  return files.map((f) => resolve(f)).sort();
}

function isBenchResult(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { schema?: unknown }).schema === 'slmops.bench/v1'
  );
}

/**
 * Loads every bench result the patterns match. JSON files of other kinds (verdicts, summaries, compress reports)
 * are passed over; a pattern that matches no result at all is an error naming it. A file that claims to be a
 * result but cannot be read as one (a `*.bench.json` that is not valid JSON, another version of the bench schema)
 * is an error too, all such files named at once: skipping it would judge without it.
 */
export async function loadResults(patterns: readonly string[], cwd = process.cwd()): Promise<LoadedResult[]> {
  const loaded: LoadedResult[] = [];
  const unreadable: string[] = [];
  for (const pattern of patterns) {
    if (pattern.trim() === '') {
      throw new ConfigurationError('a results pattern is empty', {
        subject: 'results',
        fix: 'Name the folder or glob of the *.bench.json files (an empty one would search the whole disk)',
      });
    }
    const files = await expand(pattern, cwd);
    let matched = 0;
    for (const file of files) {
      const bytes = readFileSync(file);
      let value: unknown;
      try {
        value = JSON.parse(bytes.toString('utf8'));
      } catch (error) {
        if (file.endsWith('.bench.json'))
          unreadable.push(`${file}: not valid JSON (${(error as Error).message})`);
        continue;
      }
      const schema = (value as { schema?: unknown } | null)?.schema;
      if (typeof schema === 'string' && schema.startsWith('slmops.bench/') && !isBenchResult(value)) {
        unreadable.push(`${file}: schema ${schema}, and this slmops reads slmops.bench/v1`);
        continue;
      }
      if (!isBenchResult(value)) continue;
      matched += 1;
      loaded.push({
        path: file,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        result: validateDocument('bench', value, file) as LoadedResult['result'],
      });
    }
    if (matched === 0 && unreadable.length === 0) {
      throw new ConfigurationError(
        `the results pattern "${pattern}" matched no bench result (${files.length} files looked at)`,
        {
          subject: 'results',
          fix: 'Point it at the folder or glob where the benchmark step (or download-artifact) put *.bench.json files',
        },
      );
    }
  }
  if (unreadable.length) {
    throw new ConfigurationError(
      `${unreadable.length} result file(s) cannot be read: ${unreadable.join('; ')}`,
      {
        subject: 'results',
        fix: 'Write them again with the benchmark step of the same slmops version as the gate, or remove them',
      },
    );
  }
  return loaded;
}
