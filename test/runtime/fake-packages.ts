/**
 * Small stand-ins for the onnxruntime npm tarballs: the same layout (`package/…`, binaries under
 * `package/bin/napi-v6/<platform>/<arch>/`), a few bytes each, and a lock that matches them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { create } from 'tar';
import { fileIntegrity, formatIntegrity } from '../../src/runtime/integrity.ts';
import { type LockedPackage, type LockedRuntime, packFileName } from '../../src/runtime/lock.ts';

export const FAKE_PLATFORMS = ['darwin/arm64', 'linux/arm64', 'linux/x64', 'win32/x64'];
export const FAKE_VERSION = '9.9.9';

/** Writes an npm-style tarball of `files` (paths under `package/`) to `file`. */
export async function writeTarball(file: string, files: Record<string, string>): Promise<void> {
  const staging = await mkdtemp(path.join(os.tmpdir(), 'slmops-fake-pkg-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(staging, 'package', name)), { recursive: true });
      await writeFile(path.join(staging, 'package', name), content);
    }
    await create({ gzip: true, file, cwd: staging, portable: true, mtime: new Date(0) }, ['package']);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export function nodePackageFiles(
  version = FAKE_VERSION,
  platforms = FAKE_PLATFORMS,
  name = 'onnxruntime-node',
): Record<string, string> {
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name, version, main: 'dist/index.js' }),
    'dist/index.js': 'module.exports = { fake: true };\n',
  };
  for (const pair of platforms) files[`bin/napi-v6/${pair}/onnxruntime_binding.node`] = `binding for ${pair}`;
  return files;
}

export function commonPackageFiles(version = FAKE_VERSION): Record<string, string> {
  return {
    'package.json': JSON.stringify({ name: 'onnxruntime-common', version }),
    'dist/cjs/index.js': 'module.exports = {};\n',
  };
}

/** A folder holding the two fake tarballs (npm pack names) and the lock that matches their bytes. */
export async function fakeRuntime(dir: string): Promise<{ tarballs: string; lock: LockedRuntime }> {
  const tarballs = path.join(dir, 'tarballs');
  await mkdir(tarballs, { recursive: true });
  const packages: LockedPackage[] = [];
  for (const [name, files] of [
    ['onnxruntime-node', nodePackageFiles()],
    ['onnxruntime-common', commonPackageFiles()],
  ] as const) {
    const base = { name, version: FAKE_VERSION, tarball: `${name}/-/${name}-${FAKE_VERSION}.tgz` };
    const file = path.join(tarballs, packFileName(base));
    await writeTarball(file, files);
    packages.push({ ...base, integrity: formatIntegrity(await fileIntegrity(file)) });
  }
  return { tarballs, lock: { packages, platforms: FAKE_PLATFORMS } };
}
