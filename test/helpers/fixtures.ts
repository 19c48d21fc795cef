import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const fixturesDir = resolve(import.meta.dirname, '..', 'fixtures');

export function fixtureModel(name: string, file = 'model.onnx'): string {
  return join(fixturesDir, 'models', name, file);
}

/** A temporary folder removed after the test file. */
export function tempDir(prefix = 'slmops-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Exact equality of two typed arrays, byte for byte. */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}
