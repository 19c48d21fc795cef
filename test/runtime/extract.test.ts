import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { extractPackage, keepEntry } from '../../src/runtime/extract.ts';
import { nodePackageFiles, writeTarball } from './fake-packages.ts';

const linuxArm = { platform: 'linux', arch: 'arm64' };

describe('keepEntry', () => {
  it.each([
    ['package/package.json', true],
    ['package/dist/index.js', true],
    ['package/bin/napi-v6/linux/arm64/libonnxruntime.so.1', true],
    ['package/bin/napi-v6/linux/arm64/onnxruntime_binding.node', true],
    ['package/bin/napi-v6/linux/x64/onnxruntime_binding.node', false],
    ['package/bin/napi-v6/darwin/arm64/libonnxruntime.1.dylib', false],
    ['package/bin/napi-v6/win32/arm64/DirectML.dll', false],
    ['package/bin/napi-v6/linux/', true],
    ['package/bin/napi-v6/darwin/', false],
    ['package/bin/napi-v6/linux/x64/', false],
    ['package/bin/napi-v6/', true],
    ['./package/README.md', true],
    ['other/file', false],
    ['package.json', false],
  ])('%s → %s (on linux/arm64)', (entry, kept) => {
    expect(keepEntry(entry, linuxArm)).toBe(kept);
  });
});

describe('extractPackage', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('strips package/ and keeps only the binaries of the given platform', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'slmops-extract-'));
    const tarball = path.join(dir, 'pkg.tgz');
    await writeTarball(tarball, nodePackageFiles('1.2.3'));
    const dest = path.join(dir, 'out', 'node_modules', 'onnxruntime-node');
    expect(await extractPackage(tarball, dest, linuxArm)).toEqual({
      name: 'onnxruntime-node',
      version: '1.2.3',
    });
    expect(existsSync(path.join(dest, 'dist/index.js'))).toBe(true);
    expect(readdirSync(path.join(dest, 'bin/napi-v6'))).toEqual(['linux']);
    expect(readdirSync(path.join(dest, 'bin/napi-v6/linux'))).toEqual(['arm64']);
  });
});
