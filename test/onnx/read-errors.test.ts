import { copyFileSync, mkdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExternalDataError, ModelFormatError, UnsafePathError } from '../../src/errors.ts';
import { encodeModelProto } from '../../src/onnx/proto.ts';
import { readModel } from '../../src/onnx/read.ts';
import { fixtureModel, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

function write(name: string, bytes: Uint8Array | string): string {
  const path = join(tmp.path, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return path;
}

/** A copy of the external-data fixture in its own folder, with the first tensor's location replaced. */
function externalCopy(folder: string, location?: string): string {
  const dir = join(tmp.path, folder);
  mkdirSync(dir, { recursive: true });
  copyFileSync(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx.data'), join(dir, 'model.onnx.data'));
  const model = readModel(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'));
  if (location !== undefined) {
    const first = model.proto.graph!.initializer.find((t) => t.externalData.length)!;
    first.externalData = first.externalData.map((e) =>
      e.key === 'location' ? { key: 'location', value: location } : e,
    );
  }
  writeFileSync(join(dir, 'model.onnx'), encodeModelProto(model.proto));
  return join(dir, 'model.onnx');
}

describe('reading a model that is not a whole ONNX file', () => {
  const original = readFileSync(fixtureModel('digits-cnn'));

  it('calls a file cut in half truncated and names it', () => {
    const path = write('half.onnx', original.subarray(0, original.length / 2));
    expect(() => readModel(path)).toThrowError(ModelFormatError);
    expect(() => readModel(path)).toThrowError(/half\.onnx: the file is truncated.*Re-export/);
  });

  it('refuses a file cut at any of many points without crashing', () => {
    for (const fraction of [0.01, 0.1, 0.33, 0.77, 0.99]) {
      const path = write(
        `cut-${fraction}.onnx`,
        original.subarray(0, Math.floor(original.length * fraction)),
      );
      expect(() => readModel(path), `cut at ${fraction}`).toThrowError(ModelFormatError);
    }
  });

  it('says a JSON file is JSON text, not an ONNX model', () => {
    const path = write('config.onnx', '{"model_type": "gpt2"}');
    expect(() => readModel(path)).toThrowError(/not an ONNX model: the file is JSON text/);
  });

  it('tells a Git LFS pointer to check out with LFS', () => {
    const path = write('lfs.onnx', 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n');
    expect(() => readModel(path)).toThrowError(/Git LFS pointer.*git lfs pull/);
  });

  it('refuses random bytes as not a protobuf model', () => {
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 251);
    expect(() => readModel(write('random.onnx', bytes))).toThrowError(ModelFormatError);
  });

  it('refuses an empty file, a missing file and a folder with the fix', () => {
    expect(() => readModel(write('empty.onnx', ''))).toThrowError(/the file is empty/);
    expect(() => readModel(join(tmp.path, 'absent.onnx'))).toThrowError(/absent\.onnx: no such file/);
    expect(() => readModel(tmp.path)).toThrowError(/is a folder.*\.onnx file inside it/);
  });
});

describe('reading a model with external data', () => {
  it('reads the tensors of an intact copy lazily and correctly', () => {
    const model = readModel(externalCopy('intact'));
    const inline = readModel(fixtureModel('tiny-shakespeare-lm'));
    const name = model.proto.graph!.initializer.find((t) => model.isExternal(t))!.name;
    const a = model.tensorFloat32(model.proto.graph!.initializer.find((t) => t.name === name)!);
    const b = inline.tensorFloat32(inline.proto.graph!.initializer.find((t) => t.name === name)!);
    expect(a.length).toBeGreaterThan(1000);
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('names the missing data file and where it must be', () => {
    const path = externalCopy('missing');
    const lone = join(tmp.path, 'lone');
    mkdirSync(lone);
    copyFileSync(path, join(lone, 'model.onnx'));
    expect(() => readModel(join(lone, 'model.onnx'))).toThrowError(ExternalDataError);
    expect(() => readModel(join(lone, 'model.onnx'))).toThrowError(
      /"model\.onnx\.data" of tensor ".*" is missing\. Put "model\.onnx\.data" next to the model/,
    );
  });

  it('refuses offsets and lengths past the end of the data file', () => {
    const path = externalCopy('short');
    truncateSync(join(path, '..', 'model.onnx.data'), 100_000);
    expect(() => readModel(path)).toThrowError(
      /needs bytes \d+\.\.\d+ of "model\.onnx\.data", but that file has only 100000 bytes/,
    );
  });

  it('refuses a location that climbs out of the model folder', () => {
    expect(() => readModel(externalCopy('escape', '../model.onnx.data'))).toThrowError(UnsafePathError);
    expect(() => readModel(externalCopy('escape2', 'sub/../../x.data'))).toThrowError(
      /escapes the model's folder/,
    );
  });

  it('refuses an absolute location', () => {
    expect(() => readModel(externalCopy('absolute', '/etc/passwd'))).toThrowError(/absolute or empty/);
  });

  it('refuses a symbolic link that leads out of the model folder', () => {
    const outside = join(tmp.path, 'outside.data');
    copyFileSync(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx.data'), outside);
    const path = externalCopy('symlink', 'linked.data');
    symlinkSync(outside, join(path, '..', 'linked.data'));
    expect(() => readModel(path)).toThrowError(/symbolic link that leads out/);
  });
});
