import { describe, expect, it } from 'vitest';
import {
  bumpSemver,
  compareSemver,
  formatSemver,
  parseReleaseTag,
  parseSemver,
  parseVersionRequest,
  resolveVersion,
} from '../../src/publish/semver.ts';

const v = (text: string) => {
  const parsed = parseSemver(text);
  if (!parsed) throw new Error(`not semver: ${text}`);
  return parsed;
};

describe('semantic versions', () => {
  it.each(['1.2', '01.2.3', '1.2.3.4', 'v1.2.3', '1.2.3-', '1.2.3-01', 'latest'])('refuses %s', (text) => {
    expect(parseSemver(text)).toBeUndefined();
  });

  it('orders versions by semver precedence, pre-releases before their release and build metadata ignored', () => {
    const sorted = [
      '1.0.0',
      '1.0.0-rc.1',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '0.9.10',
      '0.9.9',
      '1.0.0-rc.11',
      '1.0.0-rc.2',
    ]
      .map(v)
      .sort(compareSemver)
      .map(formatSemver);
    expect(sorted).toEqual([
      '0.9.9',
      '0.9.10',
      '1.0.0-alpha',
      '1.0.0-alpha.1',
      '1.0.0-alpha.beta',
      '1.0.0-rc.1',
      '1.0.0-rc.2',
      '1.0.0-rc.11',
      '1.0.0',
    ]);
    expect(compareSemver(v('1.0.0+a'), v('1.0.0+b'))).toBe(0);
  });

  it.each([
    ['1.2.3', 'patch', '1.2.4'],
    ['1.2.3', 'minor', '1.3.0'],
    ['1.2.3', 'major', '2.0.0'],
    ['1.3.0-rc.1', 'minor', '1.3.0'],
    ['1.3.1-rc.1', 'minor', '1.4.0'],
    ['2.0.0-rc.1', 'major', '2.0.0'],
    ['1.2.4-rc.1', 'patch', '1.2.4'],
  ] as const)('bumps %s by %s to %s', (from, level, to) => {
    expect(formatSemver(bumpSemver(v(from), level))).toBe(to);
  });

  it('reads a version request: a version with or without v, or a bump level', () => {
    expect(parseVersionRequest('v1.2.0', 'x')).toEqual({ kind: 'exact', version: '1.2.0' });
    expect(parseVersionRequest('minor', 'x')).toEqual({ kind: 'bump', level: 'minor' });
    expect(() => parseVersionRequest('1.2', "input 'version'")).toThrow(
      "input 'version': '1.2' is not a semantic version. Use MAJOR.MINOR.PATCH",
    );
  });

  it('reads release tags of both styles', () => {
    expect(parseReleaseTag('v1.2.3')).toEqual({ tag: 'v1.2.3', version: '1.2.3', model: undefined });
    expect(parseReleaseTag('tiny-lm@v1.2.3-rc.1')).toEqual({
      tag: 'tiny-lm@v1.2.3-rc.1',
      version: '1.2.3-rc.1',
      model: 'tiny-lm',
    });
    expect(parseReleaseTag('slmops-index')).toBeUndefined();
  });
});

describe('the version to publish', () => {
  const base = {
    name: 'tiny-lm',
    request: undefined,
    ref: undefined,
    releaseTags: [],
    subject: "input 'version'",
  };

  it('comes from the pushed tag, in either style', () => {
    expect(resolveVersion({ ...base, ref: 'refs/tags/v1.4.0' })).toEqual({
      version: '1.4.0',
      tag: 'v1.4.0',
      source: 'tag',
    });
    expect(resolveVersion({ ...base, ref: 'refs/tags/tiny-lm@v1.4.0' })).toEqual({
      version: '1.4.0',
      tag: 'tiny-lm@v1.4.0',
      source: 'tag',
    });
  });

  it('refuses a version tag that is not semver, and a tag of another model', () => {
    expect(() => resolveVersion({ ...base, ref: 'refs/tags/v1.4' })).toThrow(
      'GITHUB_REF: tag v1.4 is not a semantic version',
    );
    expect(() => resolveVersion({ ...base, ref: 'refs/tags/other@v1.4.0' })).toThrow(
      'GITHUB_REF: tag other@v1.4.0 is for model other, not tiny-lm',
    );
  });

  it('refuses a requested version that contradicts the pushed tag', () => {
    expect(() =>
      resolveVersion({ ...base, ref: 'refs/tags/v1.4.0', request: { kind: 'exact', version: '1.5.0' } }),
    ).toThrow("input 'version': asks for version 1.5.0 but the run was triggered by tag v1.4.0");
  });

  it('says how to give a version when a branch push has none', () => {
    expect(() => resolveVersion({ ...base, ref: 'refs/heads/main' })).toThrow(
      "input 'version': no version given and the run was not triggered by a tag (ref refs/heads/main). Push a tag such as v1.2.0 or tiny-lm@v1.2.0",
    );
  });

  it('bumps the highest release of the model, in the tag style it already uses', () => {
    const releaseTags = ['v9.0.0', 'tiny-lm@v1.2.0', 'tiny-lm@v1.10.0', 'other@v5.0.0', 'slmops-index'];
    expect(resolveVersion({ ...base, releaseTags, request: { kind: 'bump', level: 'patch' } })).toEqual({
      version: '1.10.1',
      tag: 'tiny-lm@v1.10.1',
      source: 'bump',
    });
    expect(
      resolveVersion({
        ...base,
        releaseTags: ['v0.3.0', 'v0.2.9'],
        request: { kind: 'bump', level: 'major' },
      }),
    ).toEqual({
      version: '1.0.0',
      tag: 'v1.0.0',
      source: 'bump',
    });
    expect(resolveVersion({ ...base, request: { kind: 'bump', level: 'minor' } }).version).toBe('0.1.0');
  });

  it('uses the requested version with the plain tag style when the model has no earlier releases', () => {
    expect(resolveVersion({ ...base, request: { kind: 'exact', version: '2.0.0' } })).toEqual({
      version: '2.0.0',
      tag: 'v2.0.0',
      source: 'input',
    });
  });
});
