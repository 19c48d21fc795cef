import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assetNameFor, identityOf } from '../../src/publish/bundle.ts';
import { isSafeBundlePath, parseManifest } from '../../src/publish/manifest.ts';
import { fixturesDir } from '../helpers/fixtures.ts';

const examplePath = join(fixturesDir, '..', '..', 'schemas', 'examples', 'manifest.example.json');
const example = () => JSON.parse(readFileSync(examplePath, 'utf8'));

describe('manifest.json', () => {
  it('reads the schema example, whose identity matches its files', () => {
    const manifest = parseManifest(readFileSync(examplePath), 'example');
    expect(manifest.identity).toBe(identityOf(manifest.files));
  });

  it('leaves extra files out of the identity and does not depend on the order of the list', () => {
    const files = [
      { path: 'b/model.onnx', sha256: 'b'.repeat(64), kind: 'model' },
      { path: 'a/model.onnx', sha256: 'a'.repeat(64), kind: 'model' },
    ];
    const withExtra = [...files, { path: 'README.md', sha256: 'c'.repeat(64), kind: 'extra' }];
    expect(identityOf(withExtra)).toBe(identityOf([...files].reverse()));
  });

  it.each([
    [
      'an edited digest',
      (m: { files: { sha256: string }[] }) => {
        (m.files[0] as { sha256: string }).sha256 = 'f'.repeat(64);
      },
      'its identity does not match the files it lists',
    ],
    [
      'a path with ..',
      (m: { files: { path: string }[] }) => {
        (m.files[0] as { path: string }).path = '../model.onnx';
      },
      'holds the unsafe path "../model.onnx"',
    ],
    [
      'a path listed twice',
      (m: { files: { path: string }[] }) => {
        (m.files[1] as { path: string }).path = (m.files[0] as { path: string }).path;
      },
      'lists tiny-lm@int4_block=32,sym,acc=0~a424c976f7/model.onnx twice',
    ],
    [
      'a path that is also the folder of another',
      (m: { files: { path: string }[] }) => {
        const model = (m.files[0] as { path: string }).path;
        (m.files[1] as { path: string }).path = model.slice(0, model.lastIndexOf('/'));
      },
      'lists tiny-lm@int4_block=32,sym,acc=0~a424c976f7 as a file and as the folder of tiny-lm@int4_block=32,sym,acc=0~a424c976f7/model.onnx',
    ],
    [
      'parts that do not add up',
      (m: { files: { parts?: { bytes: number }[] }[] }) => {
        ((m.files[1]?.parts ?? [])[1] as { bytes: number }).bytes = 1;
      },
      'add up to 2000000001 bytes, not 3000000000',
    ],
  ] as const)('refuses %s', (_name, edit, message) => {
    const manifest = example();
    edit(manifest);
    expect(() => parseManifest(JSON.stringify(manifest), 'm.json')).toThrow(message);
  });

  it.each(['a/b.onnx', 'model.onnx', 'x@int4:block=32/model.onnx'.replace(':', '_')])(
    'accepts the path %s',
    (p) => {
      expect(isSafeBundlePath(p)).toBe(true);
    },
  );

  it.each(['', '/abs', '../x', 'a/../x', 'a//b', './a', 'a\\b', 'C:/x', 'a/\u0000b', 'trailing/'])(
    'refuses the path %j',
    (p) => {
      expect(isSafeBundlePath(p)).toBe(false);
    },
  );

  it('names assets as GitHub would keep them: no folder separators or characters it renames', () => {
    expect(assetNameFor('tiny-lm@int4:block=32,sym~ab/model.onnx.data')).toBe(
      'tiny-lm@int4.block.32.sym.ab--model.onnx.data',
    );
    expect(assetNameFor('.hidden/x')).toBe('hidden--x');
  });
});
