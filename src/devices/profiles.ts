/**
 * Device profiles: the built-in ones (`profiles/*.json`, imported here so the bundles carry them) and the resolution
 * of what a user writes where a profile goes — a built-in id (`raspberry-pi-5`) or the path of their own profile file
 * (`./my-device.json`) — to a validated `ProfileDocument`.
 */
import { isAbsolute, join } from 'node:path';
import githubUbuntuArm64 from '../../profiles/github-ubuntu-arm64.json' with { type: 'json' };
import githubUbuntuX64 from '../../profiles/github-ubuntu-x64.json' with { type: 'json' };
import intelN100 from '../../profiles/intel-n100.json' with { type: 'json' };
import jetsonOrinNano from '../../profiles/jetson-orin-nano.json' with { type: 'json' };
import raspberryPi4 from '../../profiles/raspberry-pi-4.json' with { type: 'json' };
import raspberryPi5 from '../../profiles/raspberry-pi-5.json' with { type: 'json' };
import rk3588 from '../../profiles/rk3588.json' with { type: 'json' };
import snapdragon7Gen1 from '../../profiles/snapdragon-7-gen-1.json' with { type: 'json' };
import x86LaptopI51235u from '../../profiles/x86-laptop-i5-1235u.json' with { type: 'json' };
import { loadProfile, validateDocument } from '../config/load.ts';
import { didYouMean } from '../config/suggest.ts';
import type { ProfileDocument } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';

/** The built-in profiles as their files hold them, in the order `slmops profiles` lists them. */
const BUILT_IN_FILES: readonly (readonly [file: string, document: unknown])[] = [
  ['raspberry-pi-4.json', raspberryPi4],
  ['raspberry-pi-5.json', raspberryPi5],
  ['jetson-orin-nano.json', jetsonOrinNano],
  ['rk3588.json', rk3588],
  ['snapdragon-7-gen-1.json', snapdragon7Gen1],
  ['intel-n100.json', intelN100],
  ['x86-laptop-i5-1235u.json', x86LaptopI51235u],
  ['github-ubuntu-x64.json', githubUbuntuX64],
  ['github-ubuntu-arm64.json', githubUbuntuArm64],
];

let builtIns: readonly ProfileDocument[] | undefined;

/** The validated built-ins, without the `$schema` editor hint (a path that only means something in the repo). */
function builtInProfiles(): readonly ProfileDocument[] {
  builtIns ??= BUILT_IN_FILES.map(([file, document]) => {
    const { $schema: _editorHint, ...rest } = document as Record<string, unknown>;
    try {
      return validateDocument('profile', rest, `profiles/${file}`);
    } catch (error) {
      // A broken built-in is a bug in slmops, not something the user can fix: exit 3, not 2.
      throw new Error(`built-in profile ${(error as Error).message}`, { cause: error });
    }
  });
  return builtIns;
}

/** Every built-in profile (fresh copies: callers may change them). */
export function listProfiles(): ProfileDocument[] {
  return builtInProfiles().map((profile) => structuredClone(profile));
}

/** The ids of the built-in profiles. */
export function builtInProfileIds(): string[] {
  return builtInProfiles().map((profile) => profile.id);
}

/**
 * Whether a profile reference names a file rather than a built-in id: it ends in .json, .yml or .yaml, or contains a
 * path separator (`./my-device`, `profiles/lab/pi5`).
 */
export function isProfilePath(reference: string): boolean {
  return /\.(json|ya?ml)$/i.test(reference) || /[\\/]/.test(reference);
}

/**
 * Resolves what a user wrote where a profile goes: a built-in id, or the path of a profile file (see `isProfilePath`),
 * relative paths taken from `baseDir` (default: the working directory) and loaded with `loadProfile`. An unknown id
 * is a `ConfigurationError` that lists the built-in ids and suggests the closest.
 */
export async function resolveProfile(idOrPath: string, baseDir?: string): Promise<ProfileDocument> {
  const reference = idOrPath.trim();
  if (isProfilePath(reference)) {
    const path = baseDir === undefined || isAbsolute(reference) ? reference : join(baseDir, reference);
    return loadProfile(path);
  }
  const ids = builtInProfileIds();
  const found = builtInProfiles().find((profile) => profile.id === reference);
  if (found) return structuredClone(found);
  const fix =
    'Use a built-in profile id or the path of your own profile file (./my-device.json, see docs/profiles.md); `slmops profiles` lists the built-ins with their figures';
  if (reference === '') throw new ConfigurationError('the device profile is empty', { fix });
  throw new ConfigurationError(
    `unknown device profile "${reference}"${didYouMean(reference, ids)}; built-in profiles: ${ids.join(', ')}`,
    { fix },
  );
}

// -----------------------------------------------------------------------------------------------------------------
// Citations: every figure of a profile says where it comes from

/** The fields a profile must cite besides its numbers. */
const CITED_NON_NUMERIC = ['isaFeatures'];

/** Top-level fields that hold no device figures to cite. */
const UNCITED_FIELDS = new Set(['$schema', 'sources', 'calibration']);

/**
 * What is wrong with a profile's `sources`, one line per problem (empty: every figure is cited). A number anywhere in
 * the profile (outside `sources` and `calibration`) needs a source entry whose `field` is its path and whose `value`
 * is that number; `isaFeatures` needs one too; every entry must cite a field the profile has; derived and assumed
 * figures must say how (`derivation`). Built-in profiles have none of these problems; a user's own profile may.
 */
export function citationProblems(profile: ProfileDocument): string[] {
  const problems: string[] = [];
  const figures = new Map<string, unknown>();
  collectFigures(profile, '', figures);
  const cited = new Map(profile.sources.map((entry) => [entry.field, entry]));

  for (const [path, value] of figures) {
    if (typeof value !== 'number') continue;
    const entry = cited.get(path);
    if (entry === undefined) problems.push(`${path}: ${value} has no entry in sources`);
    else if (entry.value !== value)
      problems.push(`${path}: is ${value}, but its source entry says ${JSON.stringify(entry.value)}`);
  }
  for (const field of CITED_NON_NUMERIC) {
    if (figures.has(field) && !cited.has(field)) problems.push(`${field}: has no entry in sources`);
  }
  profile.sources.forEach((entry, index) => {
    if (!figures.has(entry.field))
      problems.push(`sources[${index}]: cites "${entry.field}", which is not a field of this profile`);
    if ((entry.kind === 'derived' || entry.kind === 'assumed') && !entry.derivation?.trim())
      problems.push(`sources[${index}] (${entry.field}): a ${entry.kind} figure needs its derivation`);
  });
  return problems;
}

/** Records every field path (`clusters[0].peaks.fp32GflopsPerCore`) with its value, containers included. */
function collectFigures(value: unknown, path: string, into: Map<string, unknown>): void {
  if (path !== '') into.set(path, value);
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item !== 'object' || item === null)) return; // a list of values: one figure
    for (const [index, item] of value.entries()) collectFigures(item, `${path}[${index}]`, into);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    if (path === '' && UNCITED_FIELDS.has(key)) continue;
    collectFigures(child, path === '' ? key : `${path}.${key}`, into);
  }
}
