import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  fileIntegrity,
  formatIntegrity,
  parseIntegrity,
  sameIntegrity,
} from '../../src/runtime/integrity.ts';

describe('integrity strings', () => {
  it('parse the sha512 form npm writes in package-lock.json', () => {
    expect(parseIntegrity('sha512-abc==')).toEqual({ algorithm: 'sha512', digest: 'abc==' });
  });

  it('pick the strongest of several hashes', () => {
    expect(parseIntegrity('sha1-xyz sha512-abc== sha256-def')).toEqual({
      algorithm: 'sha512',
      digest: 'abc==',
    });
  });

  it('refuse an unknown algorithm', () => {
    expect(() => parseIntegrity('md5-abc')).toThrow(/unsupported integrity string 'md5-abc'/);
  });

  it('match the sha512 of a file, as `npm pack` reports it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'slmops-integrity-'));
    try {
      const file = path.join(dir, 'x');
      writeFileSync(file, 'hello\n');
      const hash = await fileIntegrity(file);
      // printf 'hello\n' | openssl dgst -sha512 -binary | base64 -w0
      expect(formatIntegrity(hash)).toBe(
        'sha512-58IrmUxZ2c8rSOVJseJGZmNgRZMNPafBrLKZ0cO3+TH5Sq5B7dosKyB6NuEPi8uNRSI+VIePWzFufOO2vAGWKQ==',
      );
      expect(sameIntegrity(hash, parseIntegrity(formatIntegrity(hash)))).toBe(true);
      writeFileSync(file, 'hello!\n');
      expect(sameIntegrity(await fileIntegrity(file), hash)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
