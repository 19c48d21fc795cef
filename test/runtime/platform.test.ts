import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../src/errors.ts';
import { LOCKED_RUNTIME } from '../../src/runtime/lock.generated.ts';
import { currentHost, resolvePlatform } from '../../src/runtime/platform.ts';

const shipped = ['darwin/arm64', 'linux/arm64', 'linux/x64', 'win32/arm64', 'win32/x64'];

describe('resolvePlatform', () => {
  it.each([
    [{ platform: 'linux', arch: 'x64', glibc: '2.35' }, 'linux-x64'],
    [{ platform: 'linux', arch: 'arm64', glibc: '2.36' }, 'linux-arm64'],
    [{ platform: 'darwin', arch: 'arm64' }, 'darwin-arm64'],
    [{ platform: 'win32', arch: 'x64' }, 'win32-x64'],
  ])('accepts %o as %s', (host, key) => {
    expect(resolvePlatform(host, shipped, '1.30.0').key).toBe(key);
  });

  it('refuses a platform the package has no binaries for, listing those it ships', () => {
    const error = (() => {
      try {
        resolvePlatform({ platform: 'darwin', arch: 'x64' }, shipped, '1.30.0');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toBe(
      'onnxruntime: onnxruntime-node 1.30.0 ships no binaries for darwin/x64; it ships darwin/arm64, linux/arm64, ' +
        'linux/x64, win32/arm64, win32/x64. Run this step on one of: darwin/arm64, linux/arm64, linux/x64, ' +
        'win32/arm64, win32/x64',
    );
  });

  it('refuses a musl Linux (Alpine), whose libc the binaries do not link against', () => {
    expect(() =>
      resolvePlatform({ platform: 'linux', arch: 'x64', glibc: undefined }, shipped, '1.30.0'),
    ).toThrow(/uses musl.*glibc-based image/);
  });

  it('accepts this development machine with the platforms of the locked package', () => {
    expect(resolvePlatform(currentHost(), LOCKED_RUNTIME.platforms, '1.30.0').key).toBe(
      `${process.platform}-${process.arch}`,
    );
  });
});
