import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadResults } from '../../src/gate/results.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { benchResult } from '../helpers/results.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

function folder(name: string, files: Record<string, string>): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

describe('loadResults', () => {
  const good = JSON.stringify(benchResult());

  it('passes over JSON files that are not results, and reads the results', async () => {
    const dir = folder('mixed-kinds', {
      'a.bench.json': good,
      'verdict.json': '{"schema":"slmops.verdict/v1"}',
    });
    expect(await loadResults([dir])).toHaveLength(1);
  });

  it('names every result file it cannot read instead of judging without them', async () => {
    const dir = folder('broken', {
      'good.bench.json': good,
      'cut.bench.json': good.slice(0, 40),
      'nan.bench.json': good.replace(/"p50":[\d.]+/, '"p50":NaN'),
      'newer.bench.json': JSON.stringify({ ...benchResult(), schema: 'slmops.bench/v2' }),
    });
    const error = (await loadResults([dir]).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/3 result file\(s\) cannot be read/);
    expect(error.message).toMatch(/cut\.bench\.json: not valid JSON/);
    expect(error.message).toMatch(/nan\.bench\.json: not valid JSON/);
    expect(error.message).toMatch(
      /newer\.bench\.json: schema slmops\.bench\/v2, and this slmops reads slmops\.bench\/v1/,
    );
  });

  it('refuses an empty pattern, which would search the whole disk', async () => {
    await expect(loadResults([''])).rejects.toThrowError(/a results pattern is empty/);
    await expect(loadResults(['  '])).rejects.toThrowError(/a results pattern is empty/);
  });
});
