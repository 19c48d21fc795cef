/**
 * Loads onnxruntime-node: the only place slmops imports it. In a GitHub Action the bundle carries no
 * node_modules; the runtime installer (src/runtime) puts the package in the tool cache and sets SLMOPS_ORT_DIR to
 * the folder that holds `node_modules/onnxruntime-node`. Elsewhere (CLI from npm, tests) normal resolution applies.
 */
import { createRequire } from 'node:module';
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

/** The onnxruntime-node module, loaded once. */
export function loadOnnxRuntime(): Promise<Ort> {
  cached ??= load();
  return cached;
}
