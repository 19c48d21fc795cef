/**
 * Versions of published bundles: semantic versions (semver.org 2.0.0), the tags they are released under
 * (`v1.2.3`, or `<model>@v1.2.3` when one repository releases several models), and bumps from the last release.
 */
import { ConfigurationError } from '../errors.ts';

export interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Dot-separated pre-release identifiers (`rc.1` → `['rc', '1']`); empty for a release. */
  readonly prerelease: readonly string[];
  /** Build metadata (ignored in comparisons). */
  readonly build: string | undefined;
}

export type BumpLevel = 'patch' | 'minor' | 'major';
export const BUMP_LEVELS: readonly BumpLevel[] = ['patch', 'minor', 'major'];

const NUMBER = '0|[1-9]\\d*';
const PRE_ID = `(?:${NUMBER}|\\d*[a-zA-Z-][0-9a-zA-Z-]*)`;
const SEMVER = new RegExp(
  `^(${NUMBER})\\.(${NUMBER})\\.(${NUMBER})(?:-(${PRE_ID}(?:\\.${PRE_ID})*))?(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$`,
);

/** Parses `1.2.3`, `1.2.3-rc.1`, `1.2.3+build.5` (no leading `v`); undefined when it is not a semantic version. */
export function parseSemver(text: string): SemVer | undefined {
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { major, minor, patch, prerelease: m[4] ? m[4].split('.') : [], build: m[5] };
}

export function formatSemver(v: SemVer): string {
  const pre = v.prerelease.length > 0 ? `-${v.prerelease.join('.')}` : '';
  return `${v.major}.${v.minor}.${v.patch}${pre}${v.build ? `+${v.build}` : ''}`;
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Math.sign(Number(a) - Number(b));
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence: negative when a < b, 0 when equal (build metadata ignored), positive when a > b. */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (const key of ['major', 'minor', 'patch'] as const) {
    if (a[key] !== b[key]) return Math.sign(a[key] - b[key]);
  }
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return Math.sign(b.prerelease.length - a.prerelease.length);
  }
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = compareIdentifiers(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The next version (as `npm version`): a pre-release is finished by the bump that reaches it (`1.3.0-rc.1` + minor
 * → `1.3.0`), otherwise the level is incremented and the lower ones reset.
 */
export function bumpSemver(v: SemVer, level: BumpLevel): SemVer {
  const pre = v.prerelease.length > 0;
  const base = { prerelease: [], build: undefined };
  switch (level) {
    case 'major':
      if (pre && v.minor === 0 && v.patch === 0) return { ...v, ...base };
      return { major: v.major + 1, minor: 0, patch: 0, ...base };
    case 'minor':
      if (pre && v.patch === 0) return { ...v, ...base };
      return { major: v.major, minor: v.minor + 1, patch: 0, ...base };
    case 'patch':
      if (pre) return { ...v, ...base };
      return { major: v.major, minor: v.minor, patch: v.patch + 1, ...base };
  }
}

/** What the user asked for: an exact version, or a bump from the last release. */
export type VersionRequest =
  | { readonly kind: 'exact'; readonly version: string }
  | { readonly kind: 'bump'; readonly level: BumpLevel };

/** Reads `1.2.3`, `v1.2.3`, `patch`, `minor` or `major`; anything else is refused, naming `subject`. */
export function parseVersionRequest(raw: string, subject: string): VersionRequest {
  const text = raw.trim();
  if ((BUMP_LEVELS as readonly string[]).includes(text)) return { kind: 'bump', level: text as BumpLevel };
  const bare = text.startsWith('v') ? text.slice(1) : text;
  const parsed = parseSemver(bare);
  if (!parsed) {
    throw new ConfigurationError(`'${raw}' is not a semantic version`, {
      subject,
      fix: 'Use MAJOR.MINOR.PATCH such as 1.2.0 or v1.2.0-rc.1, or patch, minor or major to bump the last release',
    });
  }
  return { kind: 'exact', version: formatSemver(parsed) };
}

/** A release tag read back: the version, and the model name when the tag is `<model>@v1.2.3`. */
export interface ParsedTag {
  readonly tag: string;
  readonly version: string;
  readonly model: string | undefined;
}

/** Parses `v1.2.3` and `<model>@v1.2.3` (also without the `v`); undefined for other tags. */
export function parseReleaseTag(tag: string): ParsedTag | undefined {
  const at = tag.lastIndexOf('@');
  const model = at > 0 ? tag.slice(0, at) : undefined;
  const rest = at > 0 ? tag.slice(at + 1) : tag;
  const bare = rest.startsWith('v') ? rest.slice(1) : rest;
  const parsed = parseSemver(bare);
  if (!parsed) return undefined;
  return { tag, version: formatSemver(parsed), model };
}

export function tagFor(name: string, version: string, style: 'plain' | 'model'): string {
  return style === 'model' ? `${name}@v${version}` : `v${version}`;
}

export interface ResolvedVersion {
  readonly version: string;
  readonly tag: string;
  readonly source: 'input' | 'tag' | 'bump';
}

export interface ResolveVersionOptions {
  readonly name: string;
  /** From the `version` input or `--version`. */
  readonly request: VersionRequest | undefined;
  /** The ref that triggered the run (`GITHUB_REF`), e.g. `refs/tags/v1.2.3`. */
  readonly ref: string | undefined;
  /** Tags of the repository's published releases (for bumps and the tag style). */
  readonly releaseTags: readonly string[];
  /** Names the version's origin in errors (`input 'version'`, `--version`). */
  readonly subject: string;
}

/**
 * The version to publish and its tag: the requested version, else the pushed tag, else a bump of the last
 * release of this model. The tag style follows the pushed tag, else the model's earlier releases
 * (`<model>@v…` when it has any), else `v1.2.3`.
 */
export function resolveVersion(options: ResolveVersionOptions): ResolvedVersion {
  const { name, request, ref, subject } = options;
  const fromRef = versionFromRef(ref, name);
  const parsedTags = options.releaseTags.map(parseReleaseTag).filter((t) => t !== undefined);
  const mine = parsedTags.filter((t) => t.model === name);
  const style: 'plain' | 'model' = fromRef
    ? fromRef.model === undefined
      ? 'plain'
      : 'model'
    : mine.length > 0
      ? 'model'
      : 'plain';

  if (request?.kind === 'exact') {
    if (fromRef && fromRef.version !== request.version) {
      throw new ConfigurationError(
        `asks for version ${request.version} but the run was triggered by tag ${fromRef.tag} (version ${fromRef.version})`,
        { subject, fix: 'Leave the version empty to publish the tag, or run from a branch' },
      );
    }
    return {
      version: request.version,
      tag: fromRef?.tag ?? tagFor(name, request.version, style),
      source: 'input',
    };
  }
  if (request?.kind === 'bump') {
    const candidates = style === 'model' ? mine : parsedTags.filter((t) => t.model === undefined);
    const last = candidates
      .map((t) => parseSemver(t.version) as SemVer)
      .sort(compareSemver)
      .at(-1);
    const next = formatSemver(
      bumpSemver(last ?? { major: 0, minor: 0, patch: 0, prerelease: [], build: undefined }, request.level),
    );
    return { version: next, tag: tagFor(name, next, style), source: 'bump' };
  }
  if (fromRef) return { version: fromRef.version, tag: fromRef.tag, source: 'tag' };
  throw new ConfigurationError(
    ref?.startsWith('refs/tags/')
      ? `no version given and tag ${ref.slice('refs/tags/'.length)} is not a version tag`
      : `no version given and the run was not triggered by a tag (ref ${ref ?? 'unknown'})`,
    {
      subject,
      fix: `Push a tag such as v1.2.0 or ${name}@v1.2.0, or give a version (1.2.0) or a bump (patch, minor, major)`,
    },
  );
}

/**
 * The version a tag ref names: `refs/tags/v1.2.3` or `refs/tags/<name>@v1.2.3`. Undefined for branches and other
 * refs; a version tag of another model, or a `v…` tag that is not semver, is refused.
 */
export function versionFromRef(ref: string | undefined, name: string): ParsedTag | undefined {
  if (!ref?.startsWith('refs/tags/')) return undefined;
  const tag = ref.slice('refs/tags/'.length);
  const parsed = parseReleaseTag(tag);
  if (!parsed) {
    if (/^(?:[^@]+@)?v\d/.test(tag)) {
      throw new ConfigurationError(`tag ${tag} is not a semantic version`, {
        subject: 'GITHUB_REF',
        fix: 'Tag versions as v1.2.3 (or <model>@v1.2.3), e.g. v1.2.0 or v1.2.0-rc.1',
      });
    }
    return undefined;
  }
  if (parsed.model !== undefined && parsed.model !== name) {
    throw new ConfigurationError(`tag ${tag} is for model ${parsed.model}, not ${name}`, {
      subject: 'GITHUB_REF',
      fix: `Push ${name}@v${parsed.version}, or set the model name to ${parsed.model}`,
    });
  }
  return parsed;
}
