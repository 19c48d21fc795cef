/**
 * The onnxruntime-node the arm64 guest loads: a folder holding `node_modules/onnxruntime-node` with the
 * `bin/napi-v6/linux/arm64` binding. In order: `SLMOPS_GUEST_ORT_DIR`; `SLMOPS_ORT_DIR` or the installed package
 * (an npm install keeps every platform's binaries); the linux-arm64 runtime in the tool cache; else, when asked to
 * prepare, that runtime installed by the runtime installer with a linux/arm64 host (src/runtime/install.ts keeps
 * only the binaries of the platform it installs for, so the action's own x64 runtime has no arm64 binding).
 * The guest requires the package by path; nothing here loads it in this process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from '../../action-kit/logger.ts';
import { ConfigurationError } from '../../errors.ts';
import {
  COMPLETE_MARKER,
  ensureOnnxRuntime,
  runtimeDir,
  runtimeOptionsFromEnv,
} from '../../runtime/install.ts';
import { LOCKED_RUNTIME } from '../../runtime/lock.generated.ts';

export const GUEST_PLATFORM = { platform: 'linux', arch: 'arm64', key: 'linux-arm64' } as const;

/** Whether `dir/node_modules/onnxruntime-node` holds the linux/arm64 binding. */
export function hasArm64Binding(dir: string): boolean {
  const bin = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin');
  if (!existsSync(bin)) return false;
  return ['napi-v6', 'napi-v3', 'napi-v8'].some((napi) =>
    existsSync(path.join(bin, napi, 'linux', 'arm64', 'onnxruntime_binding.node')),
  );
}

/** The version of the onnxruntime-node in `dir`, or undefined. */
export function runtimeVersion(dir: string): string | undefined {
  try {
    const file = path.join(dir, 'node_modules', 'onnxruntime-node', 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The folder whose node_modules holds the onnxruntime-node this module would resolve, if any. */
function installedPackageRoot(): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return path.resolve(path.dirname(manifest), '..', '..');
  } catch {
    return undefined;
  }
}

export interface GuestRuntimeOptions {
  env?: NodeJS.ProcessEnv;
  /** Install the linux-arm64 runtime into the tool cache when no folder has it. */
  prepare?: boolean;
  log: Logger;
}

export type GuestRuntime =
  | { found: true; dir: string; version?: string }
  | { found: false; reason: string; hint: string };

export const GUEST_RUNTIME_HINT =
  'Run `slmops functional --prepare` (it installs the locked onnxruntime-node for linux/arm64 into the tool cache), ' +
  'run from a folder where `npm install` put onnxruntime-node (its package ships the linux/arm64 binaries), ' +
  'or set SLMOPS_GUEST_ORT_DIR to a folder whose node_modules/onnxruntime-node has bin/napi-v6/linux/arm64';

/** Finds (or, with `prepare`, installs) the guest's onnxruntime-node. */
export async function resolveGuestRuntime(options: GuestRuntimeOptions): Promise<GuestRuntime> {
  const env = options.env ?? process.env;
  const explicit = env.SLMOPS_GUEST_ORT_DIR;
  if (explicit) {
    if (!hasArm64Binding(explicit)) {
      throw new ConfigurationError(
        `${explicit} has no node_modules/onnxruntime-node with the linux/arm64 binding`,
        { subject: 'SLMOPS_GUEST_ORT_DIR', fix: GUEST_RUNTIME_HINT },
      );
    }
    return found(explicit);
  }
  const toolCache = runtimeOptionsFromEnv(env, options.log).toolCache;
  const cached = runtimeDir(toolCache, LOCKED_RUNTIME, GUEST_PLATFORM);
  const candidates = [
    env.SLMOPS_ORT_DIR,
    installedPackageRoot(),
    existsSync(path.join(cached, COMPLETE_MARKER)) ? cached : undefined,
  ];
  for (const dir of candidates) if (dir && hasArm64Binding(dir)) return found(dir);
  if (!options.prepare) {
    return {
      found: false,
      reason: 'no onnxruntime-node with the linux/arm64 binding',
      hint: GUEST_RUNTIME_HINT,
    };
  }
  const dir = await ensureOnnxRuntime({
    ...runtimeOptionsFromEnv(env, options.log),
    host: { platform: 'linux', arch: 'arm64', glibc: 'guest' },
    // The guest's runtime must not replace this process's SLMOPS_ORT_DIR (the x86-64 one).
    env: {},
  });
  return found(dir);
}

function found(dir: string): GuestRuntime {
  const version = runtimeVersion(dir);
  return { found: true, dir, ...(version ? { version } : {}) };
}
