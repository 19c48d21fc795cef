/**
 * Loads onnxruntime-node: the only place slmops imports it. In a GitHub Action the bundle carries no
 * node_modules; the runtime installer (src/runtime) puts the package in the tool cache and sets SLMOPS_ORT_DIR to
 * the folder that holds `node_modules/onnxruntime-node`. Elsewhere (CLI from npm, tests) normal resolution applies.
 */
import { statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError } from '../errors.ts';

export type Ort = typeof import('onnxruntime-node');

let cached: Promise<Ort> | undefined;

async function load(): Promise<Ort> {
  const dir = process.env.SLMOPS_ORT_DIR;
  if (dir) {
    try {
      return createRequire(join(dir, 'package.json'))('onnxruntime-node') as Ort;
    } catch (error) {
      throw new ConfigurationError(`onnxruntime-node could not be loaded from ${dir}`, {
        subject: 'SLMOPS_ORT_DIR',
        fix: 'Delete that folder so the action installs the runtime again, or unset SLMOPS_ORT_DIR',
        cause: error,
      });
    }
  }
  try {
    const module = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    return module.default ?? module;
  } catch (error) {
    throw new ConfigurationError('onnxruntime-node is not installed', {
      fix: 'Run npm install in the slmops folder (the GitHub Actions install it themselves)',
      cause: error,
    });
  }
}

/**
 * onnxruntime 1.30's Linux build leaves an empty `mat-debug-<pid>.log` in the temp folder of every process that
 * creates a session; a CI runner that benches often collects thousands. Each process removes its own at exit when
 * it is still empty.
 */
function removeDebugLogAtExit(): void {
  process.once('exit', () => {
    for (const dir of new Set([tmpdir(), '/tmp'])) {
      const path = join(dir, `mat-debug-${process.pid}.log`);
      try {
        if (statSync(path).size === 0) unlinkSync(path);
      } catch {}
    }
  });
}

/** The onnxruntime-node module, loaded once. */
export function loadOnnxRuntime(): Promise<Ort> {
  if (!cached) {
    cached = load();
    removeDebugLogAtExit();
  }
  return cached;
}
