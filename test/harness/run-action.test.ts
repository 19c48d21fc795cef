import { describe, expect, it } from 'vitest';
import { evaluateDefault, FAKE_TOKEN, parseOutputFile } from './run-action.ts';

describe('the harness reading GITHUB_OUTPUT', () => {
  it('parses heredoc blocks, multi-line values and name=value lines', () => {
    const text = [
      'a<<EOF_1',
      'one',
      'EOF_1',
      'b<<EOF_2',
      'line 1',
      '',
      'line 3',
      'EOF_2',
      'c=plain',
      '',
    ].join('\n');
    expect(parseOutputFile(text)).toEqual({ a: 'one', b: 'line 1\n\nline 3', c: 'plain' });
  });

  it('refuses a heredoc without its closing delimiter', () => {
    expect(() => parseOutputFile('a<<EOF_1\nvalue\n')).toThrow(/no closing EOF_1 for a/);
  });
});

describe('the harness evaluating action.yml defaults', () => {
  it('passes literals, fakes the workflow token and drops other expressions', () => {
    expect(evaluateDefault('true')).toBe('true');
    expect(evaluateDefault(1)).toBe('1');
    expect(evaluateDefault(`\${{ github.token }}`)).toBe(FAKE_TOKEN);
    expect(evaluateDefault(`\${{ github.event.pull_request.number }}`)).toBeUndefined();
    expect(evaluateDefault(undefined)).toBeUndefined();
  });
});
