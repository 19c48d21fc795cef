/**
 * Checks, before long work, that an output file or folder can be written where the user asked: a measurement
 * that takes minutes should not fail at its last step because `--out` names a folder.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigurationError } from '../errors.ts';

/** The nearest path at or above `path` that exists. */
function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

function checkParents(path: string, subject: string): void {
  const existing = nearestExisting(dirname(resolve(path)));
  if (!statSync(existing).isDirectory()) {
    throw new ConfigurationError(`${existing} is a file, so ${path} cannot be created below it`, {
      subject,
      fix: 'Choose a path whose parents are folders',
    });
  }
}

/** `path` can be written as a file: it is not a folder, and no file stands where one of its folders should be. */
export function checkOutputFile(path: string, subject: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new ConfigurationError(`${path} is a folder; it takes a file name`, {
      subject,
      fix: 'Give a file name, e.g. result.json (or use the folder option for several files)',
    });
  }
  checkParents(path, subject);
}

/** `path` can be used as a folder: it is one already, or it can be created. */
export function checkOutputFolder(path: string, subject: string): void {
  if (existsSync(path) && !statSync(path).isDirectory()) {
    throw new ConfigurationError(`${path} is a file; it takes a folder`, {
      subject,
      fix: 'Give a folder (it is created if missing)',
    });
  }
  checkParents(path, subject);
}
