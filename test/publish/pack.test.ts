/**
 * slmops pack: the bundle's files and manifest, reproducibility (same bytes whatever the files' times, modes and
 * owners), the tar entries' metadata, SOURCE_DATE_EPOCH, results.json outside the identity, extra files, parts.
 */
import { chmodSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/publish/manifest.ts';
import { packBundle } from '../../src/publish/pack.ts';
import { tempDir } from '../helpers/fixtures.ts';
import {
  COMMIT,
  DIGITS_VARIANT,
  NESTED_VARIANT,
  resultsFolder,
  sha256,
  tagEnv,
  variantsFolder,
} from './helpers.ts';

const tmp = tempDir('slmops-pack-');
afterAll(() => tmp.remove());
let n = 0;
const scratch = () => {
  const dir = join(tmp.path, `case-${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};

interface RawEntry {
  type: string;
  path: string;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  uname: string | undefined;
  mtime: Date | undefined;
  size: number;
  body: Buffer;
}

/** Every header of a tar (pax headers included), read block by block. */
function rawEntries(tarGz: Buffer): RawEntry[] {
  const tar = gunzipSync(tarGz);
  const out: RawEntry[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const block = tar.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    const h = new Header(block);
    const size = h.size ?? 0;
    out.push({
      type: h.type,
      path: h.path ?? '',
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      uname: h.uname,
      mtime: h.mtime,
      size,
      body: tar.subarray(off + 512, off + 512 + size),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('slmops pack', () => {
  it('bundles every model with its external data and a manifest listing each file with its sha256 and size', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const { prepared, archive } = await packBundle({
      dir,
      out: join(root, 'bundle.tar.gz'),
      env: tagEnv('v1.2.0'),
    });

    const m = prepared.manifest;
    expect(m).toMatchObject({
      schema: 'slmops.manifest/v1',
      name: 'digits',
      version: '1.2.0',
      createdAt: '2026-11-29T12:00:00Z',
    });
    expect(m.source).toEqual({ repository: 'octo-org/edge-models', commit: COMMIT, ref: 'refs/tags/v1.2.0' });
    expect(m.files.map((f) => [f.path, f.kind])).toEqual([
      ['digits@fp16/model.onnx', 'model'],
      ['digits@fp16/weights/data.bin', 'data'],
      ['digits@fp16/weights/extra.bin', 'data'],
      ['digits@int8/model.onnx', 'model'],
    ]);
    for (const f of m.files) {
      const bytes = readFileSync(join(dir, f.path));
      expect(f.sha256).toBe(sha256(bytes));
      expect(f.bytes).toBe(bytes.length);
    }
    expect(m.variants).toEqual([
      {
        id: NESTED_VARIANT,
        path: 'digits@fp16/model.onnx',
        data: ['digits@fp16/weights/data.bin', 'digits@fp16/weights/extra.bin'],
        recipe: { spec: 'fp16', passes: [{ pass: 'fp16', options: {} }] },
      },
      {
        id: DIGITS_VARIANT,
        path: 'digits@int8/model.onnx',
        recipe: { spec: 'int8', passes: [{ pass: 'int8', options: {} }] },
      },
    ]);
    expect(m.tools.slmops).toMatch(/^\d+\.\d+\.\d+/);

    const entries = rawEntries(readFileSync(archive.path));
    expect(entries.map((e) => e.path)).toEqual(['manifest.json', ...m.files.map((f) => f.path)]);
    expect(parseManifest(entries[0]?.body as Buffer, 'bundle').identity).toBe(m.identity);
    expect(archive.sha256).toBe(sha256(readFileSync(archive.path)));
  });

  it('writes the same bytes for the same files, whatever their times, modes and the time of packing', async () => {
    const root = scratch();
    const a = variantsFolder(root, 'a');
    const b = variantsFolder(root, 'b');
    utimesSync(join(b, 'digits@int8', 'model.onnx'), new Date('2001-01-01'), new Date('2001-01-01'));
    chmodSync(join(b, 'digits@fp16', 'weights', 'data.bin'), 0o600);
    chmodSync(join(b, 'digits@int8', 'model.onnx'), 0o755);

    const first = await packBundle({ dir: a, out: join(root, 'a.tar.gz'), env: tagEnv('v1.0.0') });
    await new Promise((r) => setTimeout(r, 1100));
    const second = await packBundle({ dir: b, out: join(root, 'b.tar.gz'), env: tagEnv('v1.0.0') });

    expect(second.archive.sha256).toBe(first.archive.sha256);
    expect(readFileSync(second.archive.path).equals(readFileSync(first.archive.path))).toBe(true);
    expect(second.prepared.manifestBytes.equals(first.prepared.manifestBytes)).toBe(true);
  });

  it('gives every entry mode 0644, owner 0/0, no user names and the commit time, and no directory entries', async () => {
    const root = scratch();
    const { archive } = await packBundle({
      dir: variantsFolder(root),
      out: join(root, 'x.tar.gz'),
      env: tagEnv(),
    });
    for (const e of rawEntries(readFileSync(archive.path))) {
      expect(e.type).toBe('File');
      expect(e).toMatchObject({ mode: 0o644, uid: 0, gid: 0, uname: '' });
      expect(e.mtime?.toISOString()).toBe('2026-11-29T12:00:00.000Z');
    }
  });

  it('writes a pax header for a long path holding the path only, never a time', async () => {
    const root = scratch();
    const dir = join(root, 'long');
    const folder = join(dir, `${'v'.repeat(160)}@int8`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(
      join(folder, 'model.onnx'),
      readFileSync(join(variantsFolder(root), 'digits@int8', 'model.onnx')),
    );
    const { archive } = await packBundle({ dir, out: join(root, 'long.tar.gz'), env: tagEnv(), name: 'v' });
    const entries = rawEntries(readFileSync(archive.path));
    const pax = entries.filter((e) => e.type === 'ExtendedHeader');
    expect(pax).toHaveLength(1);
    const body = pax[0]?.body.toString('utf8') ?? '';
    expect(body).toMatch(/^\d+ path=v{160}@int8\/model\.onnx\n$/);
    expect(body).not.toMatch(/time/);
  });

  it('takes createdAt from SOURCE_DATE_EPOCH', async () => {
    const root = scratch();
    const { prepared } = await packBundle({
      dir: variantsFolder(root),
      out: join(root, 'x.tar.gz'),
      env: tagEnv('v1.0.0', { SOURCE_DATE_EPOCH: '1700000000' }),
    });
    expect(prepared.manifest.createdAt).toBe('2023-11-14T22:13:20Z');
  });

  it('refuses a SOURCE_DATE_EPOCH that is not a number of seconds, naming it', async () => {
    const root = scratch();
    await expect(
      packBundle({
        dir: variantsFolder(root),
        out: join(root, 'x.tar.gz'),
        env: tagEnv('v1.0.0', { SOURCE_DATE_EPOCH: 'yesterday' }),
      }),
    ).rejects.toThrow(/^SOURCE_DATE_EPOCH: 'yesterday' is not a number of seconds/);
  });

  it('keeps measured results in results.json, outside the identity', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const plain = await packBundle({ dir, out: join(root, 'plain.tar.gz'), env: tagEnv() });
    const measured = await packBundle({
      dir,
      out: join(root, 'm', 'measured.tar.gz'),
      env: tagEnv(),
      results: [resultsFolder(root, dir)],
    });

    expect(measured.prepared.manifest.identity).toBe(plain.prepared.manifest.identity);
    expect(measured.archive.sha256).toBe(plain.archive.sha256);
    expect(measured.resultsPath).toBe(join(root, 'm', 'results.json'));
    const results = JSON.parse(readFileSync(measured.resultsPath as string, 'utf8'));
    expect(results).toMatchObject({
      schema: 'slmops.results/v1',
      name: 'digits',
      identity: plain.prepared.manifest.identity,
    });
    expect(results.bench).toHaveLength(3);
    expect(results.verdict.overall).toBe('fail');
  });

  it('adds extra files, which change neither the identity nor the model list', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    writeFileSync(join(dir, 'tokenizer.json'), '{"vocab": {}}\n');
    const card = join(root, 'MODEL_CARD.md');
    writeFileSync(card, '# digits\n');
    const plain = await packBundle({ dir, out: join(root, 'p.tar.gz'), env: tagEnv() });
    const extra = await packBundle({
      dir,
      out: join(root, 'e.tar.gz'),
      env: tagEnv(),
      include: ['tokenizer.json', card],
    });
    const extras = extra.prepared.manifest.files.filter((f) => f.kind === 'extra').map((f) => f.path);
    expect(extras).toEqual(['MODEL_CARD.md', 'tokenizer.json']);
    expect(extra.prepared.manifest.identity).toBe(plain.prepared.manifest.identity);
  });

  it('changes the identity when a model file changes', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const before = await packBundle({ dir, out: join(root, 'a.tar.gz'), env: tagEnv() });
    const data = join(dir, 'digits@fp16', 'weights', 'extra.bin');
    const bytes = readFileSync(data);
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    writeFileSync(data, bytes);
    const after = await packBundle({ dir, out: join(root, 'b.tar.gz'), env: tagEnv() });
    expect(after.prepared.manifest.identity).not.toBe(before.prepared.manifest.identity);
  });

  it('splits files larger than the part size into parts whose digests the manifest lists', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const { prepared } = await packBundle({
      dir,
      out: join(root, 'x.tar.gz'),
      env: tagEnv(),
      partBytes: 64 * 1024,
    });
    const big = prepared.manifest.files.find((f) => f.path === 'digits@int8/model.onnx');
    const bytes = readFileSync(join(dir, 'digits@int8', 'model.onnx'));
    expect(big?.parts?.map((p) => p.name)).toEqual([
      'digits@int8--model.onnx.part-001',
      'digits@int8--model.onnx.part-002',
      'digits@int8--model.onnx.part-003',
    ]);
    let offset = 0;
    for (const part of big?.parts ?? []) {
      expect(part.sha256).toBe(sha256(bytes.subarray(offset, offset + part.bytes)));
      offset += part.bytes;
    }
    expect(offset).toBe(bytes.length);
  });

  it('uses the pushed <model>@v tag, and refuses a version tag that is not semver', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    const { prepared } = await packBundle({ dir, out: join(root, 'a.tar.gz'), env: tagEnv('digits@v2.1.0') });
    expect(prepared.manifest.version).toBe('2.1.0');
    await expect(packBundle({ dir, out: join(root, 'b.tar.gz'), env: tagEnv('v2.1') })).rejects.toThrow(
      'GITHUB_REF: tag v2.1 is not a semantic version',
    );
  });

  it('refuses a folder without models, naming it', async () => {
    const root = scratch();
    await expect(packBundle({ dir: root, out: join(root, 'x.tar.gz'), env: tagEnv() })).rejects.toThrow(
      `${root}: holds no .onnx model`,
    );
  });

  it('refuses to guess the source outside a checkout without GITHUB_SHA', async () => {
    const root = scratch();
    const dir = variantsFolder(root);
    await expect(
      packBundle({ dir, out: join(root, 'x.tar.gz'), env: { SOURCE_DATE_EPOCH: '1' } }),
    ).rejects.toThrow(/cannot tell which source the bundle is built from/);
  });
});
