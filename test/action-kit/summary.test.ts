import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { markdownTable, writeSummary } from '../../src/action-kit/summary.ts';

describe('markdownTable', () => {
  it('escapes pipes and newlines so a cell cannot break the table', () => {
    expect(markdownTable(['Name', 'Value'], [['a|b', 'x\ny']])).toBe(
      '| Name | Value |\n| --- | --- |\n| a\\|b | x<br>y |',
    );
  });
});

describe('writeSummary', () => {
  let dir: string | undefined;
  afterEach(() => {
    vi.unstubAllEnvs();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes nothing and says so outside a runner', async () => {
    expect(await writeSummary('# hi', {})).toBe(false);
  });

  it('appends the Markdown to GITHUB_STEP_SUMMARY', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'slmops-summary-'));
    const file = path.join(dir, 'summary');
    writeFileSync(file, 'before\n');
    vi.stubEnv('GITHUB_STEP_SUMMARY', file);
    expect(await writeSummary('### slmops')).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(`before\n### slmops${os.EOL}`);
  });
});
