/** manifest.json (`slmops.manifest/v1`): what a bundle holds, written the same way for the same inputs. */
import { validateDocument } from '../config/load.ts';
import type { Manifest } from '../config/types.ts';
import { ConfigurationError } from '../errors.ts';
import { LOCKED_RUNTIME } from '../runtime/lock.generated.ts';
import { VERSION } from '../version.ts';
import { type CollectedBundle, identityOf } from './bundle.ts';
import type { SourceInfo } from './source.ts';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_SCHEMA = 'slmops.manifest/v1';

function onnxruntimeVersion(): string | undefined {
  return LOCKED_RUNTIME.packages.find((p) => p.name === 'onnxruntime-node')?.version;
}

/** The manifest of a collected bundle. Keys are written in a fixed order; `createdAt` is the commit's time. */
export function buildManifest(bundle: CollectedBundle, version: string, source: SourceInfo): Manifest {
  const recipes = bundle.variants.filter((v) => v.recipe);
  const ort = onnxruntimeVersion();
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    name: bundle.name,
    version,
    identity: bundle.identity,
    files: bundle.files.map((f) => ({
      path: f.path,
      sha256: f.sha256,
      bytes: f.bytes,
      kind: f.kind,
      asset: f.asset,
      ...(f.parts ? { parts: f.parts.map((p) => ({ name: p.name, sha256: p.sha256, bytes: p.bytes })) } : {}),
    })),
    variants: bundle.variants.map((v) => ({
      id: v.id,
      path: v.path,
      ...(v.data.length > 0 ? { data: [...v.data] } : {}),
      ...(v.recipe ? { recipe: v.recipe } : {}),
    })),
    ...(recipes.length === 1 && recipes[0]?.recipe ? { recipe: recipes[0].recipe } : {}),
    source: { repository: source.repository, commit: source.commit, ref: source.ref },
    tools: { slmops: VERSION, ...(ort ? { onnxruntime: ort } : {}) },
    createdAt: source.time,
  };
  return validateDocument('manifest', manifest, 'the generated manifest.json');
}

/** The bytes of manifest.json: two-space JSON and a final newline. */
export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8');
}

/**
 * Reads manifest.json bytes: valid JSON, valid against the schema, paths safe and unique, and an `identity`
 * that matches its files. `subject` names the source in errors.
 */
export function parseManifest(bytes: Uint8Array | string, subject: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new ConfigurationError(`is not JSON (${(error as Error).message})`, {
      subject,
      fix: 'The bundle is damaged: download or pack it again',
    });
  }
  const manifest = validateDocument('manifest', value, subject);
  const seen = new Set<string>();
  for (const file of manifest.files) {
    checkBundlePath(file.path, subject);
    if (isReservedBundlePath(file.path)) {
      throw new ConfigurationError(`lists ${file.path}, a path slmops keeps for itself`, {
        subject,
        fix: 'Pack the bundle again without it (slmops pack writes manifest.json and .slmops/ itself)',
      });
    }
    if (seen.has(file.path)) {
      throw new ConfigurationError(`lists ${file.path} twice`, { subject, fix: 'The bundle is damaged' });
    }
    seen.add(file.path);
    if (file.parts) {
      const sum = file.parts.reduce((n, p) => n + p.bytes, 0);
      if (sum !== file.bytes) {
        throw new ConfigurationError(`the parts of ${file.path} add up to ${sum} bytes, not ${file.bytes}`, {
          subject,
          fix: 'The bundle is damaged',
        });
      }
    }
  }
  for (const file of manifest.files) {
    const segments = file.path.split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join('/');
      if (seen.has(folder)) {
        throw new ConfigurationError(`lists ${folder} as a file and as the folder of ${file.path}`, {
          subject,
          fix: 'No folder can hold both: pack the bundle again with one of them renamed',
        });
      }
    }
  }
  if (manifest.identity !== undefined && identityOf(manifest.files) !== manifest.identity) {
    throw new ConfigurationError('its identity does not match the files it lists (the manifest was edited)', {
      subject,
      fix: 'Do not trust this bundle: download it again from the release',
    });
  }
  return manifest;
}

/**
 * A path a bundle may hold: relative, `/`-separated, no empty, `.` or `..` segment, no backslash, colon or control
 * character (nothing that could land outside the folder it is unpacked into, on any OS).
 */
export function isSafeBundlePath(p: string): boolean {
  if (p === '' || p.length > 4096) return false;
  if (p.startsWith('/') || /[\\:\p{Cc}]/u.test(p)) return false;
  return p.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Paths slmops writes into a bundle or a pulled folder itself: never a file of the bundle. */
export function isReservedBundlePath(p: string): boolean {
  return p === MANIFEST_FILE || p === '.slmops' || p.startsWith('.slmops/');
}

export function checkBundlePath(p: string, subject: string): void {
  if (!isSafeBundlePath(p)) {
    throw new ConfigurationError(
      `holds the unsafe path "${p}" (absolute, with "..", or with characters no folder may hold)`,
      {
        subject,
        fix: 'Do not unpack this bundle: it may try to write outside its folder',
      },
    );
  }
}
