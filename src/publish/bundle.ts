/**
 * What goes into a bundle: every ONNX model below a folder with its external data, optional extra files (tokenizer,
 * model card), and the compress reports found next to the models. Each file gets its bundle path, sha256, size,
 * release asset name, and parts when it is larger than one release asset may be.
 */

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import { validateDocument } from '../config/load.ts';
import type { CompressReport } from '../config/types.ts';
import { modelId } from '../contracts/ids.ts';
import { ConfigurationError } from '../errors.ts';
import { readModel } from '../onnx/read.ts';
import { digestFile } from './digest.ts';
import { isReservedBundlePath } from './manifest.ts';

/** GitHub refuses release assets of 2 GiB and more; larger files are uploaded in parts of this size. */
export const DEFAULT_PART_BYTES = 2_000_000_000;
/** GitHub's limit for one asset (exclusive). */
export const MAX_ASSET_BYTES = 2 * 1024 ** 3;

export type FileKind = 'model' | 'data' | 'extra';

export interface BundlePart {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
  readonly sha256: string;
}

export interface BundleFile {
  /** Path inside the bundle, `/`-separated, relative. */
  readonly path: string;
  /** Absolute path of the file on disk. */
  readonly source: string;
  readonly bytes: number;
  readonly sha256: string;
  /** `model` an .onnx file, `data` its external data, `extra` a file given with --include. */
  readonly kind: FileKind;
  /** The release asset holding the file (or, with parts, the stem of the part names). */
  readonly asset: string;
  readonly parts?: readonly BundlePart[];
}

export interface BundleVariant {
  /** Variant id (`tiny-lm@int8`), from the compress report next to the model, else the model id. */
  readonly id: string;
  /** Bundle path of the .onnx file. */
  readonly path: string;
  readonly sha256: string;
  /** Bundle paths of its external data files. */
  readonly data: readonly string[];
  /** Bytes of the .onnx file and its external data. */
  readonly bytes: number;
  readonly recipe?: { spec: string; passes?: Record<string, unknown>[] };
  readonly compress?: CompressReport;
}

export interface CollectedBundle {
  readonly root: string;
  readonly name: string;
  /** Sorted by path (code-point order). */
  readonly files: readonly BundleFile[];
  readonly variants: readonly BundleVariant[];
  /** sha256 of the sorted `sha256  path` lines of the model and data files: what the release is. */
  readonly identity: string;
}

export interface CollectOptions {
  readonly dir: string;
  /** Model name; default the model id shared by the compress reports, else the folder's name. */
  readonly name?: string;
  /** Extra files: globs relative to `dir`, or paths of files elsewhere (placed at the bundle's root). */
  readonly include?: readonly string[];
  readonly partBytes?: number;
}

/** Names the release holds besides the bundle files. */
export const RESERVED_ASSETS = new Set(['manifest.json', 'results.json']);

const SKIPPED_DIRS = new Set(['node_modules', '.git']);

async function findModels(root: string): Promise<string[]> {
  const found: string[] = [];
  async function walk(dir: string): Promise<void> {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile() && entry.name.toLowerCase().endsWith('.onnx')) found.push(full);
    }
  }
  await walk(root);
  return found.sort();
}

/** The bundle path of a file below `root`, `/`-separated. */
function bundlePath(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}

export function byPath<T extends { path: string }>(a: T, b: T): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/**
 * The identity of a release: sha256 over `<sha256>  <path>\n` of its model and data files, sorted by path. Extra
 * files, the manifest and results do not change it.
 */
export function identityOf(files: readonly { path: string; sha256: string; kind?: string }[]): string {
  const lines = files
    .filter((f) => f.kind !== 'extra')
    .map((f) => ({ path: f.path, line: `${f.sha256}  ${f.path}\n` }))
    .sort(byPath)
    .map((f) => f.line)
    .join('');
  return createHash('sha256').update(lines, 'utf8').digest('hex');
}

/**
 * GitHub's renaming of asset names (characters other than letters, digits and `._+@-` become `.`, leading and
 * trailing dots go): the names slmops asks for are already in that form, so the name asked is the name given.
 */
export function assetNameFor(bundlePathText: string): string {
  return bundlePathText
    .replace(/\//g, '--')
    .replace(/[^A-Za-z0-9._+@-]/g, '.')
    .replace(/^\.+|\.+$/g, '');
}

function partName(asset: string, index: number): string {
  return `${asset}.part-${String(index + 1).padStart(3, '0')}`;
}

function loadCompressReport(file: string): CompressReport | undefined {
  if (!existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigurationError(`is not JSON (${(error as Error).message})`, {
      subject: file,
      fix: 'Remove it or write it again with slmops compress',
    });
  }
  return validateDocument('compress', value, file);
}

async function extraFiles(
  root: string,
  patterns: readonly string[],
): Promise<{ path: string; source: string }[]> {
  const out: { path: string; source: string }[] = [];
  for (const pattern of patterns) {
    const direct = path.resolve(root, pattern);
    let matches: string[];
    if (existsSync(direct) && statSync(direct).isFile()) matches = [direct];
    else if (existsSync(pattern) && statSync(pattern).isFile()) matches = [path.resolve(pattern)];
    else matches = (await glob(pattern, { cwd: root, absolute: true, dot: false, onlyFiles: true })).sort();
    if (matches.length === 0) {
      throw new ConfigurationError(`--include '${pattern}' matches no file`, {
        subject: root,
        fix: 'Give a file path or a glob relative to the model folder (e.g. tokenizer.json or */tokenizer*.json)',
      });
    }
    for (const file of matches) {
      const inside =
        !path.relative(root, file).startsWith('..') && !path.isAbsolute(path.relative(root, file));
      out.push({ source: file, path: inside ? bundlePath(root, file) : path.basename(file) });
    }
  }
  return out;
}

/** Gathers the files of a bundle and hashes them (streamed; large files are hashed per part in the same pass). */
export async function collectBundle(options: CollectOptions): Promise<CollectedBundle> {
  const root = path.resolve(options.dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ConfigurationError('is not a folder', {
      subject: options.dir,
      fix: 'Pass the folder holding the models (the compress output, e.g. slmops/variants)',
    });
  }
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  if (!Number.isSafeInteger(partBytes) || partBytes < 1 || partBytes >= MAX_ASSET_BYTES) {
    throw new ConfigurationError(`part size ${partBytes} is not between 1 byte and 2 GiB`, {
      subject: 'part size',
    });
  }
  const models = await findModels(root);
  if (models.length === 0) {
    throw new ConfigurationError('holds no .onnx model', {
      subject: options.dir,
      fix: 'Pass the folder the compress step wrote (one folder per variant with model.onnx), or a folder with a model',
    });
  }

  const planned = new Map<string, { source: string; kind: FileKind }>();
  const variants: { id: string; path: string; data: string[]; compress?: CompressReport }[] = [];
  for (const model of models) {
    const rel = bundlePath(root, model);
    planned.set(rel, { source: model, kind: 'model' });
    const data: string[] = [];
    for (const ext of readModel(model).externalFiles()) {
      const relData = bundlePath(root, ext.file);
      if (relData.startsWith('..') || path.isAbsolute(relData)) {
        throw new ConfigurationError(`external data ${ext.location} lies outside ${options.dir}`, {
          subject: model,
          fix: 'Keep external data next to the model, inside the folder you publish',
        });
      }
      if (!planned.has(relData)) planned.set(relData, { source: ext.file, kind: 'data' });
      data.push(relData);
    }
    const compress = loadCompressReport(path.join(path.dirname(model), 'compress-report.json'));
    variants.push({
      id: compress?.variantId ?? modelId(options.name, model),
      path: rel,
      data,
      ...(compress ? { compress } : {}),
    });
  }
  for (const extra of await extraFiles(root, options.include ?? [])) {
    if (isReservedBundlePath(extra.path)) {
      throw new ConfigurationError(
        `--include would put ${extra.path} in the bundle, a path slmops writes itself`,
        {
          subject: extra.source,
          fix: 'Leave it out (pack writes the manifest), or rename the file',
        },
      );
    }
    const existing = planned.get(extra.path);
    if (existing && existing.source !== extra.source) {
      throw new ConfigurationError(`two files would be ${extra.path} in the bundle`, {
        subject: extra.source,
        fix: 'Rename one of them, or include the one inside the model folder',
      });
    }
    if (!existing) planned.set(extra.path, { source: extra.source, kind: 'extra' });
  }

  const usedAssets = new Set(RESERVED_ASSETS);
  const files: BundleFile[] = [];
  const sortedPaths = [...planned.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const rel of sortedPaths) {
    const plan = planned.get(rel) as { source: string; kind: FileKind };
    const digest = await digestFile(plan.source, partBytes);
    let asset = assetNameFor(rel);
    const names = (a: string) => (digest.parts ? digest.parts.map((_, i) => partName(a, i)) : [a]);
    if (asset === '' || /^index/i.test(asset) || names(asset).some((n) => usedAssets.has(n))) {
      asset = `${createHash('sha256').update(rel).digest('hex').slice(0, 8)}-${asset || 'file'}`;
    }
    for (const n of names(asset)) usedAssets.add(n);
    files.push({
      path: rel,
      source: plan.source,
      bytes: digest.bytes,
      sha256: digest.sha256,
      kind: plan.kind,
      asset,
      ...(digest.parts
        ? {
            parts: digest.parts.map((p, i) => ({
              name: partName(asset, i),
              offset: p.offset,
              bytes: p.bytes,
              sha256: p.sha256,
            })),
          }
        : {}),
    });
  }
  const byRel = new Map(files.map((f) => [f.path, f]));
  const finished: BundleVariant[] = variants.map((v) => ({
    id: v.id,
    path: v.path,
    sha256: byRel.get(v.path)?.sha256 ?? '',
    data: v.data,
    bytes: [v.path, ...v.data].reduce((n, p) => n + (byRel.get(p)?.bytes ?? 0), 0),
    ...(v.compress
      ? { recipe: { spec: v.compress.recipe.spec, passes: v.compress.recipe.passes }, compress: v.compress }
      : {}),
  }));
  return {
    root,
    name: bundleName(options, root, finished),
    files,
    variants: finished,
    identity: identityOf(files),
  };
}

function bundleName(options: CollectOptions, root: string, variants: readonly BundleVariant[]): string {
  if (options.name) return modelId(options.name, 'model.onnx');
  const fromReports = new Set(variants.map((v) => v.compress?.modelId).filter((id) => id !== undefined));
  if (fromReports.size === 1) return [...fromReports][0] as string;
  if (variants.length === 1 && variants[0]) return variants[0].id.split('@')[0] as string;
  return modelId(undefined, path.join(root, 'model.onnx'));
}
