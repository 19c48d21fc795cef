import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatOutput, type OutputSink, setOutputs } from '../../src/action-kit/outputs.ts';
import { parseOutputFile } from '../harness/run-action.ts';

function recordingSink(): OutputSink & { values: Record<string, string> } {
  const values: Record<string, string> = {};
  return { values, set: (name, value) => (values[name] = value) };
}

describe('setOutputs', () => {
  it('writes strings as they are, numbers and booleans as text, objects as JSON, and skips undefined', () => {
    const sink = recordingSink();
    setOutputs(
      {
        report: '/tmp/r.json',
        params: 38282,
        draft: false,
        assets: [{ name: 'a', bytes: 1 }],
        'comment-id': undefined,
      },
      sink,
    );
    expect(sink.values).toEqual({
      report: '/tmp/r.json',
      params: '38282',
      draft: 'false',
      assets: '[{"name":"a","bytes":1}]',
    });
  });

  it('formats a multi-line string unchanged', () => {
    expect(formatOutput('a\nb')).toBe('a\nb');
  });
});

describe('outputs through the runner', () => {
  let dir: string | undefined;
  afterEach(() => {
    vi.unstubAllEnvs();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('are appended to GITHUB_OUTPUT in the heredoc format the harness parses back', () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'slmops-output-'));
    const file = path.join(dir, 'output');
    writeFileSync(file, '');
    vi.stubEnv('GITHUB_OUTPUT', file);
    setOutputs({ params: 7, summary: 'line 1\nline 2' });
    expect(readFileSync(file, 'utf8')).toMatch(/^params<<ghadelimiter_/);
    expect(parseOutputFile(readFileSync(file, 'utf8'))).toEqual({ params: '7', summary: 'line 1\nline 2' });
  });
});
