/**
 * The keys that join documents across jobs: model id, variant id, profile id, and the slug that turns any of them
 * into a file or artifact name. See docs/contracts.md.
 */
import { createHash } from 'node:crypto';
import { formatRecipeSpec, parseRecipeSpec, type Recipe } from '../compress/recipe-spec.ts';
import { ConfigurationError } from '../errors.ts';

export { ExitCode, exitCodeOf } from '../errors.ts';

/** A model id: no `@` (it separates the model id from the recipe in a variant id), no whitespace or control chars. */
const MODEL_ID = /^[^@\s\p{Cc}]+$/u;

/** File stems that say nothing about the model; the folder names it instead. */
const GENERIC_STEMS = new Set(['model']);

/**
 * The model id: the config `name` when given; otherwise the model file's stem (`models/tiny.onnx` → `tiny`), except
 * that the generic stem `model` is replaced by the name of the folder holding the file
 * (`models/tiny-lm/model.onnx` → `tiny-lm`, as Hugging Face ONNX exports are laid out). A bare `model.onnx` with no
 * folder in the path stays `model`. Only the last extension is dropped (`tiny.int8.onnx` → `tiny.int8`).
 */
export function modelId(configName: string | undefined, modelPath: string): string {
  if (configName !== undefined && configName !== '') {
    return checkModelId(
      configName,
      'the config "name"',
      'Choose a name without "@", spaces or control characters',
    );
  }
  const parts = modelPath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  const file = parts.at(-1) ?? '';
  const dot = file.lastIndexOf('.');
  let stem = dot > 0 ? file.slice(0, dot) : file;
  if (GENERIC_STEMS.has(stem.toLowerCase())) {
    const folder = parts.at(-2);
    if (folder !== undefined && folder !== '..') stem = folder;
  }
  if (stem === '') {
    throw new ConfigurationError(`cannot derive a model id from the model path "${modelPath}"`, {
      subject: 'model',
      fix: 'Name the model (--name on the command line, `name` in the action or recipe), or rename its file or folder',
    });
  }
  return checkModelId(
    stem,
    `the model path "${modelPath}"`,
    'Name the model without them (--name on the command line, `name` in the action or recipe), or rename its file or folder',
  );
}

function checkModelId(id: string, source: string, fix: string): string {
  if (!MODEL_ID.test(id)) {
    throw new ConfigurationError(
      `model id "${id}" from ${source} contains "@", whitespace or control characters`,
      {
        subject: 'model id',
        fix,
      },
    );
  }
  return id;
}

/**
 * The variant id: `${modelId}@${canonical recipe spec}` (`tiny-lm@int4:block=32,sym,acc=0`), or just the model id
 * when there is no recipe (the uncompressed model). A spec string is parsed first, so equal recipes give equal ids
 * however they were written.
 */
export function variantId(model: string, recipe?: Recipe | string): string {
  if (recipe === undefined) return model;
  const parsed = typeof recipe === 'string' ? parseRecipeSpec(recipe) : recipe;
  if (parsed.passes.length === 0) return model;
  return `${model}@${formatRecipeSpec(parsed)}`;
}

/** Splits a variant id at its first `@` (model ids never contain one). */
export function parseVariantId(id: string): { modelId: string; recipeSpec?: string } {
  const at = id.indexOf('@');
  return at < 0 ? { modelId: id } : { modelId: id.slice(0, at), recipeSpec: id.slice(at + 1) };
}

/** Profile ids: lowercase letters, digits, `-`, `.`, `_`, starting with a letter or digit; at most 64 characters. */
export const PROFILE_ID = /^[a-z0-9][a-z0-9._-]*$/;
export const PROFILE_ID_MAX_LENGTH = 64;

export function isProfileId(id: string): boolean {
  return id.length <= PROFILE_ID_MAX_LENGTH && PROFILE_ID.test(id);
}

/** Returns `id` when it is a valid profile id, else throws a `ConfigurationError` naming `subject`. */
export function assertProfileId(id: string, subject = 'profile id'): string {
  if (isProfileId(id)) return id;
  const lower = id
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  const hint = lower !== '' && lower !== id && isProfileId(lower) ? ` such as "${lower}"` : '';
  throw new ConfigurationError(
    `"${id}" is not a valid profile id: use lowercase letters, digits, "-", "." and "_", starting with a letter or digit, at most ${PROFILE_ID_MAX_LENGTH} characters`,
    { subject, fix: `Rename the profile${hint}` },
  );
}

/** Longest slug `slug()` returns. */
export const SLUG_MAX_LENGTH = 200;
const HASH_LENGTH = 10;
/** Device names Windows refuses as file names, with or without an extension. */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/**
 * A name safe for files and GitHub artifacts, readable and unique per id:
 * - characters other than letters, digits and `. _ - @ = , +` become `_` (`:` `/` `\` `"` `<` `>` `|` `*` `?`, `~`,
 *   non-ASCII, ...), whitespace becomes `-`; a leading or trailing `.` becomes `_` (no `.`/`..`, no hidden files);
 * - when anything was replaced, the id is a Windows device name (`con`, `nul.json`), or it is longer than 200 characters (then it is cut), `~` and the first 10 hex
 *   digits of the id's sha256 are appended: `tiny-lm@int4:block=32,sym,acc=0` → `tiny-lm@int4_block=32,sym,acc=0~<hash>`.
 * An id that needed no change is its own slug and never contains `~`, while every changed one ends in `~<hash>`, so
 * two different ids only share a slug if their hashes collide. The result is at most 200 characters.
 */
export function slug(id: string): string {
  if (id === '')
    throw new ConfigurationError('cannot make a file name from an empty id', { subject: 'slug' });
  let safe = id.replace(/\s/gu, '-').replace(/[^A-Za-z0-9._@=,+-]/gu, '_');
  safe = safe
    .replace(/^\.+/, (dots) => '_'.repeat(dots.length))
    .replace(/\.+$/, (dots) => '_'.repeat(dots.length));
  if (safe === id && id.length <= SLUG_MAX_LENGTH && !WINDOWS_RESERVED.test(id)) return id;
  const hash = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  const head = [...safe].slice(0, SLUG_MAX_LENGTH - HASH_LENGTH - 1).join('');
  return `${head}~${hash}`;
}
