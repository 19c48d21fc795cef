import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { floatTensor } from '../../src/compress/graph.ts';
import { UnsafePathError } from '../../src/errors.ts';
import { readModel } from '../../src/onnx/read.ts';
import { DataFileWriter, writeModel } from '../../src/onnx/write.ts';
import { sha256File } from '../../src/util/hash.ts';
import { fixtureModel, sameBytes, tempDir } from '../helpers/fixtures.ts';

const tmp = tempDir();
afterAll(() => tmp.remove());

function folder(name: string): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('writing a model with external data', () => {
  it('moves tensors of at least the threshold to one data file, at aligned offsets, and keeps small ones inline', () => {
    const dir = folder('aligned');
    const written = writeModel(readModel(fixtureModel('tiny-shakespeare-lm')), join(dir, 'model.onnx'), {
      externalData: true,
      threshold: 1024,
    });
    expect(written.dataFile?.location).toBe('model.onnx.data');
    const model = readModel(written.path);
    let external = 0;
    for (const tensor of model.proto.graph!.initializer) {
      const ref = model.externalRef(tensor);
      if (!ref) continue;
      external += 1;
      expect(ref.offset % (ref.length >= 65536 ? 4096 : 16)).toBe(0);
    }
    expect(external).toBe(27); // the same 27 tensors of >= 1024 bytes the onnx package moved
  });

  it('switches to external data by itself when the tensors pass the inline limit', () => {
    const dir = folder('auto');
    const written = writeModel(readModel(fixtureModel('digits-cnn')), join(dir, 'model.onnx'), {
      inlineLimitBytes: 100_000,
    });
    expect(written.dataFile?.bytes).toBeGreaterThan(100_000);
    expect(readModel(written.path).externalFiles()).toHaveLength(1);
  });

  it('keeps external data when the source had it, and inlines it when asked', () => {
    const source = readModel(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'));
    expect(writeModel(source, join(folder('keep'), 'm.onnx')).dataFile?.location).toBe('m.onnx.data');
    const inlined = writeModel(source, join(folder('inline'), 'm.onnx'), { externalData: false });
    expect(inlined.dataFile).toBeUndefined();
    expect(readModel(inlined.path).externalFiles()).toEqual([]);
    // The source model is unchanged by either write.
    expect(source.externalFiles()[0]?.tensors).toBe(27);
  });

  it('refuses a data location outside the output folder and leaves nothing behind', () => {
    const dir = folder('escape');
    expect(() =>
      writeModel(readModel(fixtureModel('digits-cnn')), join(dir, 'model.onnx'), {
        externalData: true,
        location: '../x.data',
      }),
    ).toThrowError(UnsafePathError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves no partial output when writing fails, and keeps an existing file intact', () => {
    const dir = folder('fail');
    const target = join(dir, 'model.onnx');
    writeFileSync(target, 'previous');
    const model = readModel(fixtureModel('digits-cnn'));
    const tensor = model.proto.graph!.initializer[0]!;
    const saved = tensor.rawData;
    tensor.rawData = new Uint8Array(3); // too short for its dims: reading its values fails mid-write
    try {
      expect(() => writeModel(model, target, { externalData: true, threshold: 1 })).toThrowError();
    } finally {
      tensor.rawData = saved;
    }
    expect(readdirSync(dir)).toEqual(['model.onnx']);
  });
});

describe('writing a data file while the model is built (DataFileWriter)', () => {
  it('keeps tensors placed early where they are, appends the rest, and reports the digests of what it wrote', async () => {
    const dir = folder('streamed');
    const model = readModel(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'));
    const reference = readModel(fixtureModel('tiny-shakespeare-lm', 'external/model.onnx'));
    const writer = new DataFileWriter(join(dir, 'model.onnx.data'), 'model.onnx.data');
    const initializers = model.proto.graph!.initializer;
    // A new inline tensor placed now, then the source's external tensors except the first, then the model.
    const values = Float32Array.from({ length: 600 }, (_, i) => i / 7);
    const extra = floatTensor('extra', [600], values);
    initializers.push(extra);
    writer.place(model, extra);
    expect(extra.rawData).toHaveLength(0);
    expect(model.externalRef(extra)?.offset).toBe(0);
    const first = initializers.find((t) => model.externalRef(t))!;
    await writer.placeExternal(model, (t) => t !== first);
    const written = writeModel(model, join(dir, 'model.onnx'), { dataFile: writer });

    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'model.onnx.data']);
    expect(written.sha256).toBe(await sha256File(written.path));
    expect(written.dataFile!.sha256).toBe(await sha256File(join(dir, 'model.onnx.data')));
    expect(written.dataFile!.bytes).toBe(statSync(join(dir, 'model.onnx.data')).size);
    const back = readModel(written.path);
    const byName = new Map(back.proto.graph!.initializer.map((t) => [t.name, t]));
    expect(sameBytes(back.tensorFloat32(byName.get('extra')!), values)).toBe(true);
    for (const t of reference.proto.graph!.initializer) {
      const ref = back.externalRef(byName.get(t.name)!);
      if (ref) expect(ref.offset % (ref.length >= 65536 ? 4096 : 16)).toBe(0);
      expect(sameBytes(back.tensorBytes(byName.get(t.name)!), reference.tensorBytes(t))).toBe(true);
    }
  });

  it('removes its temporary file when discarded or when writing the model fails', () => {
    const dir = folder('streamed-fail');
    const model = readModel(fixtureModel('digits-cnn'));
    const writer = new DataFileWriter(join(dir, 'model.onnx.data'), 'model.onnx.data', { threshold: 1 });
    writer.place(model, model.proto.graph!.initializer[0]!);
    expect(readdirSync(dir)).toHaveLength(1);
    const tensor = model.proto.graph!.initializer[1]!;
    tensor.rawData = new Uint8Array(3);
    expect(() => writeModel(model, join(dir, 'model.onnx'), { dataFile: writer })).toThrowError();
    expect(readdirSync(dir)).toEqual([]);
    const other = new DataFileWriter(join(dir, 'other.data'), 'other.data');
    other.discard();
    expect(readdirSync(dir)).toEqual([]);
  });
});
