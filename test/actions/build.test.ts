import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionNames } from '../harness/action-docs.ts';
import { loadBuildScript, repoRoot } from '../harness/prepare.ts';

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`],
  );
}

describe('scripts/build.mjs', () => {
  let root: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'slmops-build-'));
    first = path.join(root, 'first');
    second = path.join(root, 'second');
    const { build } = await loadBuildScript();
    await build({ outDir: first, generateLock: false });
    await mkdir(second);
    writeFileSync(path.join(second, 'stale.js'), 'left over from an old build');
    await build({ outDir: second, generateLock: false });
  }, 60_000);

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('builds one bundle per action folder, the CLI and a package.json marking them as ESM', () => {
    expect(listFiles(first).sort()).toEqual(
      [...actionNames().map((n) => `${n}/index.js`), 'cli/index.js', 'package.json'].sort(),
    );
    expect(JSON.parse(readFileSync(path.join(first, 'package.json'), 'utf8'))).toEqual({ type: 'module' });
  });

  it('is reproducible: two builds give identical bytes, and stale files vanish', () => {
    expect(listFiles(second).sort()).toEqual(listFiles(first).sort());
    for (const file of listFiles(first)) {
      expect(readFileSync(path.join(second, file)).equals(readFileSync(path.join(first, file))), file).toBe(
        true,
      );
    }
  });

  it('writes no absolute path of the build machine into the bundles', () => {
    for (const file of listFiles(first)) {
      const text = readFileSync(path.join(first, file), 'utf8');
      expect(text.includes(repoRoot), file).toBe(false);
      expect(text.includes(root), file).toBe(false);
    }
  });

  it('keeps onnxruntime-node out of the bundles, loaded only by a dynamic import', () => {
    const inspect = readFileSync(path.join(first, 'inspect/index.js'), 'utf8');
    expect(inspect).toMatch(/import\(["']onnxruntime-node["']\)/);
    expect(inspect).not.toMatch(/from ["']onnxruntime-node["']/);
    expect(inspect).not.toContain('../bin/napi-v6/');
  });

  it('defines require, __filename and __dirname for the CommonJS dependencies it bundles', () => {
    const cli = readFileSync(path.join(first, 'cli/index.js'), 'utf8');
    expect(cli.split('\n').slice(0, 6).join('\n')).toContain(
      'const require = __slmopsCreateRequire(import.meta.url);',
    );
  });

  it('ships the committed bundles in dist/ when they exist (checked fresh by .ci/run)', () => {
    if (!existsSync(path.join(repoRoot, 'dist'))) return;
    for (const name of actionNames()) {
      expect(existsSync(path.join(repoRoot, 'dist', name, 'index.js')), name).toBe(true);
    }
  });
});
