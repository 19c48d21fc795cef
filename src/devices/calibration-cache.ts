/**
 * Calibrations cached as JSON, one file per host fingerprint key: `<dir>/<key>.json`. The folder is
 * `$RUNNER_TOOL_CACHE/slmops-calibration` on a GitHub runner (kept between jobs of a self-hosted runner), else
 * `${XDG_CACHE_HOME:-~/.cache}/slmops/calibration`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Calibration } from './calibrate.ts';

export function defaultCalibrationCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUNNER_TOOL_CACHE) return join(env.RUNNER_TOOL_CACHE, 'slmops-calibration');
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'slmops', 'calibration');
}

export interface CalibrationCache {
  readonly dir: string;
  pathOf(key: string): string;
  /** The cached calibration for `key`; undefined when there is none or the file is not a calibration. */
  read(key: string): Calibration | undefined;
  /** Stores the calibration (without its `cache` annotation), atomically; returns the path. */
  write(key: string, calibration: Calibration): string;
}

function looksLikeCalibration(value: unknown, key: string): value is Calibration {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Partial<Calibration>;
  return (
    c.fingerprintKey === key &&
    typeof c.measuredAt === 'string' &&
    typeof c.probes === 'object' &&
    c.probes !== null &&
    typeof c.threads === 'object' &&
    c.threads !== null
  );
}

export function calibrationCache(dir: string = defaultCalibrationCacheDir()): CalibrationCache {
  const pathOf = (key: string) => {
    if (!/^[0-9a-f]{8,128}$/.test(key)) throw new Error(`not a fingerprint key: ${key}`);
    return join(dir, `${key}.json`);
  };
  return {
    dir,
    pathOf,
    read(key) {
      let text: string;
      try {
        text = readFileSync(pathOf(key), 'utf8');
      } catch {
        return undefined;
      }
      try {
        const value: unknown = JSON.parse(text);
        return looksLikeCalibration(value, key) ? value : undefined;
      } catch {
        return undefined;
      }
    },
    write(key, calibration) {
      const { cache: _annotation, ...stored } = calibration;
      const path = pathOf(key);
      mkdirSync(dir, { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      writeFileSync(temporary, `${JSON.stringify(stored, null, 2)}\n`);
      renameSync(temporary, path);
      return path;
    },
  };
}
