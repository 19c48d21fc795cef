import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOCKED_RUNTIME } from '../../src/runtime/lock.generated.ts';
import { packFileName } from '../../src/runtime/lock.ts';
import { loadBuildScript, repoRoot } from '../harness/prepare.ts';

const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8'));

describe('the locked runtime inlined into the bundles', () => {
  it.each(LOCKED_RUNTIME.packages.map((p) => [p.name, p] as const))(
    'has the version and integrity package-lock.json holds for %s',
    (name, pkg) => {
      const entry = lock.packages[`node_modules/${name}`];
      expect(pkg.version).toBe(entry.version);
      expect(pkg.integrity).toBe(entry.integrity);
      expect(pkg.tarball).toBe(`${name}/-/${packFileName(pkg)}`);
    },
  );

  it('lists onnxruntime-node first and the onnxruntime-common version it depends on', () => {
    expect(LOCKED_RUNTIME.packages.map((p) => p.name)).toEqual(['onnxruntime-node', 'onnxruntime-common']);
    const node = lock.packages['node_modules/onnxruntime-node'];
    expect(node.dependencies['onnxruntime-common']).toBe(LOCKED_RUNTIME.packages[1]?.version);
  });

  it('is what the build script generates now (src/runtime/lock.generated.ts is fresh)', async () => {
    const { renderLockModule } = (await loadBuildScript()) as unknown as { renderLockModule(): string };
    expect(readFileSync(path.join(repoRoot, 'src/runtime/lock.generated.ts'), 'utf8')).toBe(
      renderLockModule(),
    );
  });

  it('names the npm pack file of scoped and unscoped packages', () => {
    expect(packFileName({ name: 'onnxruntime-node', version: '1.30.0' })).toBe('onnxruntime-node-1.30.0.tgz');
    expect(packFileName({ name: '@scope/pkg', version: '1.0.0' })).toBe('scope-pkg-1.0.0.tgz');
  });
});
