import { mkdir, readFile } from 'node:fs/promises';
import { extract } from 'tar';
import type { RuntimePlatform } from './platform.ts';

const NAPI_BINARIES = /^package\/bin\/napi-v\d+\/([^/]+)(?:\/([^/]+))?/;

/**
 * Whether a tarball entry is kept: everything under `package/` except the native binaries of other platforms
 * (`package/bin/napi-v6/<platform>/<arch>/…`), which are ~240 MB of the 288 MB onnxruntime-node package.
 */
export function keepEntry(entryPath: string, platform: Pick<RuntimePlatform, 'platform' | 'arch'>): boolean {
  const p = entryPath.replace(/^\.\//, '');
  if (!p.startsWith('package/')) return false;
  const binary = NAPI_BINARIES.exec(p);
  if (!binary) return true;
  return binary[1] === platform.platform && (binary[2] === undefined || binary[2] === platform.arch);
}

/**
 * Extracts an npm tarball into `destDir` (created), stripping `package/` and dropping other platforms' binaries.
 * Returns the name and version of the package.json it held.
 */
export async function extractPackage(
  tarball: string,
  destDir: string,
  platform: Pick<RuntimePlatform, 'platform' | 'arch'>,
): Promise<{ name: string; version: string }> {
  await mkdir(destDir, { recursive: true });
  await extract({
    file: tarball,
    cwd: destDir,
    strip: 1,
    filter: (entryPath) => keepEntry(entryPath, platform),
    preserveOwner: false,
  });
  const manifest = JSON.parse(await readFile(`${destDir}/package.json`, 'utf8')) as {
    name?: unknown;
    version?: unknown;
  };
  return { name: String(manifest.name), version: String(manifest.version) };
}
