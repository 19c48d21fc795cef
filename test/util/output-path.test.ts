import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOutputFile, checkOutputFolder } from '../../src/util/output-path.ts';
import { tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

describe('output paths checked before long work', () => {
  const folder = join(tmp.path, 'folder');
  const file = join(tmp.path, 'file.json');
  mkdirSync(folder);
  writeFileSync(file, '{}');

  it('takes a new or existing file, in folders that exist or can be made', () => {
    expect(() => checkOutputFile(file, '--out')).not.toThrow();
    expect(() => checkOutputFile(join(tmp.path, 'new', 'deeper', 'r.json'), '--out')).not.toThrow();
    expect(() => checkOutputFolder(folder, '--out-dir')).not.toThrow();
    expect(() => checkOutputFolder(join(tmp.path, 'new-folder', 'x'), '--out-dir')).not.toThrow();
  });

  it('names a folder given as a file, a file given as a folder, and a file standing where a folder should be', () => {
    expect(() => checkOutputFile(folder, '--out')).toThrowError(
      /--out: .*folder is a folder; it takes a file name/,
    );
    expect(() => checkOutputFolder(file, '--out-dir')).toThrowError(
      /--out-dir: .*file\.json is a file; it takes a folder/,
    );
    expect(() => checkOutputFile(join(file, 'r.json'), '--out')).toThrowError(
      /file\.json is a file, so .* cannot be created below it/,
    );
    expect(() => checkOutputFolder(join(file, 'sub', 'dir'), '--out-dir')).toThrowError(/is a file, so/);
  });
});
