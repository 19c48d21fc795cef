/**
 * What the runner-style harness needs once per test run: the bundles built fresh from the sources, and the
 * onnxruntime tarballs an offline runner would be given (SLMOPS_RUNTIME_TARBALLS).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LOCKED_RUNTIME } from '../../src/runtime/lock.generated.ts';
import { packFileName } from '../../src/runtime/lock.ts';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

/** What the global setup provides to the test files (vitest `provide`/`inject`). */
export interface HarnessContext {
  /** A freshly built `dist/` (the repository's own dist is never used by tests). */
  readonly distDir: string;
  /** Folder of `npm pack` tarballs of the locked onnxruntime packages. */
  readonly tarballsDir: string;
  /** A tool cache shared by the run, so the runtime installs once. */
  readonly toolCache: string;
  /** The root of the temporary folders above, removed after the run. */
  readonly tempRoot: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    slmopsHarness: HarnessContext;
  }
}

interface BuildModule {
  build(options: {
    outDir: string;
    generateLock?: boolean;
  }): Promise<{ files: { file: string; bytes: number }[] }>;
}

/** scripts/build.mjs, loaded by URL (it is plain JavaScript without type declarations). */
export async function loadBuildScript(): Promise<BuildModule> {
  return (await import(pathToFileURL(path.join(repoRoot, 'scripts/build.mjs')).href)) as BuildModule;
}

/** Builds every bundle from the sources into `outDir` (without regenerating src/runtime/lock.generated.ts). */
export async function buildInto(outDir: string): Promise<void> {
  const { build } = await loadBuildScript();
  await build({ outDir, generateLock: false });
}

/**
 * The folder of runtime tarballs, made with `npm pack --ignore-scripts` from ./node_modules once per machine and
 * cached under `.tmp/runtime-tarballs/<version>/` (packing the 288 MB onnxruntime-node takes ~20 s).
 */
export async function runtimeTarballs(log: (message: string) => void = () => {}): Promise<string> {
  const version = LOCKED_RUNTIME.packages[0]?.version ?? 'unknown';
  const dir = path.join(repoRoot, '.tmp', 'runtime-tarballs', version);
  const missing = LOCKED_RUNTIME.packages.filter((p) => !existsSync(path.join(dir, packFileName(p))));
  if (missing.length === 0) return dir;

  await mkdir(dir, { recursive: true });
  const temp = await mkdtemp(path.join(dir, '.pack-'));
  try {
    const started = performance.now();
    await promisify(execFile)(
      'npm',
      [
        'pack',
        '--ignore-scripts',
        '--silent',
        '--pack-destination',
        temp,
        ...missing.map((p) => path.join(repoRoot, 'node_modules', p.name)),
      ],
      { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 },
    );
    for (const name of await readdir(temp)) await rename(path.join(temp, name), path.join(dir, name));
    log(
      `packed ${missing.map((p) => p.name).join(', ')} into ${dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
  return dir;
}

/** Builds the dist and packs the tarballs into a new temporary root. */
export async function prepareHarness(log?: (message: string) => void): Promise<HarnessContext> {
  const tempRoot = await mkdtemp(path.join(os.tmpdir(), 'slmops-harness-'));
  const distDir = path.join(tempRoot, 'dist');
  const toolCache = path.join(tempRoot, 'tool-cache');
  await mkdir(toolCache);
  const [tarballsDir] = await Promise.all([runtimeTarballs(log), buildInto(distDir)]);
  return { distDir, tarballsDir, toolCache, tempRoot };
}
